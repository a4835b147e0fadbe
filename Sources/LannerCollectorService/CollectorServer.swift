import Foundation
import LannerCore
import LannerEnrich
import LannerHTTP2
import LannerOutputs
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
    /// At most one "Syscall event drops" alert per sensor per this many seconds (Falco's token bucket, burst 1).
    public var dropAlertInterval: Double = 10
    /// Identical alerts (same host, rule and output) within this window of a stored one fold into its row
    /// (`aggregation.window` in collector.yaml); zero stores every alert as a row.
    public var aggregationWindow: Duration = .seconds(10)
    /// What the database keeps (`retention:` in collector.yaml), enforced by a background thread.
    public var retention = RetentionPolicy(maxAgeNs: 30 * 86_400 * 1_000_000_000, maxRows: 10_000_000)
    /// Seconds between two retention passes, and rows deleted per transaction.
    public var retentionInterval: Double = 10
    public var retentionBatch = 2_000
    /// Reported in `/metrics` (lanner_collector_info).
    public var version = "0.1.0"
    /// Looks up the domain names rules compare `fd.*ip.name` with, on the resolver thread.
    public var domainResolver: any DomainResolver = SystemDomainResolver()
    /// False: no lookups at all (`resolve_names: false`, `--no-resolve-names`); the names stay unresolved, so
    /// comparisons with them are false.
    public var resolveNames = true
    /// When names are looked up again (Falco's 10 s doubling to 320 s while the answer does not change).
    public var domainTiming = DomainNames.Timing()
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
    /// The highest read-failure count a sensor reported (like the drops: per sensor run, not summed).
    public var readFailures: UInt64 = 0
    public var storeErrors = 0
    /// "Syscall event drops" alerts stored (also counted in `alerts`).
    public var dropAlerts = 0
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
    private let reloadLock = NSLock()
    private var pendingReload: ReloadRequest?
    private var ingestFinished = false
    let queries: QueryService
    private var retentionWorker: RetentionWorker?
    /// Gets a copy of every alert once it is stored (nil: the database is the only output).
    public let outputs: OutputHub?
    /// Per-batch figures for `/metrics` and `-v`.
    public let metrics = CollectorMetrics()
    /// The addresses of the rules' `fd.*ip.name` names, kept current by `domainRefresher` for as long as the
    /// server runs; names stay across reloads while some rule still compares them.
    public let domains: DomainNames
    let domainRefresher: DomainRefresher
    /// The event loop's zstd context: `handle` runs on the server's single loop thread only.
    private let decompressor = Zstd.Decompressor()

    /// Opens the store (creating and migrating it) and binds the port. Call `start()` to serve.
    /// - Parameter outputs: stored alerts are published to it from the ingest thread, after their commit; the
    ///   caller stops it after `stop()`.
    public init(config: CollectorConfig, outputs: OutputHub? = nil) throws {
        self.config = config
        self.outputs = outputs
        queue = IngestQueue(limit: config.queueLimit)
        domains = DomainNames(timing: config.domainTiming)
        domainRefresher = DomainRefresher(names: domains, resolver: config.domainResolver, log: config.log)
        queries = QueryService(databasePath: config.databasePath)
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
        nonisolated(unsafe) var summary = ""
        let t = Thread { [unowned self] in
            // The analyzer, the sensor book and the store belong to this thread alone.
            let state: IngestState
            do {
                let store = try AlertStore(path: self.config.databasePath)
                store.aggregationWindowNs = Int64(self.config.aggregationWindow.components.seconds) * 1_000_000_000
                    + self.config.aggregationWindow.components.attoseconds / 1_000_000_000
                let book = SensorBook(records: try store.sensors(), dropAlertInterval: self.config.dropAlertInterval)
                state = IngestState(analyzer: Analyzer(rules: self.config.rules, matching: self.config.matching, domains: self.domains),
                                    store: store, book: book)
            } catch {
                failure = error
                ready.signal()
                self.done.signal()
                return
            }
            self.metrics.rulesChanged(rules: state.analyzer.ruleset.rules.count, interestTypes: state.interest.events.count)
            self.metrics.sensorsUpdated(Array(state.book.records.values))
            summary = "\(state.analyzer.ruleset.rules.count) rules, \(state.interest.events.count) event types of interest (v\(state.interest.version)"
                + (state.interest.omit.isEmpty ? ")" : "; sensors leave out \(state.interest.omit.joined(separator: ", ")), which no rule reads)")
            let names = state.analyzer.ruleset.domainNames
            if !names.isEmpty {
                self.domains.add(names, now: DomainRefresher.nowNs())
                summary += ", \(names.count) domain name\(names.count == 1 ? "" : "s") for fd.*ip.name "
                    + (self.config.resolveNames ? "resolved in the background" : "not looked up (name lookups are off: comparisons with them are false)")
            }
            ready.signal()
            self.ingestLoop(state)
        }
        t.name = "lanner-ingest"
        t.stackSize = 8 << 20
        ingestThread = t
        t.start()
        ready.wait()
        if let failure { throw failure }
        if config.resolveNames { domainRefresher.start() }
        if !config.retention.keepsEverything {
            let w = RetentionWorker(path: config.databasePath, policy: config.retention, interval: config.retentionInterval,
                                    batchSize: config.retentionBatch, log: config.log)
            retentionWorker = w
            w.start()
        }
        try server.start()
        config.log("lanner-collector: listening on http://\(config.host.contains(":") ? "[" + config.host + "]" : config.host):\(server.boundPort) (h2c), "
                   + "\(summary), database \(config.databasePath)")
    }

    /// Replaces the rules, keeping every sensor's host state and every queued batch: the rules are compiled on
    /// the calling thread, then the ingest thread swaps them in between two batches. Waits for the swap.
    /// - Returns: what changed (rule counts and names, interest), as logged; nil when the server has stopped.
    @discardableResult
    public func reload(rules: [CompiledRule]) -> String? {
        let ruleset = Analyzer.ruleset(rules, matching: config.matching, domains: domains)
        let request = ReloadRequest(ruleset: ruleset)
        // New names are looked up now; the running rules keep theirs until the swap, then names no rule compares
        // any more are forgotten (`takeReload`). Under the lock, so a swap in between cannot forget them.
        reloadLock.lock()
        let added = domains.add(ruleset.domainNames, now: DomainRefresher.nowNs())
        pendingReload = request
        reloadLock.unlock()
        if added > 0 { domainRefresher.poke() }
        queue.poke()
        while request.done.wait(timeout: .now() + 1) == .timedOut {
            if queue.isClosed && ingestFinished { return nil }
        }
        return request.summary
    }

    /// Stops accepting, finishes queued batches, closes the store.
    /// Idempotent.
    public func stop() {
        statsLock.lock()
        let first = !stopped
        stopped = true
        statsLock.unlock()
        guard first else { return }
        queries.stop()   // parked tails get 503 "collector stopping" while their connections are still up
        server.stop()
        queue.close()
        done.wait()
        if !domainRefresher.stop(timeout: 2) {
            config.log("lanner-collector: the fd.*ip.name resolver thread is still inside a lookup (getaddrinfo cannot be interrupted); leaving it to finish")
        }
        retentionWorker?.stop()
    }

    // MARK: - Requests (event-loop thread)

    func handle(_ req: H2Request, _ respond: @escaping H2Responder) {
        if QueryService.handles(req.path) {
            queries.handle(req, authorized: authorized(req), respond)
            return
        }
        switch (req.method, req.path) {
        case ("GET", "/v1/health"):
            respond(.json(200, "{\"status\":\"ok\"}"))
        case ("GET", "/metrics"):
            guard authorized(req) else {
                bump { $0.unauthorized += 1 }
                respond(.json(401, "{\"error\":\"missing or wrong bearer token\"}", headers: [("www-authenticate", "Bearer")]))
                return
            }
            respond(H2Response(status: 200, headers: [("content-type", PrometheusText.contentType)], body: Array(metricsText().utf8)))
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
                batch = try BatchDecoder.decode(req.body, maxBatchBytes: config.maxBatchBytes, decompressor: decompressor)
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
            metrics.received(sensor: batch.header.sensorID.description, host: batch.header.hostname, events: batch.records.count)
        case (_, "/v1/batches"), (_, "/v1/health"), (_, "/metrics"):
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

    func ingestLoop(_ state: IngestState) {
        var lastStats = Date()
        var lastTick = Date()
        while true {
            takeReload(state)
            if let item = queue.pop(timeout: 1) {
                ingest(item, state)
            } else if queue.isClosed {
                break   // closed and drained
            }
            if Date().timeIntervalSince(lastTick) >= 1 {
                lastTick = Date()
                raiseDueDropAlerts(state)
            }
            if config.statsInterval > 0, Date().timeIntervalSince(lastStats) >= config.statsInterval {
                lastStats = Date()
                logStats()
            }
        }
        takeReload(state)
        if config.statsInterval > 0 { logStats() }
        state.store.close()
        reloadLock.lock()
        ingestFinished = true
        reloadLock.unlock()
        done.signal()
    }

    /// Swaps in rules a `reload` compiled, between two batches.
    func takeReload(_ state: IngestState) {
        reloadLock.lock()
        let request = pendingReload
        pendingReload = nil
        reloadLock.unlock()
        guard let request else { return }
        let before = state.analyzer.ruleset.rules.map(\.name)
        let oldInterest = state.interest
        let namesBefore = Set(state.analyzer.ruleset.domainNames)
        state.analyzer.replace(ruleset: request.ruleset)
        state.interest = state.analyzer.wireInterest
        let namesAfter = Set(state.analyzer.ruleset.domainNames)
        // Keep the names of a reload compiled meanwhile too (it is swapped in next).
        reloadLock.lock()
        domains.retain(only: namesAfter.union(pendingReload?.ruleset.domainNames ?? []))
        reloadLock.unlock()
        metrics.rulesChanged(rules: state.analyzer.ruleset.rules.count, interestTypes: state.interest.events.count)
        let after = state.analyzer.ruleset.rules.map(\.name)
        func list(_ names: [String]) -> String {
            names.isEmpty ? "none" : names.prefix(8).map { "'\($0)'" }.joined(separator: ", ") + (names.count > 8 ? " and \(names.count - 8) more" : "")
        }
        let added = after.filter { !Set(before).contains($0) }, removed = before.filter { !Set(after).contains($0) }
        var line = "lanner-collector: rules reloaded: \(before.count) → \(after.count) rules running (added \(list(added)); removed \(list(removed)))"
        if oldInterest == state.interest {
            line += "; interest unchanged (v\(state.interest.version), \(state.interest.events.count) event types)"
        } else {
            let plus = state.interest.events.filter { !oldInterest.events.contains($0) }
            let minus = oldInterest.events.filter { !state.interest.events.contains($0) }
            let name = { (id: UInt16) in EventType(rawValue: id)?.name ?? "#\(id)" }
            let omitPlus = state.interest.omit.filter { !oldInterest.omit.contains($0) }
            let omitMinus = oldInterest.omit.filter { !state.interest.omit.contains($0) }
            line += "; interest v\(oldInterest.version) → v\(state.interest.version): "
                + (plus.map { "+" + name($0) } + minus.map { "-" + name($0) }
                   + omitMinus.map { "+" + $0 } + omitPlus.map { "-" + $0 }).joined(separator: " ")
                + " (sensors switch on their next acknowledgement)"
        }
        if namesBefore != namesAfter {
            line += "; fd.*ip.name domain names: \(namesBefore.count) → \(namesAfter.count) (+\(namesAfter.subtracting(namesBefore).count) "
                + "-\(namesBefore.subtracting(namesAfter).count); kept names keep their addresses)"
        }
        config.log(line)
        request.summary = line
        request.done.signal()
    }

    func ingest(_ item: IngestItem, _ state: IngestState) {
        let h = item.batch.header
        let events = item.batch.records.count
        let sensor = h.sensorID.description
        let evalStart = Self.monotonicSeconds()
        let alerts = state.analyzer.process(item.batch)
        metrics.evaluated(sensor: sensor, host: h.hostname, events: events, seconds: Self.monotonicSeconds() - evalStart)
        var rows = alerts.map {
            NewAlert(timeNs: Int64(bitPattern: $0.timeNs), host: $0.hostname, sensorID: $0.sensorID, rule: $0.rule,
                     priority: $0.priority, source: $0.source, output: $0.output, tags: $0.tags, fieldsJSON: $0.fieldsJSON,
                     containerID: $0.containerID, containerName: $0.containerName)
        }
        let (record, dropAlert) = state.book.observe(h, events: events, nowNs: Self.nowNs())
        if let dropAlert { rows.append(dropAlert) }
        do {
            let commitStart = Self.monotonicSeconds()
            let result = try state.store.commit(sensorID: sensor, sequence: h.sequence, events: events,
                                                alerts: rows, sensor: record)
            let commitSeconds = Self.monotonicSeconds() - commitStart
            let duplicate: Bool
            switch result {
            case .duplicate:
                duplicate = true
                metrics.committed(alerts: [], sensor: nil, seconds: commitSeconds)
            case .committed(let ids):
                duplicate = false
                state.book.apply(record)
                metrics.committed(alerts: rows, sensor: record, seconds: commitSeconds)
                if let outputs, !rows.isEmpty { outputs.publish(OutputHub.storedAlerts(rows, ids: ids)) }
                if let dropAlert { config.log("lanner-collector: \(dropAlert.output)") }
                if !rows.isEmpty { queries.alertsCommitted() }
            }
            bump {
                if duplicate { $0.batchesDuplicate += 1 } else {
                    $0.batchesAccepted += 1
                    $0.events += events
                    $0.alerts += rows.count
                    if dropAlert != nil { $0.dropAlerts += 1 }
                }
                $0.kernelDrops = max($0.kernelDrops, h.kernelDrops)
                $0.userDrops = max($0.userDrops, h.userDrops)
                $0.readFailures = max($0.readFailures, h.readFailures)
            }
            item.respond(.json(200, "{\"sequence\":\(h.sequence),\"status\":\"\(duplicate ? "duplicate" : "committed")\","
                               + "\"events\":\(events),\"alerts\":\(duplicate ? 0 : rows.count),\"interest\":\(state.interest.json)}"))
        } catch {
            bump { $0.storeErrors += 1 }
            config.log("lanner-collector: could not store batch \(h.sequence) of \(h.hostname): \(error)")
            item.respond(.json(503, "{\"error\":\(JSON.quoted("store error: \(error)"))}", headers: [("retry-after", "1")]))
        }
    }

    /// Drop alerts held back by the rate limit, once it allows them, for sensors that sent nothing since.
    func raiseDueDropAlerts(_ state: IngestState) {
        let due = state.book.tick(nowNs: Self.nowNs())
        guard !due.isEmpty else { return }
        do {
            let commitStart = Self.monotonicSeconds()
            let ids = try state.store.commitInternal(alerts: due.map(\.alert), sensors: due.map(\.record))
            metrics.committed(alerts: due.map(\.alert), sensor: nil, seconds: Self.monotonicSeconds() - commitStart)
            metrics.sensorsUpdated(due.map(\.record))
            outputs?.publish(OutputHub.storedAlerts(due.map(\.alert), ids: ids))
            for d in due {
                state.book.apply(d.record)
                config.log("lanner-collector: \(d.alert.output)")
            }
            queries.alertsCommitted()
            bump {
                $0.alerts += due.count
                $0.dropAlerts += due.count
            }
        } catch {
            bump { $0.storeErrors += 1 }
            config.log("lanner-collector: could not store \(due.count) drop alert(s): \(error); retrying")
        }
    }

    static func nowNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// `/metrics`: the Prometheus text of every counter.
    public func metricsText() -> String {
        PrometheusText.render(stats: currentStats, metrics: metrics.snapshot, outputs: outputs?.counters ?? [],
                              http: server.counters, queueDepth: queue.depth, queueCapacity: config.queueLimit,
                              version: config.version, startedNs: metrics.startedNs)
    }

    /// `serve -v`: the ingest counters, evaluation and commit latencies, each output's counters.
    func logStats() {
        let s = currentStats
        let m = metrics.snapshot
        func ms(_ h: Histogram, _ q: Double) -> String {
            guard let v = h.quantile(q) else { return "-" }
            return v.isInfinite ? ">10000" : String(format: v < 0.001 ? "%.2f" : "%.1f", v * 1000)
        }
        var line = "lanner-collector: batches=\(s.batchesAccepted) duplicates=\(s.batchesDuplicate) rejected=\(s.batchesRejected) "
            + "unauthorized=\(s.unauthorized) busy=\(s.busy) events=\(s.events) alerts=\(s.alerts) "
            + "sensor_kernel_drops=\(s.kernelDrops) sensor_user_drops=\(s.userDrops) sensor_read_failures=\(s.readFailures) drop_alerts=\(s.dropAlerts) store_errors=\(s.storeErrors) "
            + "queue=\(queue.depth)/\(config.queueLimit) eval_p50_ms=\(ms(m.evaluation, 0.5)) eval_p99_ms=\(ms(m.evaluation, 0.99)) "
            + "commit_p50_ms=\(ms(m.commits, 0.5)) commit_p99_ms=\(ms(m.commits, 0.99))"
        for o in outputs?.counters ?? [] { line += "\nlanner-collector: output \(o)" }
        config.log(line)
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

/// What the ingest thread owns: the analyzer, the store connection, the sensor book, the interest in force.
final class IngestState {
    let analyzer: Analyzer
    let store: AlertStore
    var book: SensorBook
    var interest: Interest

    init(analyzer: Analyzer, store: AlertStore, book: SensorBook) {
        self.analyzer = analyzer
        self.store = store
        self.book = book
        interest = analyzer.wireInterest
    }
}

/// Rules compiled by `reload`, waiting for the ingest thread to swap them in.
final class ReloadRequest: @unchecked Sendable {
    let ruleset: Ruleset<SyscallFields>
    let done = DispatchSemaphore(value: 0)
    var summary: String?
    init(ruleset: Ruleset<SyscallFields>) { self.ruleset = ruleset }
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
    private var poked = false

    init(limit: Int) { self.limit = limit }

    /// Items waiting.
    var depth: Int {
        cond.lock()
        defer { cond.unlock() }
        return items.count - head
    }

    /// False when full or closed.
    func push(_ item: IngestItem) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        guard !isClosed, items.count - head < limit else { return false }
        items.append(item)
        cond.signal()
        return true
    }

    /// The next item; nil after `timeout` seconds, after `poke()`, or when closed and empty.
    func pop(timeout: Double) -> IngestItem? {
        cond.lock()
        defer { cond.unlock() }
        let deadline = Date().addingTimeInterval(timeout)
        while head == items.count {
            if isClosed { return nil }
            if poked { poked = false; return nil }
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

    /// Wakes a waiting `pop` (it returns nil) so the ingest thread looks at its mailbox now.
    func poke() {
        cond.lock()
        poked = true
        cond.broadcast()
        cond.unlock()
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
