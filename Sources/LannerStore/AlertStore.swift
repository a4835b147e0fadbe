import LannerCore
#if canImport(Glibc)
import Glibc
#endif

/// The collector's alert database: an SQLite file in WAL mode holding `alerts` and the `batches` ledger.
///
/// One writer (the collector) and any number of readers (CLI, API) can use the same file at once: readers never
/// block the writer and see only whole committed batches; a busy timeout covers the short moments SQLite needs an
/// exclusive lock (checkpoints, recovery).
///
/// An `AlertStore` wraps one SQLite connection and caches its prepared statements, so it is used from one thread
/// at a time; open one per thread.
///
/// ```swift
/// let store = try AlertStore(path: "/var/lib/lanner/alerts.db")
/// switch try store.commit(sensorID: "web-1", sequence: 42, events: 900, alerts: alerts) {
/// case .committed(let ids): print("stored", ids.count)
/// case .duplicate: print("batch 42 was already stored")
/// }
/// let recent = try AlertStore(path: path, readOnly: true).query(AlertQuery(minPriority: .warning, limit: 20))
/// ```
public final class AlertStore {
    /// The database file.
    public let path: String
    /// True when opened with `readOnly: true`.
    public let isReadOnly: Bool

    private let db: SQLite
    private var statements: [String: SQLite.Statement] = [:]

    /// Milliseconds a statement waits for a lock before failing with `SQLITE_BUSY`.
    static let busyTimeoutMilliseconds: Int32 = 5_000

    /// Opens the alert database at `path`.
    ///
    /// - Parameters:
    ///   - path: The database file. A writable store creates the file (not its directory) when missing.
    ///   - readOnly: Open without writing: no file creation, no migration.
    /// - Throws: `StoreError.fileMissing` (read-only, no file), `.schemaMissing` (read-only, file never
    ///   initialised), `.schemaTooNew`, or `.sqlite` — e.g. `SQLITE_NOTADB` for a file that is not a database,
    ///   `SQLITE_CANTOPEN` when the directory does not exist.
    public init(path: String, readOnly: Bool = false) throws(StoreError) {
        self.path = path
        self.isReadOnly = readOnly
        if readOnly {
            guard access(path, F_OK) == 0 else { throw .fileMissing(path: path) }
            db = try SQLite(path: path, mode: .readOnly, busyTimeoutMilliseconds: Self.busyTimeoutMilliseconds)
            let version = Int(try db.scalarInt("PRAGMA user_version"))
            if version == 0 { throw .schemaMissing(path: path) }
            if version > Migrations.latest {
                throw .schemaTooNew(path: path, found: version, supported: Migrations.latest)
            }
        } else {
            db = try SQLite(path: path, mode: .readWrite, busyTimeoutMilliseconds: Self.busyTimeoutMilliseconds)
            // journal_mode is the first statement that reads the file: a non-database fails here with NOTADB.
            try db.exec("PRAGMA journal_mode = WAL")
            try db.exec("PRAGMA synchronous = NORMAL")
            try Migrations.migrate(db)
        }
    }

    /// Finalizes the prepared statements and closes the database now, rather than when the store is released
    /// (a process that exits without releasing it leaves the -wal and -shm files behind). Do not use the store
    /// afterwards.
    public func close() {
        statements.removeAll()
        db.close()
    }

    /// The schema version this build reads and writes.
    public static var schemaVersion: Int { Migrations.latest }

    // MARK: Writing

