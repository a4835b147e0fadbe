import Foundation
import Testing
@testable import LannerCollectorService
import LannerEnrich
import LannerRules
import LannerSensorAgent
import LannerHTTP2
import LannerStore
import LannerTestSupport
import LannerWire

/// The ingest endpoint over real sockets into a real SQLite file.
@Suite struct CollectorServerTests {
    final class Harness: @unchecked Sendable {
        let dir: String
        let server: CollectorServer
        let sink: LogSink

        init() throws {
            dir = NSTemporaryDirectory() + "lanner-collector-test-" + UUID().uuidString
            var cfg = CollectorConfig(token: "s3cret", rules: try AnalyzerTests.rules())
            cfg.port = 0
            cfg.databasePath = dir + "/db/lanner.db"
            cfg.queueLimit = 8
            let sink = LogSink()
            cfg.log = { sink.append($0) }
            self.sink = sink
            server = try CollectorServer(config: cfg)
            try server.start()
        }

        func client() throws -> H2Client { try H2Client(host: "127.0.0.1", port: server.port) }

        deinit {
            server.stop()
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    final class LogSink: @unchecked Sendable {
        private let lock = NSLock()
        private var _lines: [String] = []
        func append(_ l: String) { lock.lock(); _lines.append(l); lock.unlock() }
        var lines: [String] { lock.lock(); defer { lock.unlock() }; return _lines }
    }

    static func post(_ c: H2Client, _ body: [UInt8], token: String? = "s3cret") throws -> (Int, String) {
        var headers: [(name: String, value: String)] = [("content-type", "application/x-lanner-batch")]
        if let token { headers.append(("authorization", "Bearer " + token)) }
        let r = try c.request(method: "POST", path: "/v1/batches", headers: headers, body: body)
        return (r.status, String(decoding: r.body, as: UTF8.self))
    }

    @Test func authMalformedDuplicateAndSurvival() throws {
        let h = try Harness()
        let c = try h.client()
        let good = Rec.batch(AnalyzerTests.family + [
            Rec.clone(parent: 50, child: 80),
            Rec.exec(pid: 80, ppid: 50, comm: "sh", exe: "/usr/bin/dash", args: ["sh", "-c", "id"]),
        ], seq: 7)

        #expect(try Self.post(c, good, token: nil).0 == 401)
        #expect(try Self.post(c, good, token: "wrong").0 == 401)
        let (garbageStatus, garbageBody) = try Self.post(c, Array("hello".utf8))
        #expect(garbageStatus == 400)
        #expect(garbageBody.contains("not a Lanner batch"))
        let (truncStatus, truncBody) = try Self.post(c, Array(good.prefix(good.count - 3)))
        #expect(truncStatus == 400)
        #expect(truncBody.contains("malformed batch"))

        // The same connection still works, and a good batch is committed once.
        let (s1, b1) = try Self.post(c, good)
        #expect(s1 == 200)
        #expect(b1.contains("\"status\":\"committed\"") && b1.contains("\"alerts\":1"))
        let (s2, b2) = try Self.post(c, good)
        #expect(s2 == 200)
        #expect(b2.contains("\"status\":\"duplicate\""))

        let health = try c.request(method: "GET", path: "/v1/health")
        #expect(health.status == 200)
        #expect(try c.request(method: "GET", path: "/nope").status == 404)

        let store = try AlertStore(path: h.dir + "/db/lanner.db", readOnly: true)
        let alerts = try store.query(AlertQuery())
        #expect(alerts.map(\.rule) == ["Shell spawned by an unexpected parent"])
        #expect(alerts.first?.host == "test-host")
        let stats = h.server.currentStats
        #expect(stats.unauthorized == 2)
        #expect(stats.batchesRejected == 2)
        #expect(stats.batchesAccepted == 1)
        #expect(stats.batchesDuplicate == 1)
    }

    /// Alerts name users and command lines: the database directory is 0700 and the file 0600; after a stop
    /// the database is closed (no -wal/-shm left); refused tokens are logged, at most once per 10 s.
    @Test func databaseIsPrivateClosedOnStopAndRefusalsAreLogged() throws {
        let h = try Harness()
        let c = try h.client()
        for _ in 0..<5 { #expect(try Self.post(c, Rec.batch([], seq: 1), token: "wrong").0 == 401) }
        #expect(try Self.post(c, Rec.batch([], seq: 2), token: nil).0 == 401)
        let refusals = h.sink.lines.filter { $0.contains("refused a batch from 127.0.0.1:") }
        #expect(refusals.count == 1, "\(h.sink.lines)")
        #expect(refusals.first?.hasSuffix(": wrong bearer token") == true)
        #expect(try Self.post(c, Rec.batch(AnalyzerTests.family, seq: 3)).0 == 200)

        var st = stat()
        #expect(stat(h.dir + "/db", &st) == 0)
        #expect(st.st_mode & 0o777 == 0o700)
        #expect(stat(h.dir + "/db/lanner.db", &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
        #expect(stat(h.dir + "/db/lanner.db-wal", &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
        c.close()
        h.server.stop()
        #expect(!FileManager.default.fileExists(atPath: h.dir + "/db/lanner.db-wal"))
        #expect(!FileManager.default.fileExists(atPath: h.dir + "/db/lanner.db-shm"))
        #expect(try AlertStore(path: h.dir + "/db/lanner.db", readOnly: true).query(AlertQuery()).isEmpty)
    }

    @Test func aDirectoryAsTheDatabaseIsRefusedClearly() throws {
        let dir = NSTemporaryDirectory() + "lanner-dbdir-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var cfg = CollectorConfig(token: "t", rules: [])
        cfg.port = 0
        cfg.databasePath = dir
        let e = #expect(throws: CollectorError.self) { _ = try CollectorServer(config: cfg) }
        #expect(e?.description == "--db \(dir) is a directory; give the path of the database file (e.g. \(dir)/lanner.db)")
    }

    @Test func rateLimitedLogCountsWhatItHeldBack() {
        let log = RateLimitedLog(interval: 10)
        var out: [String] = []
        for t in [0.0, 1, 2, 9.9, 10, 25] { log.log("k", "line", { out.append($0) }, now: t) }
        log.log("other", "x", { out.append($0) }, now: 3)
        #expect(out == ["line", "line (and 3 more like it since the last such line)", "line", "x"])
    }

    @Test func manySensorsAtOnce() throws {
        let h = try Harness()
        let errors = NSLock()
        nonisolated(unsafe) var failures: [String] = []
        DispatchQueue.concurrentPerform(iterations: 6) { i in
            do {
                let c = try h.client()
                for seq in 1...5 {
                    var enc = BatchEncoder()
                    for r in AnalyzerTests.family { try enc.append(record: r) }
                    let body = try enc.finish(header: BatchHeader(
                        sequence: UInt64(seq), bootTimeUnixNs: 1, sensorID: ID128(bytes: [UInt8](repeating: UInt8(i + 1), count: 16)),
                        bootID: .zero, hostname: "host-\(i)", sensorVersion: "t"))
                    let (s, _) = try Self.post(c, body)
                    if s != 200 && s != 503 { errors.lock(); failures.append("sensor \(i): \(s)"); errors.unlock() }
                }
            } catch {
                errors.lock(); failures.append("\(error)"); errors.unlock()
            }
        }
        #expect(failures.isEmpty)
        let store = try AlertStore(path: h.dir + "/db/lanner.db", readOnly: true)
        #expect(try store.batchCount() + h.server.currentStats.busy >= 1)
        #expect(h.server.currentStats.batchesAccepted + h.server.currentStats.busy == 30)
    }
}

/// Interest in every acknowledgement, drop alerts and the sensors table, reloads that keep host state.
@Suite struct CollectorTransportTests {
    typealias H = CollectorServerTests

    static func rules(_ yaml: String) -> [CompiledRule] {
        var cfg = RuleLoader.Configuration()
        cfg.isSupported = { SyscallFields.isSupported($0) }
        let r = RuleLoader.load([RuleFile(name: "test.yaml", text: yaml)], config: cfg)
        #expect(r.report.errors.isEmpty, "\(r.report.rendered())")
        return r.activeRules
    }

    static func ack(_ body: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
    }

    static func header(_ seq: UInt64, kernel: UInt64 = 0, user: UInt64 = 0) -> BatchHeader {
        BatchHeader(sequence: seq, bootTimeUnixNs: 1_796_000_000_000_000_000, kernelDrops: kernel, userDrops: user,
                    sensorID: ID128(hex: "11111111111111111111111111111111")!, bootID: ID128(hex: "22222222222222222222222222222222")!,
                    hostname: "test-host", sensorVersion: "test")
    }

    static func batch(_ records: [[UInt8]], _ h: BatchHeader) throws -> [UInt8] {
        var enc = BatchEncoder()
        for r in records { try enc.append(record: r) }
        return try enc.finish(header: h)
    }

    @Test func everyAcknowledgementCarriesTheInterestAndAHeartbeatIsABatch() throws {
        let h = try H.Harness()
        let c = try h.client()
        let (status, body) = try H.post(c, try Self.batch([], Self.header(1 << 32 | 1)))
        #expect(status == 200, "\(body)")
        let o = try Self.ack(body)
        #expect(o["status"] as? String == "committed")
        let interest = try #require(o["interest"] as? [String: Any])
        let ids = try #require(interest["events"] as? [Int]).map { UInt16($0) }
        let expected = try Analyzer(rules: AnalyzerTests.rules(), matching: .all).wireInterest
        #expect(ids == expected.events)
        #expect((interest["version"] as? NSNumber)?.uint32Value == expected.version)
        #expect(Set(ids).isSuperset(of: [EventType.execve, .clone, .procexit, .openat, .connect].map(\.rawValue)))
        #expect(!ids.contains(EventType.procinfo.rawValue), "sensor-made records are not kernel interest")
        // The sensor side reads it back.
        let parsed = try CollectorAck.parse(Array(body.utf8))
        #expect(parsed.interest == expected)
        #expect(parsed.sequence == 1 << 32 | 1)
    }

    @Test func dropsBecomeOneCriticalAlertAndSensorCountersSurviveARestart() throws {
        let dir = NSTemporaryDirectory() + "lanner-drops-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func server() throws -> CollectorServer {
            var cfg = CollectorConfig(token: "s3cret", rules: try AnalyzerTests.rules())
            cfg.port = 0
            cfg.databasePath = dir + "/lanner.db"
            cfg.log = { _ in }
            let s = try CollectorServer(config: cfg)
            try s.start()
            return s
        }
        var s = try server()
        var c = try H2Client(host: "127.0.0.1", port: s.port)
        #expect(try H.post(c, try Self.batch(AnalyzerTests.family, Self.header(1 << 32 | 1))).0 == 200)
        #expect(try H.post(c, try Self.batch([], Self.header(1 << 32 | 2, kernel: 40, user: 2))).0 == 200)
        #expect(try H.post(c, try Self.batch([], Self.header(1 << 32 | 3, kernel: 45, user: 2))).0 == 200)   // rate-limited: pending
        c.close()
        s.stop()
        var store = try AlertStore(path: dir + "/lanner.db", readOnly: true)
        var drops = try store.query(AlertQuery(rule: "Syscall event drops", limit: 0))
        #expect(drops.count == 1)
        #expect(drops.first?.priority == .critical)
        #expect(drops.first?.output.hasPrefix("Syscall event drops: 40 kernel, 2 sensor events dropped in the last ") == true)
        var rows = try store.sensors()
        #expect(rows.count == 1)
        #expect(rows.first?.kernelDrops == 45 && rows.first?.userDrops == 2 && rows.first?.batches == 3)
        #expect(rows.first?.events == Int64(AnalyzerTests.family.count))
        store.close()

        // A restarted collector: resent batches are duplicates (the ledger is in SQLite), the counters continue,
        // and the 5 drops held back by the rate limit are reported once it allows (not lost with the process).
        s = try server()
        c = try H2Client(host: "127.0.0.1", port: s.port)
        let (st, dup) = try H.post(c, try Self.batch([], Self.header(1 << 32 | 3, kernel: 45, user: 2)))
        #expect(st == 200 && dup.contains("\"status\":\"duplicate\""))
        #expect(try H.post(c, try Self.batch([], Self.header(2 << 32 | 1, kernel: 1))).0 == 200)   // the sensor restarted too
        c.close()
        s.stop()
        store = try AlertStore(path: dir + "/lanner.db", readOnly: true)
        rows = try store.sensors()
        #expect(rows.first?.kernelDrops == 46 && rows.first?.batches == 4 && rows.first?.runEpoch == 2)
        drops = try store.query(AlertQuery(rule: "Syscall event drops", limit: 0))
        // Within 10 s of the first alert the rest is still pending (the tick raises it later); never lost, never twice.
        let reported = drops.compactMap { a -> Int? in
            (try? JSONSerialization.jsonObject(with: Data(a.fieldsJSON.utf8)) as? [String: Any])?["n_drops_kernel"] as? Int
        }
        #expect(reported.reduce(0, +) + Int(rows.first!.unreportedKernelDrops) == 46)
    }

    @Test func aReloadSwapsRulesBetweenBatchesAndKeepsHostState() throws {
        let h = try H.Harness()
        let c = try h.client()
        // nginx (pid 50) is known only from this first batch.
        #expect(try H.post(c, Rec.batch(AnalyzerTests.family, seq: 1)).0 == 200)
        let before = try Self.ack(try H.post(c, Rec.batch([], seq: 2)).1)["interest"] as? [String: Any]
        let summary = try #require(h.server.reload(rules: Self.rules("""
            - rule: Shell under nginx
              desc: test
              condition: evt.type = execve and proc.name = sh and proc.pname = nginx
              output: shell %proc.cmdline under %proc.pname
              priority: ERROR
            """)))
        #expect(summary.contains("rules reloaded: 4 → 1 rules running"), "\(summary)")
        #expect(summary.contains("added 'Shell under nginx'"))
        #expect(summary.contains("interest v"), "\(summary)")
        #expect(h.sink.lines.contains(summary))
        let (status, body) = try H.post(c, Rec.batch([
            Rec.clone(parent: 50, child: 80),
            Rec.exec(pid: 80, ppid: 50, comm: "sh", exe: "/usr/bin/dash", args: ["sh", "-c", "id"]),
            Rec.open(pid: 80, name: "/etc/shadow"),
        ], seq: 3))
        #expect(status == 200)
        let after = try Self.ack(body)["interest"] as? [String: Any]
        #expect((after?["version"] as? NSNumber) != (before?["version"] as? NSNumber), "the interest changed with the rules")
        let alerts = try AlertStore(path: h.dir + "/db/lanner.db", readOnly: true).query(AlertQuery(limit: 0))
        #expect(alerts.map(\.rule) == ["Shell under nginx"], "old rules gone, the new one sees nginx from before the reload")
        #expect(alerts.first?.output == "shell sh -c id under nginx")
    }
}
