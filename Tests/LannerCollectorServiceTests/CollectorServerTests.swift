import Foundation
import Testing
@testable import LannerCollectorService
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