    /// Commits one ingested batch atomically: records `(sensorID, sequence)` in the `batches` ledger and inserts
    /// the alerts, in one transaction.
    ///
    /// - Parameters:
    ///   - sensorID: The sending sensor.
    ///   - sequence: The batch's sequence number from that sensor (stored as its 64-bit pattern).
    ///   - events: How many events the batch carried (ledger bookkeeping).
    ///   - alerts: The alerts the batch produced; may be empty (the batch is still recorded).
    /// - Returns: `.committed(ids)` with one row id per alert, in order; `.duplicate` when that
    ///   `(sensorID, sequence)` was committed before, in which case nothing is written.
    /// - Throws: `StoreError`; on any error the transaction is rolled back and nothing is written, so the same
    ///   batch can be committed again later.
    /// - Complexity: O(alerts), with statements prepared once per store.
    ///   - sensor: The sensor's row after this batch (`sensors` table), written in the same transaction; nil
    ///     leaves the table alone.
    public func commit(sensorID: String, sequence: UInt64, events: Int, alerts: [NewAlert], sensor: SensorRecord? = nil)
        throws(StoreError) -> CommitResult
    {
        try run(Self.beginSQL)
        do {
            let ledger = try statement(Self.ledgerSQL)
            defer { ledger.reset() }
            try ledger.bind(sensorID, at: 1)
            try ledger.bind(Int64(bitPattern: sequence), at: 2)
            try ledger.bind(Self.nowNs(), at: 3)
            try ledger.bind(events, at: 4)
            _ = try ledger.step()
            if db.changes == 0 {
                try run(Self.rollbackSQL)
                return .duplicate
            }
            let ids = try insert(alerts)
            if let sensor { try upsert(sensor) }
            try run(Self.commitSQL)
            return .committed(ids)
        } catch {
            if db.inTransaction { try? run(Self.rollbackSQL) }
            throw error
        }
    }

    /// Stores alerts the collector raises itself (not from a batch: e.g. a drop alert whose rate limit expired)
    /// together with sensor rows, in one transaction.
    /// - Returns: the alerts' row ids, in order.
    @discardableResult
    public func commitInternal(alerts: [NewAlert], sensors: [SensorRecord]) throws(StoreError) -> [Int64] {
        try run(Self.beginSQL)
        do {
            let ids = try insert(alerts)
            for s in sensors { try upsert(s) }
            try run(Self.commitSQL)
            return ids
        } catch {
            if db.inTransaction { try? run(Self.rollbackSQL) }
            throw error
        }
    }

    private func insert(_ alerts: [NewAlert]) throws(StoreError) -> [Int64] {
            let insert = try statement(Self.insertSQL)
            var ids: [Int64] = []
            ids.reserveCapacity(alerts.count)
            var tags = ""
            for alert in alerts {
                defer { insert.reset() }
                let fields = try Self.checkedFields(alert)
                tags.removeAll(keepingCapacity: true)
                TagCoding.append(alert.tags, to: &tags)
                try insert.bind(alert.timeNs, at: 1)
                try insert.bind(alert.host, at: 2)
                try insert.bind(alert.sensorID, at: 3)
                try insert.bind(alert.rule, at: 4)
                try insert.bind(alert.priority.rawValue, at: 5)
                try insert.bind(alert.source, at: 6)
                try insert.bind(alert.output, at: 7)
                try insert.bind(tags, at: 8)
                try insert.bind(fields, at: 9)
                try insert.bind(alert.containerID, at: 10)
                try insert.bind(alert.timeNs, at: 11)
                _ = try insert.step()
                ids.append(db.lastInsertRowID)
            }
            return ids
    }

    private func upsert(_ r: SensorRecord) throws(StoreError) {
        let st = try statement(Self.sensorUpsertSQL)
        defer { st.reset() }
        try st.bind(r.sensorID, at: 1)
        try st.bind(r.hostname, at: 2)
        try st.bind(r.sensorVersion, at: 3)
        try st.bind(r.bootID, at: 4)
        let ints: [Int64] = [r.runEpoch, r.firstSeenNs, r.lastSeenNs, r.batches, r.events, r.kernelDrops, r.userDrops,
                             r.runKernelDrops, r.runUserDrops, r.reportedKernelDrops, r.reportedUserDrops, r.dropWindowStartNs]
        for (i, v) in ints.enumerated() { try st.bind(v, at: Int32(5 + i)) }
        if let t = r.lastDropAlertNs { try st.bind(t, at: 17) } else { try st.bind(nil as String?, at: 17) }
        try st.bind(r.windowStartNs, at: 18)
        try st.bind(r.windowEvents, at: 19)
        try st.bind(r.rateEvents, at: 20)
        try st.bind(r.rateNs, at: 21)
        _ = try st.step()
    }

    // MARK: Sensors

