import Foundation
import LannerCore
import LannerHTTP2
import LannerRules
import LannerStore
import LannerWire

/// Settings of `lanner-collector serve`.
public struct CollectorConfig: Sendable {
    public var host = "127.0.0.1"
    public var port: UInt16 = 7601
    public var databasePath = "/var/lib/lanner/lanner.db"
    /// Bearer token sensors must present.
    public var token: String
    public var rules: [CompiledRule]
    public var matching: RuleMatching = .all
    /// Batches waiting for the ingest thread before the server answers 503 (the sensor retries).
    public var queueLimit = 256
    public var maxBatchBytes = BatchDecoder.defaultMaxBatchBytes
    /// Print counters every `statsInterval` seconds (0: never).
    public var statsInterval: Double = 0
    public var log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }

    public init(token: String, rules: [CompiledRule]) {
        self.token = token
        self.rules = rules
    }
}

/// Counters of the ingest path.
public struct CollectorStats: Sendable, Equatable {
    public var batchesAccepted = 0
    public var batchesDuplicate = 0
    public var batchesRejected = 0
    public var unauthorized = 0
    public var busy = 0
    public var events = 0
    public var alerts = 0
    public var kernelDrops: UInt64 = 0
    public var userDrops: UInt64 = 0
    public var storeErrors = 0
}

/// `lanner-collector serve`: the HTTP/2 endpoint sensors post batches to, the ingest thread that
/// evaluates them, and the SQLite store alerts go to. A batch is acknowledged only after its alerts and
/// its (sensor, sequence) entry are committed in one transaction.
public final class CollectorServer: @unchecked Sendable {
    public let config: CollectorConfig
    private var server: H2Server!
    private let queue: IngestQueue
    private var ingestThread: Thread?
    private let statsLock = NSLock()
    private var stats = CollectorStats()
    private let done = DispatchSemaphore(value: 0)
    private let rejections = RateLimitedLog(interval: 10)
    private var stopped = false

    /// Opens the store (creating and migrating it) and binds the port. Call `start()` to serve.
    public init(config: CollectorConfig) throws {
        self.config = config
        queue = IngestQueue(limit: config.queueLimit)
        try Self.prepareDatabaseFile(config.databasePath)
        // Open once here so a bad path or file fails at startup, not on the first batch.
        _ = try AlertStore(path: config.databasePath)
        server = try H2Server(host: config.host, port: config.port, log: { config.log("http2: " + $0) }) { [unowned self] req, respond in
            self.handle(req, respond)
        }
    }

    public var port: UInt16 { server.boundPort }

