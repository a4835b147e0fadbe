import Foundation
import Testing
import LannerCore
@testable import LannerStore

/// Aggregation, retention, migration from schema 2, bulk loading, stats windows, and bad queries, on real files.
@Suite struct StorageTests {
    static let second: Int64 = 1_000_000_000
    static let t0: Int64 = 1_796_000_000 * 1_000_000_000

    // MARK: Aggregation

    @Test func identicalAlertsFoldWithinTheWindow() throws {
        let dir = try TempDir()
        let store = try AlertStore(path: dir.path("a.db"))
        store.aggregationWindowNs = 10 * Self.second
        let s = Self.second, t0 = Self.t0
        // One batch: three identical, one with another output, one from another host, one of another rule.
        let first = try store.commit(sensorID: "s", sequence: 1, events: 6, alerts: [
            alert(t0), alert(t0 + 1 * s), alert(t0 + 2 * s), alert(t0 + 2 * s, output: "other output"),
            alert(t0 + 3 * s, host: "web-2"), alert(t0 + 3 * s, rule: "Other rule"),
        ])
        guard case .committed(let ids) = first else { Issue.record("\(first)"); return }
        #expect(ids[0] == ids[1] && ids[1] == ids[2], "the repeats name the row they folded into")
        #expect(Set(ids).count == 4)
        // Next batch: one more within 10 s of the first (folds), one 11 s after it (a new row).
        guard case .committed(let more) = try store.commit(sensorID: "s", sequence: 2, events: 2,
                                                           alerts: [alert(t0 + 9 * s), alert(t0 + 11 * s)]) else {
            Issue.record("not committed"); return
        }
        #expect(more[0] == ids[0])
        #expect(more[1] != ids[0])
        let row = try #require(try store.alert(id: ids[0]))
        #expect(row.count == 4)
        #expect(row.timeNs == t0)
        #expect(row.lastSeenNs == t0 + 9 * s)
        let next = try #require(try store.alert(id: more[1]))
        #expect(next.count == 1 && next.timeNs == t0 + 11 * s)
        #expect(try store.count() == 5)
        // The count is in list, JSON, stats (alerts vs rows) and the rollups.
        #expect(try store.query(AlertQuery(rule: "Shell in container", host: "web-1")).map(\.count) == [1, 1, 4])
        #expect(row.jsonObject().contains("\"count\":4,\"last_seen\":\"\(StoredAlert.rfc3339(nanoseconds: t0 + 9 * s))\""))
        let stats = try store.stats(AlertQuery())
        #expect(stats.rows == 5 && stats.alerts == 8)
        try DerivedCheck.assertConsistent(store)
    }