    /// Every sensor the collector has heard from, most recently seen first.
    /// - Throws: `StoreError.schemaTooOld` for a database no collector of this version has opened yet.
    public func sensors() throws(StoreError) -> [SensorRecord] {
        let version = Int(try db.scalarInt("PRAGMA user_version"))
        if version < 2 { throw .schemaTooOld(path: path, found: version, needed: 2, what: "the sensors table") }
        let st = try statement("SELECT \(Self.sensorColumns) FROM sensors ORDER BY last_seen_ns DESC, sensor_id")
        defer { st.reset() }
        var out: [SensorRecord] = []
        while try st.step() {
            var r = SensorRecord(sensorID: st.string(0), hostname: st.string(1), sensorVersion: st.string(2), bootID: st.string(3),
                                 runEpoch: st.int64(4), nowNs: st.int64(5))
            r.lastSeenNs = st.int64(6)
            r.batches = st.int64(7)
            r.events = st.int64(8)
            r.kernelDrops = st.int64(9)
            r.userDrops = st.int64(10)
            r.runKernelDrops = st.int64(11)
            r.runUserDrops = st.int64(12)
            r.reportedKernelDrops = st.int64(13)
            r.reportedUserDrops = st.int64(14)
            r.dropWindowStartNs = st.int64(15)
            r.lastDropAlertNs = st.isNull(16) ? nil : st.int64(16)
            r.windowStartNs = st.int64(17)
            r.windowEvents = st.int64(18)
            r.rateEvents = st.int64(19)
            r.rateNs = st.int64(20)
            out.append(r)
        }
        return out
    }

    // MARK: Reading

    /// The alerts matching `q`, ordered by event time (then id) as `q.newestFirst` says.
    ///
    /// Each query shape (which filters are set) is prepared once and reused. The whole result is read from one
    /// snapshot, so a concurrent commit is either entirely in it or not at all.
    public func query(_ q: AlertQuery) throws(StoreError) -> [StoredAlert] {
        var sql = "SELECT \(Self.columns) FROM alerts"
        var clauses: [String] = []
        if q.since != nil { clauses.append("time_ns >= ?") }
        if q.until != nil { clauses.append("time_ns < ?") }
        // A name with glob characters is a pattern unless some stored alert has exactly that rule name:
        // the exact name wins, so every rule can be selected by its name.
        if q.rule != nil {
            clauses.append(q.ruleIsPattern ? "(rule = ? OR (NOT EXISTS (SELECT 1 FROM alerts WHERE rule = ?) AND rule GLOB ?))" : "rule = ?")
        }
        if q.minPriority != nil { clauses.append("priority <= ?") }
        if q.host != nil { clauses.append("host = ?") }
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += q.newestFirst ? " ORDER BY time_ns DESC, id DESC" : " ORDER BY time_ns ASC, id ASC"
        sql += " LIMIT ?"

        let stmt = try statement(sql)
        defer { stmt.reset() }
        var index: Int32 = 1
        if let since = q.since { try stmt.bind(since, at: index); index += 1 }
        if let until = q.until { try stmt.bind(until, at: index); index += 1 }
        if let rule = q.rule {
            for _ in 0..<(q.ruleIsPattern ? 3 : 1) { try stmt.bind(rule, at: index); index += 1 }
        }
        if let p = q.minPriority { try stmt.bind(p.rawValue, at: index); index += 1 }
        if let host = q.host { try stmt.bind(host, at: index); index += 1 }
        try stmt.bind(q.limit > 0 ? Int64(q.limit) : -1, at: index)

        var rows: [StoredAlert] = []
        if q.limit > 0 { rows.reserveCapacity(min(q.limit, 1024)) }
        while try stmt.step() {
            rows.append(try row(stmt))
        }
        return rows
    }

    /// Number of stored alerts.
    public func count() throws(StoreError) -> Int {
        let stmt = try statement("SELECT count(*) FROM alerts")
        defer { stmt.reset() }
        _ = try stmt.step()
        return Int(stmt.int64(0))
    }

    /// Number of batches in the ledger.
    public func batchCount() throws(StoreError) -> Int {
        let stmt = try statement("SELECT count(*) FROM batches")
        defer { stmt.reset() }
        _ = try stmt.step()
        return Int(stmt.int64(0))
    }

    // MARK: Internals