    /// Alerts name hosts, users and command lines: the database and its directory are for the collector's user
    /// only. Creates a missing directory 0700 and a missing file 0600 (SQLite gives -wal/-shm the file's mode);
    /// refuses a directory where the file should be.
    static func prepareDatabaseFile(_ path: String) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
            if isDir.boolValue { throw CollectorError.databaseIsDirectory(path) }
            return
        }
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty && !FileManager.default.fileExists(atPath: dir) {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        if fd >= 0 { close(fd) } else if errno != EEXIST {
            throw CollectorError.cannotCreateDatabase(path, String(cString: strerror(errno)))
        }
    }

    public var currentStats: CollectorStats {
        statsLock.lock()
        defer { statsLock.unlock() }
        return stats
    }

    func bump(_ body: (inout CollectorStats) -> Void) {
        statsLock.lock()
        body(&stats)
        statsLock.unlock()
    }

    /// Starts the ingest thread and the HTTP/2 loop.
    public func start() throws {
        let ready = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: Error?
        nonisolated(unsafe) var ruleCount = 0
        let t = Thread { [unowned self] in
            // The analyzer and the store belong to this thread alone.
            let store: AlertStore
            do { store = try AlertStore(path: self.config.databasePath) } catch {
                failure = error
                ready.signal()
                self.done.signal()
                return
            }
            let analyzer = Analyzer(rules: self.config.rules, matching: self.config.matching)
            ruleCount = analyzer.ruleset.rules.count
            ready.signal()
            self.ingestLoop(analyzer: analyzer, store: store)
        }
        t.name = "lanner-ingest"
        t.stackSize = 8 << 20
        ingestThread = t
        t.start()
        ready.wait()
        if let failure { throw failure }
        try server.start()
        config.log("lanner-collector: listening on http://\(config.host.contains(":") ? "[" + config.host + "]" : config.host):\(server.boundPort) (h2c), "
                   + "\(ruleCount) rules, database \(config.databasePath)")
    }

    /// Stops accepting, finishes queued batches, closes the store.
    /// Idempotent.
    public func stop() {
        statsLock.lock()
        let first = !stopped
        stopped = true
        statsLock.unlock()
        guard first else { return }
        server.stop()
        queue.close()
        done.wait()
    }

    // MARK: - Requests (event-loop thread)

    func handle(_ req: H2Request, _ respond: @escaping H2Responder) {
        switch (req.method, req.path) {
        case ("GET", "/v1/health"):
            respond(.json(200, "{\"status\":\"ok\"}"))
        case ("POST", "/v1/batches"):
            guard authorized(req) else {
                bump { $0.unauthorized += 1 }
                let why = req.headers.contains { $0.name == "authorization" } ? "wrong bearer token" : "no bearer token"
                rejections.log("401", "lanner-collector: refused a batch from \(req.peer): \(why)", config.log)
                respond(.json(401, "{\"error\":\"missing or wrong bearer token\"}", headers: [("www-authenticate", "Bearer")]))
                return
            }
            let batch: Batch
            do {
                batch = try BatchDecoder.decode(req.body, maxBatchBytes: config.maxBatchBytes)
            } catch {
                bump { $0.batchesRejected += 1 }
                rejections.log("400", "lanner-collector: rejected batch from \(req.peer): \(error)", config.log)
                respond(.json(400, "{\"error\":\(JSON.quoted("malformed batch: \(error)"))}"))
                return
            }
            guard queue.push(IngestItem(batch: batch, respond: respond)) else {
                bump { $0.busy += 1 }
                respond(.json(503, "{\"error\":\"collector busy, retry later\"}", headers: [("retry-after", "1")]))
                return
            }
        case (_, "/v1/batches"), (_, "/v1/health"):
            respond(.json(405, "{\"error\":\"method \(req.method) not allowed on \(req.path)\"}"))
        default:
            respond(.json(404, "{\"error\":\(JSON.quoted("no such endpoint: \(req.path)"))}"))
        }
    }

    func authorized(_ req: H2Request) -> Bool {
        guard let h = req.header("authorization"), h.hasPrefix("Bearer ") else { return false }
        return constantTimeEqual(Array(h.dropFirst(7).utf8), Array(config.token.utf8))
    }

    // MARK: - Ingest (its own thread)

    func ingestLoop(analyzer: Analyzer, store: AlertStore) {
        var lastStats = Date()
        while true {
            if let item = queue.pop(timeout: 1) {
                ingest(item, analyzer: analyzer, store: store)
            } else if queue.isClosed {
                break   // closed and drained
            }
            if config.statsInterval > 0, Date().timeIntervalSince(lastStats) >= config.statsInterval {
                lastStats = Date()
                logStats()
            }
        }
        if config.statsInterval > 0 { logStats() }
        store.close()
        done.signal()
    }

    func ingest(_ item: IngestItem, analyzer: Analyzer, store: AlertStore) {
        let h = item.batch.header
        let alerts = analyzer.process(item.batch)
        let rows = alerts.map {
            NewAlert(timeNs: Int64(bitPattern: $0.timeNs), host: $0.hostname, sensorID: $0.sensorID, rule: $0.rule,
                     priority: $0.priority, source: $0.source, output: $0.output, tags: $0.tags, fieldsJSON: $0.fieldsJSON,
                     containerID: $0.containerID)
        }
        do {
            let result = try store.commit(sensorID: h.sensorID.description, sequence: h.sequence, events: item.batch.records.count,
                                          alerts: rows)
            let duplicate: Bool
            if case .duplicate = result { duplicate = true } else { duplicate = false }
            bump {
                if duplicate { $0.batchesDuplicate += 1 } else {
                    $0.batchesAccepted += 1
                    $0.events += item.batch.records.count
                    $0.alerts += rows.count
                }
                $0.kernelDrops = max($0.kernelDrops, h.kernelDrops)
                $0.userDrops = max($0.userDrops, h.userDrops)
            }
            item.respond(.json(200, "{\"sequence\":\(h.sequence),\"status\":\"\(duplicate ? "duplicate" : "committed")\","
                               + "\"events\":\(item.batch.records.count),\"alerts\":\(duplicate ? 0 : rows.count)}"))
        } catch {
            bump { $0.storeErrors += 1 }
            config.log("lanner-collector: could not store batch \(h.sequence) of \(h.hostname): \(error)")
            item.respond(.json(503, "{\"error\":\(JSON.quoted("store error: \(error)"))}", headers: [("retry-after", "1")]))
        }
    }

    func logStats() {
        let s = currentStats
        config.log("lanner-collector: batches=\(s.batchesAccepted) duplicates=\(s.batchesDuplicate) rejected=\(s.batchesRejected) "
                   + "unauthorized=\(s.unauthorized) busy=\(s.busy) events=\(s.events) alerts=\(s.alerts) "
                   + "sensor_kernel_drops=\(s.kernelDrops) sensor_user_drops=\(s.userDrops) store_errors=\(s.storeErrors)")
    }
}