    @Test func aggregationIsOffByDefaultAndARolledBackBatchLeavesNothing() throws {
        let dir = try TempDir()
        let store = try AlertStore(path: dir.path("a.db"))
        _ = try store.commit(sensorID: "s", sequence: 1, events: 2, alerts: [alert(Self.t0), alert(Self.t0)])
        #expect(try store.count() == 2, "window 0: every alert is a row")

        store.aggregationWindowNs = 10 * Self.second
        // A batch that fails (bad fields in its last alert) rolls back, and its first alert must not be remembered
        // as a row to fold into.
        #expect(throws: StoreError.self) {
            try store.commit(sensorID: "s", sequence: 2, events: 2, alerts: [alert(Self.t0 + 1, output: "x"), alert(Self.t0, fields: "[1]")])
        }
        guard case .committed(let ids) = try store.commit(sensorID: "s", sequence: 3, events: 1, alerts: [alert(Self.t0 + 2, output: "x")]) else {
            Issue.record("not committed"); return
        }
        let row = try #require(try store.alert(id: ids[0]))
        #expect(row.count == 1 && row.output == "x")
        #expect(try store.count() == 3)
    }

    @Test func aFoldTargetDeletedByRetentionGivesANewRow() throws {
        let dir = try TempDir()
        let path = dir.path("a.db")
        let store = try AlertStore(path: path)
        store.aggregationWindowNs = 60 * Self.second
        guard case .committed(let a) = try store.commit(sensorID: "s", sequence: 1, events: 1, alerts: [alert(Self.t0)]) else { return }
        // Retention (another connection, as in the collector) deletes it.
        let other = try AlertStore(path: path)
        #expect(try other.deleteExpired(RetentionPolicy(maxAgeNs: 0, maxRows: 0 + 1), nowNs: 0, batch: 10).total == 0)
        #expect(try other.deleteExpired(RetentionPolicy(maxAgeNs: 1, maxRows: 0), nowNs: Self.t0 + 10, batch: 10).byAge == 1)
        guard case .committed(let b) = try store.commit(sensorID: "s", sequence: 2, events: 1, alerts: [alert(Self.t0 + 1)]) else { return }
        #expect(b[0] > a[0], "ids are never handed out twice")
        #expect(try store.alert(id: b[0])?.count == 1)
        #expect(try store.count() == 1)
    }

    // MARK: Retention

    @Test func retentionByAgeAndByRowsInBatches() throws {
        let dir = try TempDir()
        let path = dir.path("r.db")
        let store = try AlertStore(path: path)
        let s = Self.second, t0 = Self.t0
        // 300 old alerts (ids 1…300, times t0…t0+299 s), 200 recent ones, each tagged and searchable.
        var alerts: [NewAlert] = []
        for i in 0..<300 { alerts.append(alert(t0 + Int64(i) * s, output: "old \(i) word", tags: ["old"])) }
        for i in 0..<200 { alerts.append(alert(t0 + 100_000 * s + Int64(i) * s, output: "new \(i) word", tags: ["new"])) }
        _ = try store.commit(sensorID: "s", sequence: 1, events: alerts.count, alerts: alerts)

        let byAge = RetentionPolicy(maxAgeNs: 50_000 * s, maxRows: 0)
        let now = t0 + 100_300 * s
        var batches: [Int] = []
        while true {
            let b = try store.deleteExpired(byAge, nowNs: now, batch: 64)
            if b.total == 0 { break }
            batches.append(b.byAge)
        }
        #expect(batches == [64, 64, 64, 64, 44])
        #expect(try store.count() == 200)
        #expect(try store.query(AlertQuery(tag: "old")).isEmpty)
        #expect(try store.query(AlertQuery(text: "old")).isEmpty)
        #expect(try store.query(AlertQuery(text: "word", limit: 0)).count == 200)
        #expect(try store.stats(AlertQuery()).rows == 200)
        try DerivedCheck.assertConsistent(store)

        // By rows: keep the newest 50 by event time.
        let byRows = RetentionPolicy(maxAgeNs: 0, maxRows: 50)
        var deleted = 0
        while case let b = try store.deleteExpired(byRows, nowNs: now, batch: 40), b.total > 0 {
            #expect(b.byCount <= 40)
            deleted += b.byCount
        }
        #expect(deleted == 150)
        let left = try store.query(AlertQuery(limit: 0, newestFirst: false))
        #expect(left.count == 50)
        #expect(left.first?.output == "new 150 word" && left.last?.output == "new 199 word")
        try DerivedCheck.assertConsistent(store)
        #expect(try store.deleteExpired(RetentionPolicy(maxAgeNs: 0, maxRows: 0), nowNs: now, batch: 100) == RetentionBatch())
    }

    // MARK: The batch ledger

    /// The runs the ledger holds for a sensor, as (first, last) sequence numbers.
    static func runs(_ path: String, _ sensor: String) throws -> [[Int64]] {
        let db = try SQLite(path: path, mode: .readOnly, busyTimeoutMilliseconds: 1000)
        let n = try db.scalarInt("SELECT count(*) FROM batch_runs WHERE sensor_id = '\(sensor)'")
        var out: [[Int64]] = []
        for i in 0..<n {
            out.append([try db.scalarInt("SELECT first_seq FROM batch_runs WHERE sensor_id = '\(sensor)' ORDER BY first_seq LIMIT 1 OFFSET \(i)"),
                        try db.scalarInt("SELECT last_seq FROM batch_runs WHERE sensor_id = '\(sensor)' ORDER BY first_seq LIMIT 1 OFFSET \(i)")])
        }
        return out
    }

    /// Consecutive batches are one row however many there are; a gap starts a run, a batch filling the gap joins the
    /// runs on both sides; every sequence committed before is a duplicate, wherever it sits in its run.
    @Test func theLedgerKeepsRunsAndStillRefusesEveryDuplicate() throws {
        let dir = try TempDir()
        let path = dir.path("l.db")
        let store = try AlertStore(path: path)
        let epoch: UInt64 = 3 << 32
        for n in 1...500 { #expect(try store.commit(sensorID: "s", sequence: epoch | UInt64(n), events: 2, alerts: []) == .committed([])) }
        #expect(try Self.runs(path, "s") == [[Int64(epoch | 1), Int64(epoch | 500)]])
        for n in [1, 250, 500] as [UInt64] { #expect(try store.commit(sensorID: "s", sequence: epoch | n, events: 2, alerts: []) == .duplicate) }
        // 501 dropped by the sensor: 502... start a second run; the next epoch a third.
        for n in 502...504 { _ = try store.commit(sensorID: "s", sequence: epoch | UInt64(n), events: 1, alerts: []) }
        _ = try store.commit(sensorID: "s", sequence: (4 << 32) | 1, events: 1, alerts: [])
        #expect(try Self.runs(path, "s") == [[Int64(epoch | 1), Int64(epoch | 500)], [Int64(epoch | 502), Int64(epoch | 504)],
                                             [Int64((4 << 32) | 1), Int64((4 << 32) | 1)]])
        // 501 arriving late (out of order) joins the two runs into one.
        #expect(try store.commit(sensorID: "s", sequence: epoch | 501, events: 1, alerts: [alert(1)]) == .committed([1]))
        #expect(try Self.runs(path, "s") == [[Int64(epoch | 1), Int64(epoch | 504)], [Int64((4 << 32) | 1), Int64((4 << 32) | 1)]])
        #expect(try store.commit(sensorID: "s", sequence: epoch | 501, events: 1, alerts: [alert(2)]) == .duplicate)
        #expect(try store.batchCount() == 505)
        let db = try SQLite(path: path, mode: .readOnly, busyTimeoutMilliseconds: 1000)
        #expect(try db.scalarInt("SELECT events FROM batch_runs WHERE sensor_id = 's' ORDER BY first_seq LIMIT 1") == 500 * 2 + 1 + 3)
        // Another sensor's same numbers are its own; the ends of the 64-bit range are exact.
        #expect(try store.commit(sensorID: "t", sequence: epoch | 250, events: 1, alerts: []) == .committed([]))
        for seq in [UInt64.max, 0, UInt64(Int64.max), UInt64(Int64.max) + 1] {
            #expect(try store.commit(sensorID: "u", sequence: seq, events: 1, alerts: []) == .committed([]), "\(seq)")
            #expect(try store.commit(sensorID: "u", sequence: seq, events: 1, alerts: []) == .duplicate, "\(seq)")
        }
        #expect(try store.commit(sensorID: "u", sequence: 1, events: 1, alerts: []) == .committed([]))
        #expect(try store.commit(sensorID: "u", sequence: UInt64.max - 1, events: 1, alerts: []) == .committed([]))
        #expect(try Self.runs(path, "u") == [[Int64.min, Int64.min], [-2, 1], [Int64.max, Int64.max]])
    }

    /// A schema-3 file's ledger (a row per batch) is folded into runs when the collector opens it; what it held
    /// is still refused as a duplicate and new batches extend its runs.
    @Test func schemaThreeLedgerIsFoldedIntoRuns() throws {
        let dir = try TempDir()
        let path = dir.path("v3.db")
        do {
            let db = try SQLite(path: path, mode: .readWrite, busyTimeoutMilliseconds: 1000)
            for step in Migrations.all.prefix(3) { try step.apply(db) }
            try db.exec("PRAGMA user_version = 3")
            let rows = [(1, 10), (2, 20), (3, 30), (7, 70), (8, 80), (20, 200)].map { "('s', \($0.0), \($0.1), 5)" }
            try db.exec("INSERT INTO batches (sensor_id, sequence, received_ns, events) VALUES " + rows.joined(separator: ", ")
                        + ", ('t', 1, 1, 1)")
        }
        let store = try AlertStore(path: path)
        #expect(store.fileSchemaVersion == 5)
        #expect(try Self.runs(path, "s") == [[1, 3], [7, 8], [20, 20]])
        #expect(try Self.runs(path, "t") == [[1, 1]])
        #expect(try store.batchCount() == 7)
        for seq in [1, 2, 3, 7, 8, 20] as [UInt64] { #expect(try store.commit(sensorID: "s", sequence: seq, events: 1, alerts: []) == .duplicate) }
        #expect(try store.commit(sensorID: "s", sequence: 4, events: 1, alerts: []) == .committed([]))
        #expect(try store.commit(sensorID: "s", sequence: 6, events: 1, alerts: []) == .committed([]))
        #expect(try store.commit(sensorID: "s", sequence: 5, events: 1, alerts: []) == .committed([]))
        #expect(try Self.runs(path, "s") == [[1, 8], [20, 20]])
        let db = try SQLite(path: path, mode: .readOnly, busyTimeoutMilliseconds: 1000)
        #expect(try db.scalarInt("SELECT events FROM batch_runs WHERE sensor_id = 's' AND first_seq = 1") == 5 * 5 + 3)
        #expect(try db.scalarInt("SELECT count(*) FROM sqlite_master WHERE name = 'batches'") == 0)
    }

    // MARK: Migration and bulk loading

    /// Schema 5 adds the sensors' kernel read failures. A schema-4 file read by this version's CLI (its collector not
    /// upgraded yet) shows none; opened by a collector, its rows are kept and the new counters are stored.
    @Test func schemaFourSensorsGainReadFailures() throws {
        let dir = try TempDir()
        let path = dir.path("v4.db")
        do {
            let db = try SQLite(path: path, mode: .readWrite, busyTimeoutMilliseconds: 1000)
            for step in Migrations.all.prefix(4) { try step.apply(db) }
            try db.exec("PRAGMA user_version = 4")
            try db.exec("""
                INSERT INTO sensors (sensor_id, hostname, sensor_version, boot_id, run_epoch, first_seen_ns, last_seen_ns, batches,
                                     events, kernel_drops, drop_window_start_ns, window_start_ns)
                VALUES ('s1', 'web-1', '0.1.0', 'b', 3, 10, 20, 2, 40, 7, 10, 10)
                """)
        }
        let old = try AlertStore(path: path, readOnly: true).sensors()
        #expect(old.count == 1 && old[0].kernelDrops == 7 && old[0].events == 40)
        #expect(old[0].readFailures == 0 && old[0].runReadFailures == 0)

        let store = try AlertStore(path: path)
        #expect(store.fileSchemaVersion == 5)
        var r = try #require(try store.sensors().first)
        #expect(r == old[0])
        r.readFailures = 12
        r.runReadFailures = 5
        r.batches = 3
        _ = try store.commit(sensorID: "s1", sequence: 3 << 32 | 9, events: 0, alerts: [], sensor: r)
        #expect(try AlertStore(path: path, readOnly: true).sensors() == [r])
    }

    /// A database written by the previous version (schema 2) is upgraded when the collector opens it: its alerts
    /// get tags, counts and text index entries, and every query works on them.
    @Test func schemaTwoIsUpgradedWithItsAlerts() throws {
        let dir = try TempDir()
        let path = dir.path("v2.db")
        do {
            let db = try SQLite(path: path, mode: .readWrite, busyTimeoutMilliseconds: 1000)
            for step in Migrations.all.prefix(2) { try step.apply(db) }
            try db.exec("PRAGMA user_version = 2")
            try db.exec("""
                INSERT INTO alerts (time_ns, host, sensor_id, rule, priority, output, tags, fields, container_id, count, last_seen_ns)
                VALUES (10, 'h1', 's', 'Old rule', 4, 'opened /etc/shadow', '["filesystem","old"]', '{}', NULL, 1, 10),
                       (20, 'h2', 's', 'Old rule', 2, 'ran bash', '["shell"]', '{}', 'abcdefabcdef', 3, 25)
                """)
        }
        #expect(throws: StoreError.schemaTooOld(path: path, found: 2, needed: 3, what: "alert queries")) {
            try AlertStore(path: path, readOnly: true).query(AlertQuery())
        }
        let store = try AlertStore(path: path)
        #expect(store.fileSchemaVersion == 5)
        #expect(try store.query(AlertQuery(tag: "old")).map(\.timeNs) == [10])
        #expect(try store.query(AlertQuery(text: "etc/shadow")).map(\.timeNs) == [10])
        #expect(try store.query(AlertQuery(container: "abcdefabcdef")).map(\.count) == [3])
        #expect(try store.count() == 2)
        let stats = try store.stats(AlertQuery())
        #expect(stats.rows == 2 && stats.alerts == 4)
        try DerivedCheck.assertConsistent(store)
        // New alerts land beside them.
        _ = try store.commit(sensorID: "s", sequence: 1, events: 1, alerts: [alert(30, output: "more bash")])
        #expect(try store.query(AlertQuery(text: "bash")).map(\.timeNs) == [30, 20])
    }

    @Test func bulkInsertEqualsCommit() throws {
        let dir = try TempDir()
        let a = try AlertStore(path: dir.path("a.db")), b = try AlertStore(path: dir.path("b.db"))
        var rng = TestRng(3)
        var rows: [ImportedAlert] = []
        for i in 0..<500 {
            let t = Self.t0 + Int64(rng.below(100_000)) * Self.second
            rows.append(ImportedAlert(alert(t, rule: "R\(i % 7)", host: "h\(i % 3)", output: "out \(i % 11) word\(i % 5)",
                                            tags: ["t\(i % 4)", "all"], container: i % 2 == 0 ? "0123456789ab" : nil)))
        }
        _ = try a.commit(sensorID: "s", sequence: 1, events: rows.count, alerts: rows.map(\.alert))
        let range = try #require(try b.bulkInsert(rows))
        #expect(range == 1...500)
        try DerivedCheck.assertConsistent(b)
        for q in [AlertQuery(limit: 0), AlertQuery(rule: "R3", limit: 0), AlertQuery(tag: "t2", limit: 0), AlertQuery(text: "word3", limit: 0),
                  AlertQuery(since: Self.t0 + 50_000 * Self.second, host: "h1", container: "host", limit: 0)] {
            #expect(try a.query(q) == b.query(q), "\(q)")
            #expect(try a.stats(q) == b.stats(q), "\(q)")
        }
        // After a bulk load the triggers are back: a normal commit keeps the derived tables exact.
        _ = try b.commit(sensorID: "s", sequence: 1, events: 1, alerts: [alert(Self.t0, tags: ["late"])])
        try DerivedCheck.assertConsistent(b)
        #expect(throws: StoreError.self) { try b.bulkInsert([ImportedAlert(alert(1), count: 0)]) }
        #expect(try b.count() == 501)
    }

    // MARK: Stats windows

    /// Windows that start and end inside hours and days: the rollup parts and the raw edges add up exactly.
    @Test func statsOverAnyWindowEqualTheReference() throws {
        let dir = try TempDir()
        let store = try AlertStore(path: dir.path("s.db"))
        var rng = TestRng(11)
        var alerts: [ImportedAlert] = []
        let base = Self.t0 - Self.t0 % DerivedTables.dayNs
        for i in 0..<4000 {
            let t = base + Int64(rng.below(5 * 86_400)) * Self.second + Int64(rng.below(1_000_000_000))
            alerts.append(ImportedAlert(alert(t, rule: "R\(rng.below(6))", host: "h\(rng.below(4))",
                                              priority: Priority(rawValue: rng.below(8))!, output: "o\(i)"),
                                        count: 1 + rng.below(3)))
        }
        try store.bulkInsert(alerts)
        let ref = Reference(rows: try store.query(AlertQuery(limit: 0)))
        let h = DerivedTables.hourNs, d = DerivedTables.dayNs
        let windows: [(Int64?, Int64?)] = [
            (nil, nil), (base, nil), (nil, base + 2 * d), (base + 3 * h + 17, base + 3 * h + 999), (base + d - 5, base + 3 * d + 7),
            (base + 7 * h, base + 30 * h), (base + 2 * h, base + 3 * h), (base + d, base + 2 * d), (base + 36 * h + 1, nil),
            (base - 10 * d, base + 10 * d), (Int64.min, Int64.max), (base + 2 * d + 1, base + 2 * d + 2), (base + h + 5, nil),
            (nil, base + 4 * d + 3 * h + 1), (base + 10 * h + 1, base + 11 * h - 2), (base + 5 * h + 3, base + 23 * h),
            (base + 2 * d + 20 * h, base + 3 * d + 22 * h + 59), (base + d, base + d + 1),
        ] + (0..<60).map { _ -> (Int64?, Int64?) in
            let a = base - d + Int64(rng.below(7 * 86_400)) * Self.second + Int64(rng.below(1000))
            let b = a + Int64(rng.below(3 * 86_400)) * Self.second + 1
            return (rng.below(8) == 0 ? nil : a, rng.below(8) == 0 ? nil : b)
        }
        for (since, until) in windows {
            for q in [AlertQuery(since: since, until: until), AlertQuery(since: since, until: until, rule: "R*", minPriority: .warning),
                      AlertQuery(since: since, until: until, host: "h2"), AlertQuery(since: since, until: until, rule: "R1")] {
                #expect(try store.stats(q) == ref.stats(q), "\(q)")
            }
        }
    }

    // MARK: Bad input

    @Test func badQueriesSayWhy() throws {
        let dir = try TempDir()
        let store = try AlertStore(path: dir.path("b.db"))
        _ = try store.commit(sensorID: "s", sequence: 1, events: 1, alerts: [alert(5)])
        for text in ["", "   ", "/", "-- ***"] {
            let e = try #require(throws: StoreError.self) { try store.query(AlertQuery(text: text)) }
            #expect("\(e)".contains("search"), "\(e)")
        }
        #expect(try store.query(AlertQuery(text: "\"quoted\" OR NOT")).isEmpty, "FTS syntax in the text is taken literally")
        #expect(try store.query(AlertQuery(since: 10, until: 10)).isEmpty)
        #expect(try store.query(AlertQuery(rule: "no such*")).isEmpty)
        #expect(try store.alert(id: 999) == nil)
        // The columns the derived tables follow cannot change under them.
        let e = try #require(throws: StoreError.self) { try store.db.exec("UPDATE alerts SET rule = 'x'") }
        #expect("\(e)".contains("stored alerts cannot change"))
    }
}
