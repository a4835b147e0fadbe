import Foundation
import Testing
@testable import LannerCollectorService
import LannerCore
import LannerHTTP2
import LannerQuery
import LannerStore
import LannerTestSupport
import LannerWire

/// The query API of a real collector on a real socket against the same database read directly: every answer
/// must be identical. Also tails woken by ingest, aggregation and retention inside the running collector.
@Suite struct QueryServiceTests {
    final class Server: @unchecked Sendable {
        let dir: String
        let db: String
        let server: CollectorServer
        let log = CollectorServerTests.LogSink()

        init(prefill: (AlertStore) throws -> Void = { _ in }, configure: (inout CollectorConfig) -> Void = { _ in }) throws {
            dir = NSTemporaryDirectory() + "lanner-query-test-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            db = dir + "/lanner.db"
            do {
                let w = try AlertStore(path: db)
                try prefill(w)
                w.close()
            }
            var cfg = CollectorConfig(token: "q-token", rules: try AnalyzerTests.rules())
            cfg.port = 0
            cfg.databasePath = db
            let log = self.log
            cfg.log = { log.append($0) }
            configure(&cfg)
            server = try CollectorServer(config: cfg)
            try server.start()
        }

        var url: String { "http://127.0.0.1:\(server.port)" }
        func remote(token: String = "q-token") throws -> RemoteAlertSource {
            RemoteAlertSource(client: try CollectorClient(url: url, token: token))
        }
        func local() throws -> LocalAlertSource { LocalAlertSource(store: try AlertStore(path: db, readOnly: true)) }