    private static let columns =
        "id, time_ns, host, sensor_id, rule, priority, source, output, tags, fields, container_id, count, last_seen_ns"
    private static let beginSQL = "BEGIN IMMEDIATE"
    private static let commitSQL = "COMMIT"
    private static let rollbackSQL = "ROLLBACK"
    private static let ledgerSQL = """
        INSERT INTO batches (sensor_id, sequence, received_ns, events) VALUES (?, ?, ?, ?)
        ON CONFLICT (sensor_id, sequence) DO NOTHING
        """
    private static let sensorColumns = """
        sensor_id, hostname, sensor_version, boot_id, run_epoch, first_seen_ns, last_seen_ns, batches, events, kernel_drops, \
        user_drops, run_kernel_drops, run_user_drops, reported_kernel_drops, reported_user_drops, drop_window_start_ns, \
        last_drop_alert_ns, window_start_ns, window_events, rate_events, rate_ns
        """
    private static let sensorUpsertSQL = """
        INSERT INTO sensors (\(sensorColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (sensor_id) DO UPDATE SET hostname = excluded.hostname, sensor_version = excluded.sensor_version,
            boot_id = excluded.boot_id, run_epoch = excluded.run_epoch, last_seen_ns = excluded.last_seen_ns,
            batches = excluded.batches, events = excluded.events, kernel_drops = excluded.kernel_drops,
            user_drops = excluded.user_drops, run_kernel_drops = excluded.run_kernel_drops,
            run_user_drops = excluded.run_user_drops, reported_kernel_drops = excluded.reported_kernel_drops,
            reported_user_drops = excluded.reported_user_drops, drop_window_start_ns = excluded.drop_window_start_ns,
            last_drop_alert_ns = excluded.last_drop_alert_ns, window_start_ns = excluded.window_start_ns,
            window_events = excluded.window_events, rate_events = excluded.rate_events, rate_ns = excluded.rate_ns
        """
    private static let insertSQL = """
        INSERT INTO alerts (time_ns, host, sensor_id, rule, priority, source, output, tags, fields, container_id,
                            last_seen_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// The cached statement for `sql`, prepared on first use.
    private func statement(_ sql: String) throws(StoreError) -> SQLite.Statement {
        if let s = statements[sql] { return s }
        let s = try db.prepare(sql)
        statements[sql] = s
        return s
    }

    /// Runs a cached statement that returns no rows (BEGIN / COMMIT / ROLLBACK).
    private func run(_ sql: String) throws(StoreError) {
        let s = try statement(sql)
        defer { s.reset() }
        _ = try s.step()
    }

    private func row(_ s: SQLite.Statement) throws(StoreError) -> StoredAlert {
        let rawPriority = Int(s.int64(5))
        guard let priority = Priority(rawValue: rawPriority) else {
            throw .invalidValue("alert \(s.int64(0)) in \(path) has priority \(rawPriority), outside 0...7")
        }
        let tagText = s.string(8)
        guard let tags = TagCoding.decode(tagText) else {
            throw .invalidValue("alert \(s.int64(0)) in \(path) has tags that are not a JSON array of strings: \(tagText)")
        }
        return StoredAlert(id: s.int64(0), timeNs: s.int64(1), host: s.string(2), sensorID: s.string(3),
                           rule: s.string(4), priority: priority, source: s.string(6), output: s.string(7),
                           tags: tags, fieldsJSON: s.string(9), containerID: s.optionalString(10),
                           count: Int(s.int64(11)), lastSeenNs: s.int64(12))
    }

    /// The alert's fields text, `{}` for empty; refuses text not shaped like a JSON object.
    private static func checkedFields(_ alert: NewAlert) throws(StoreError) -> String {
        let utf8 = alert.fieldsJSON.utf8
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        guard let first = utf8.first(where: { !isSpace($0) }) else { return "{}" }
        let last = utf8.reversed().first(where: { !isSpace($0) })
        guard first == UInt8(ascii: "{"), last == UInt8(ascii: "}") else {
            throw .invalidValue("fieldsJSON of an alert for rule '\(alert.rule)' is not a JSON object: \(alert.fieldsJSON.prefix(80))")
        }
        return alert.fieldsJSON
    }

    private static func nowNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

@available(*, unavailable)
extension AlertStore: Sendable {}