func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}

extension H2Response {
    static func json(_ status: Int, _ body: String, headers: [(name: String, value: String)] = []) -> H2Response {
        H2Response(status: status, headers: [("content-type", "application/json")] + headers, body: Array(body.utf8))
    }
}

/// One batch waiting for the ingest thread.
struct IngestItem: @unchecked Sendable {
    /// Decoded and validated; its records index into `batch.body` (decompressed when sent compressed).
    let batch: Batch
    let respond: H2Responder
}

/// A bounded FIFO between the event loop and the ingest thread.
final class IngestQueue: @unchecked Sendable {
    private var items: [IngestItem] = []
    private var head = 0
    private let cond = NSCondition()
    private let limit: Int
    private(set) var isClosed = false

    init(limit: Int) { self.limit = limit }

    /// False when full or closed.
    func push(_ item: IngestItem) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        guard !isClosed, items.count - head < limit else { return false }
        items.append(item)
        cond.signal()
        return true
    }

    /// The next item; nil after `timeout` seconds or when closed and empty.
    func pop(timeout: Double) -> IngestItem? {
        cond.lock()
        defer { cond.unlock() }
        let deadline = Date().addingTimeInterval(timeout)
        while head == items.count {
            if isClosed { return nil }
            if !cond.wait(until: deadline) { return nil }
        }
        let item = items[head]
        head += 1
        if head > 1024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return item
    }

    func close() {
        cond.lock()
        isClosed = true
        cond.broadcast()
        cond.unlock()
    }
}

/// Why the collector could not start, said so that the user can fix it.
public enum CollectorError: Error, CustomStringConvertible {
    case databaseIsDirectory(String)
    case cannotCreateDatabase(String, String)

    public var description: String {
        switch self {
        case .databaseIsDirectory(let p): return "--db \(p) is a directory; give the path of the database file (e.g. \(p)/lanner.db)"
        case .cannotCreateDatabase(let p, let why): return "cannot create the database \(p): \(why)"
        }
    }
}

/// Logs at most one line per key per `interval` seconds and says how many were held back, so that a
/// misconfigured or hostile client cannot flood the log.
final class RateLimitedLog: @unchecked Sendable {
    private let interval: Double
    private let lock = NSLock()
    private var last: [String: (time: Double, held: Int)] = [:]

    init(interval: Double) { self.interval = interval }

    func log(_ key: String, _ line: @autoclosure () -> String, _ sink: (String) -> Void, now: Double = Date().timeIntervalSince1970) {
        lock.lock()
        let prev = last[key]
        if let prev, now - prev.time < interval {
            last[key] = (prev.time, prev.held + 1)
            lock.unlock()
            return
        }
        last[key] = (now, 0)
        lock.unlock()
        let held = prev?.held ?? 0
        sink(line() + (held > 0 ? " (and \(held) more like it since the last such line)" : ""))
    }
}