        deinit {
            server.stop()
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    static let t0: Int64 = 1_796_000_000 * 1_000_000_000

    /// 12,345 alerts (more than one API page), varied in every filtered column.
    static func prefill(_ w: AlertStore) throws {
        var rows: [ImportedAlert] = []
        for i in 0..<12_345 {
            let t = t0 + Int64(i) * 1_000_000_000 - (i % 97 == 0 ? 5_000_000_000_000 : 0)
            let cid: String? = i % 3 == 0 ? nil : ["0123456789ab", "a1b2c3d4e5f6"][i % 2]
            rows.append(ImportedAlert(NewAlert(timeNs: t, host: "h\(i % 5)", sensorID: "s", rule: ["Write below etc", "Write below root", "Shell", "Rare"][i % 7 == 0 ? 3 : i % 3],
                                               priority: Priority(rawValue: i % 8)!, output: "out \(i % 13) file=/etc/\(["shadow", "passwd"][i % 2]) Ünïcode",
                                               tags: i % 4 == 0 ? ["a", "b"] : ["b"], fieldsJSON: "{\"n\":\(i)}",
                                               containerID: cid, containerName: cid == nil ? nil : "web-\(i % 2)"),
                                      count: 1 + i % 3, lastSeenNs: t + 7))
        }
        try w.bulkInsert(rows)
        var r = SensorRecord(sensorID: "sensor-1", hostname: "h1", sensorVersion: "0.1", bootID: "boot", runEpoch: 2, nowNs: 5)
        r.events = 1234
        r.lastDropAlertNs = 77
        _ = try w.commit(sensorID: "sensor-1", sequence: 1, events: 0, alerts: [], sensor: r)
    }

    @Test func remoteAnswersEqualLocalOnes() throws {
        let s = try Server(prefill: Self.prefill)
        let local = try s.local(), remote = try s.remote()
        let queries: [AlertQuery] = [
            AlertQuery(), AlertQuery(limit: 0), AlertQuery(limit: 10_001, newestFirst: false), AlertQuery(limit: 3),
            AlertQuery(since: Self.t0 + 1_000_000_000_000, until: Self.t0 + 2_000_000_000_000, limit: 0),
            AlertQuery(rule: "Write below*", minPriority: .warning, limit: 500), AlertQuery(rule: "Rare", host: "h2"),
            AlertQuery(container: "web-1", limit: 50), AlertQuery(container: "0123456789ab"), AlertQuery(container: "host", limit: 40),
            AlertQuery(tag: "a", limit: 0), AlertQuery(text: "etc/shadow", limit: 300), AlertQuery(text: "ünïcode out", limit: 20),
            AlertQuery(host: "h3", text: "passwd", limit: 0, newestFirst: false),
            AlertQuery(limit: 5, after: AlertPosition(timeNs: Self.t0 + 600_000_000_000, id: 601)), AlertQuery(maxID: 100),
        ]
        for q in queries {
            let l = try local.list(q)
            #expect(try remote.list(q) == l, "\(q)")
            var sq = q
            sq.after = nil
            sq.maxID = nil
            #expect(try remote.stats(sq) == local.stats(sq), "stats \(sq)")
        }
        #expect(try local.list(AlertQuery(limit: 0)).count == 12_345)
        for id: Int64 in [1, 97, 12_345] { #expect(try remote.alert(id: id) == local.alert(id: id)) }
        for id: Int64 in [0, 12_346, 99_999] {
            let l = #expect(throws: NoSuchAlert.self) { try local.alert(id: id) }
            let r = #expect(throws: Error.self) { try remote.alert(id: id) }
            if id > 0 {
                #expect(r.map { "\($0)" } == l.map { "\($0)" })
                #expect(l?.description == "no alert with id \(id) (stored ids run from 1 to 12345)")
            } else {
                #expect("\(r!)" == "'0' is not an alert id (a whole number from 1)")
            }
        }
        #expect(try remote.sensors() == local.sensors())
        #expect(try remote.sensors().first?.events == 1234)
        #expect(try remote.lastID() == local.lastID())
        // The same error text for a query the store refuses.
        let le = #expect(throws: StoreError.self) { try local.list(AlertQuery(text: "/")) }
        let re = #expect(throws: RemoteError.self) { try remote.list(AlertQuery(text: "/")) }
        #expect(re.map { "\($0)" } == le.map { "\($0)" })
    }

    @Test func theAPIRefusesWhatItCannotAnswer() throws {
        let s = try Server()
        let c = try H2Client(host: "127.0.0.1", port: s.server.port)
        func get(_ path: String, token: String? = "q-token", method: String = "GET") throws -> (Int, String) {
            var h: [(name: String, value: String)] = []
            if let token { h.append(("authorization", "Bearer " + token)) }
            let r = try c.request(method: method, path: path, headers: h)
            return (r.status, String(decoding: r.body, as: UTF8.self))
        }
        #expect(try get("/v1/alerts", token: nil) == (401, #"{"error":"missing or wrong bearer token"}"#))
        #expect(try get("/v1/sensors", token: "nope").0 == 401)
        #expect(try get("/v1/alerts", method: "POST").0 == 405)
        #expect(try get("/v1/alerts?limit=10001") == (400, #"{"error":"parameter 'limit': '10001' must be a whole number from 0 to 10000 (rows per page; page with after_time and after_id)"}"#))
        #expect(try get("/v1/alerts?order=sideways").1.contains("must be 'newest' or 'oldest'"))
        #expect(try get("/v1/alerts?after_id=3").1.contains("parameter 'after_time' is missing"))
        #expect(try get("/v1/alerts/abc") == (400, #"{"error":"'abc' is not an alert id (a whole number from 1)"}"#))
        #expect(try get("/v1/alerts/5") == (404, #"{"error":"no alert with id 5: the database holds no alerts"}"#))
        #expect(try get("/v1/alerts/tail?wait=3") == (400, #"{"error":"parameter 'wait' needs after_id"}"#))
        #expect(try get("/v1/alerts/tail?after_id=0&wait=31").0 == 400)
        #expect(try get("/v1/alerts/stats?limit=5") == (400, #"{"error":"unknown parameter 'limit'"}"#))
        #expect(try get("/v1/sensors?x=1") == (400, #"{"error":"unknown parameter 'x'"}"#))
        #expect(try get("/v1/alerts?search=%2F").1.contains("has no letter or digit"))
        #expect(try get("/v1/alerts") == (200, #"{"alerts":[],"next":null}"#))
        #expect(try get("/v1/alerts/tail") == (200, #"{"alerts":[],"last_id":0}"#))
        // The ingest endpoints are where they were.
        #expect(try get("/v1/health").0 == 200)
        #expect(throws: RemoteError.self) { try s.remote(token: "wrong").list(AlertQuery()) }
        do { _ = try s.remote(token: "wrong").list(AlertQuery()) } catch {
            #expect("\(error)" == "collector \(s.url) refused the token (401): pass the collector's token with --token-file FILE or LANNER_TOKEN")
        }
    }

    static let shellBatch = [
        Rec.clone(parent: 50, child: 80),
        Rec.exec(pid: 80, ppid: 50, comm: "sh", exe: "/usr/bin/dash", args: ["sh", "-c", "id"]),
    ]

    /// A parked tail is answered as soon as ingest commits a matching alert, not when its wait ends.
    @Test func aTailIsWokenByIngest() throws {
        let s = try Server()
        let remote = try s.remote()
        let start = try remote.lastID()
        nonisolated(unsafe) var got: (alerts: [StoredAlert], lastID: Int64)?
        nonisolated(unsafe) var took = 0.0
        let done = DispatchSemaphore(value: 0)
        let url = s.url
        let waiter = Thread {
            let t = Date()
            let remote = try? RemoteAlertSource(client: CollectorClient(url: url, token: "q-token"))
            got = try? remote?.tail(afterID: start, matching: AlertQuery(rule: "Shell spawned by an unexpected parent"), limit: 100, waitSeconds: 20)
            took = Date().timeIntervalSince(t)
            done.signal()
        }
        waiter.start()
        Thread.sleep(forTimeInterval: 0.5)
        let c = try H2Client(host: "127.0.0.1", port: s.server.port)
        #expect(try CollectorServerTests.post(c, Rec.batch(AnalyzerTests.family + Self.shellBatch, seq: 1), token: "q-token").0 == 200)
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(got?.alerts.map(\.rule) == ["Shell spawned by an unexpected parent"])
        #expect(took < 3, "woken by the commit, not after the 20 s wait (took \(took) s)")
        #expect(got?.lastID == got?.alerts.last?.id)
        // Nothing new: an empty answer after the wait, at the same position.
        let empty = try remote.tail(afterID: got!.lastID, matching: AlertQuery(), limit: 100, waitSeconds: 1)
        #expect(empty.alerts.isEmpty && empty.lastID == got!.lastID)
        // Rows another process writes are noticed too (the parked tails are looked at every second).
        nonisolated(unsafe) var external: [StoredAlert] = []
        let done2 = DispatchSemaphore(value: 0)
        Thread {
            let remote = try? RemoteAlertSource(client: CollectorClient(url: url, token: "q-token"))
            external = (try? remote?.tail(afterID: got!.lastID, matching: AlertQuery(host: "elsewhere"), limit: 10, waitSeconds: 15).alerts) ?? nil ?? []
            done2.signal()
        }.start()
        Thread.sleep(forTimeInterval: 0.3)
        let w = try AlertStore(path: s.db)
        _ = try w.commit(sensorID: "x", sequence: 1, events: 1, alerts: [
            NewAlert(timeNs: Self.t0, host: "other", sensorID: "x", rule: "R", priority: .debug, output: "not this one"),
            NewAlert(timeNs: Self.t0, host: "elsewhere", sensorID: "x", rule: "R", priority: .debug, output: "this one"),
        ])
        #expect(done2.wait(timeout: .now() + 5) == .success)
        #expect(external.map(\.output) == ["this one"])
    }

    /// The same shell alert twice: with the default 10 s window one row counts 2; with 0 s, two rows.
    @Test(arguments: [(Duration.seconds(10), [2]), (Duration.zero, [1, 1])])
    func ingestFoldsRepeatsAsConfigured(_ window: Duration, _ counts: [Int]) throws {
        let s = try Server(configure: { $0.aggregationWindow = window })
        let c = try H2Client(host: "127.0.0.1", port: s.server.port)
        for seq: UInt64 in 1...2 {
            let (status, body) = try CollectorServerTests.post(c, Rec.batch(AnalyzerTests.family + Self.shellBatch, seq: seq), token: "q-token")
            #expect(status == 200, "\(body)")
        }
        let rows = try s.local().list(AlertQuery(rule: "Shell spawned by an unexpected parent"))
        #expect(rows.map(\.count) == counts)
    }

    /// Retention deletes a large backlog in the background while batches keep being acknowledged quickly.
    @Test func retentionDoesNotHoldUpIngest() throws {
        let now = CollectorServer.nowNs()
        let s = try Server(prefill: { w in
            let old = (0..<30_000).map { i in
                ImportedAlert(NewAlert(timeNs: now - 40 * 86_400_000_000_000 + Int64(i), host: "old", sensorID: "s", rule: "Old",
                                       priority: .notice, output: "old alert \(i)", tags: ["old"]))
            }
            try w.bulkInsert(old)
        }, configure: {
            $0.retention = RetentionPolicy(maxAgeNs: 30 * 86_400_000_000_000, maxRows: 0)
            $0.retentionInterval = 0.2
            $0.retentionBatch = 500
            $0.aggregationWindow = .zero
        })
        let c = try H2Client(host: "127.0.0.1", port: s.server.port)
        let reader = try AlertStore(path: s.db, readOnly: true)
        var slowest = 0.0
        var seq: UInt64 = 0
        var sawDeletion = false
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            seq += 1
            let t = Date()
            let (status, _) = try CollectorServerTests.post(c, Rec.batch(AnalyzerTests.family + Self.shellBatch, seq: seq), token: "q-token")
            slowest = max(slowest, Date().timeIntervalSince(t))
            #expect(status == 200)
            let left = try reader.query(AlertQuery(host: "old", limit: 1)).count
            let n = try reader.count()
            if n < 30_000 { sawDeletion = true }
            if left == 0 { break }
        }
        #expect(sawDeletion)
        #expect(try reader.query(AlertQuery(host: "old", limit: 0)).isEmpty, "every old alert was deleted")
        #expect(try reader.query(AlertQuery(rule: "Shell spawned by an unexpected parent", limit: 0)).count == Int(seq))
        #expect(slowest < 1.5, "a batch waited \(slowest) s while retention ran")
        let logged = { s.log.lines.contains { $0.contains("retention deleted") && $0.contains("older than 30d") } }
        let until = Date().addingTimeInterval(5)
        while !logged() && Date() < until { Thread.sleep(forTimeInterval: 0.05) }
        #expect(logged(), "\(s.log.lines)")
        print("retention test: \(seq) batches acknowledged while 30,000 alerts were deleted; slowest \(Int(slowest * 1000)) ms")
        try? DerivedCheckBridge.consistent(s.db)
    }
}

/// The derived tables must still add up after the collector's retention (compares the rollup totals).
enum DerivedCheckBridge {
    static func consistent(_ path: String) throws {
        let r = try AlertStore(path: path, readOnly: true)
        let all = try r.query(AlertQuery(limit: 0))
        let stats = try r.stats(AlertQuery())
        #expect(stats.rows == Int64(all.count))
        #expect(stats.alerts == Int64(all.reduce(0) { $0 + $1.count }))
        #expect(try r.count() == all.count)
    }
}
