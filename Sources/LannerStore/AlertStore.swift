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

    let db: SQLite
    private var statements: [String: SQLite.Statement] = [:]
    /// True when the database has the full-text index of outputs (`alerts_fts`; FTS5 in the SQLite library).
    public private(set) var hasTextIndex = false
    /// The schema version of the file as opened.
    public private(set) var fileSchemaVersion = 0

    /// Identical alerts (same host, rule and rendered output) whose event time is within this many nanoseconds
    /// of a row's first alert are folded into that row (its `count` and `last_seen_ns` grow) instead of getting a
    /// row of their own. 0 (the default) stores every alert as a row. Folding remembers the rows this store wrote
    /// (not those another process or an earlier run wrote).
    public var aggregationWindowNs: Int64 = 0 {
        didSet { aggregator = AlertAggregator() }
    }
    private var aggregator = AlertAggregator()

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
            fileSchemaVersion = version
        } else {
            db = try SQLite(path: path, mode: .readWrite, busyTimeoutMilliseconds: Self.busyTimeoutMilliseconds)
            // journal_mode is the first statement that reads the file: a non-database fails here with NOTADB.
            try db.exec("PRAGMA journal_mode = WAL")
            try db.exec("PRAGMA synchronous = NORMAL")
            try Migrations.migrate(db)
            fileSchemaVersion = Migrations.latest
        }
        hasTextIndex = try db.scalarInt("SELECT count(*) FROM sqlite_master WHERE name = 'alerts_fts'") > 0
    }

    /// Throws `.schemaTooOld` when the file predates `version` (a read-only store cannot upgrade it).
    func require(version: Int, for what: String) throws(StoreError) {
        if fileSchemaVersion < version {
            throw .schemaTooOld(path: path, found: fileSchemaVersion, needed: version, what: what)
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
            guard try recordInLedger(sensorID: sensorID, sequence: Int64(bitPattern: sequence), events: Int64(events)) else {
                try run(Self.rollbackSQL)
                return .duplicate
            }
            let ids = try insert(alerts)
            if let sensor { try upsert(sensor) }
            try run(Self.commitSQL)
            aggregator.commit(nowNs: Self.nowNs(), windowNs: aggregationWindowNs)
            return .committed(ids)
        } catch {
            aggregator.rollback()
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
            aggregator.commit(nowNs: Self.nowNs(), windowNs: aggregationWindowNs)
            return ids
        } catch {
            aggregator.rollback()
            if db.inTransaction { try? run(Self.rollbackSQL) }
            throw error
        }
    }

    /// Inserts (or folds, when aggregating) the alerts inside the caller's transaction.
    private func insert(_ alerts: [NewAlert]) throws(StoreError) -> [Int64] {
        var ids: [Int64] = []
        ids.reserveCapacity(alerts.count)
        var tags = ""
        for alert in alerts {
            let fields = try Self.checkedFields(alert)
            if aggregationWindowNs > 0 {
                let key = AlertAggregator.Key(host: alert.host, rule: alert.rule, output: alert.output)
                if let id = aggregator.row(for: key, timeNs: alert.timeNs, windowNs: aggregationWindowNs) {
                    let fold = try statement(Self.foldSQL)
                    defer { fold.reset() }
                    try fold.bind(alert.timeNs, at: 1)
                    try fold.bind(id, at: 2)
                    _ = try fold.step()
                    if db.changes == 1 {
                        ids.append(id)
                        continue
                    }
                    // The row is gone (retention deleted it): store this one as a new row.
                }
                let id = try insertRow(alert, fields: fields, tags: &tags)
                aggregator.inserted(key, id: id, timeNs: alert.timeNs)
                ids.append(id)
            } else {
                ids.append(try insertRow(alert, fields: fields, tags: &tags))
            }
        }
        return ids
    }

    /// Inserts one row (`count` alerts, the last at `lastSeenNs`; by default just this one).
    func insertRow(_ alert: NewAlert, fields: String, tags: inout String, count: Int = 1, lastSeenNs: Int64? = nil)
        throws(StoreError) -> Int64
    {
        let insert = try statement(Self.insertSQL)
        defer { insert.reset() }
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
        try insert.bind(max(lastSeenNs ?? alert.timeNs, alert.timeNs), at: 11)
        try insert.bind(alert.containerName, at: 12)
        try insert.bind(count, at: 13)
        _ = try insert.step()
        return db.lastInsertRowID
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
        try st.bind(r.readFailures, at: 22)
        try st.bind(r.runReadFailures, at: 23)
        _ = try st.step()
    }

    // MARK: Sensors

    /// Every sensor the collector has heard from, most recently seen first.
    /// - Throws: `StoreError.schemaTooOld` for a database no collector of this version has opened yet.
    public func sensors() throws(StoreError) -> [SensorRecord] {
        let version = Int(try db.scalarInt("PRAGMA user_version"))
        if version < 2 { throw .schemaTooOld(path: path, found: version, needed: 2, what: "the sensors table") }
        // A file no collector of schema 5 has opened yet (read-only here) has no read-failure columns: none counted.
        let columns = version < 5 ? Self.sensorColumnsBefore5 + ", 0, 0" : Self.sensorColumns
        let st = try statement("SELECT \(columns) FROM sensors ORDER BY last_seen_ns DESC, sensor_id")
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
            r.readFailures = st.int64(21)
            r.runReadFailures = st.int64(22)
            out.append(r)
        }
        return out
    }

    // MARK: Reading

    /// Number of stored alerts (rows; folded repeats are in their row's `count`).
    public func count() throws(StoreError) -> Int {
        let stmt = try statement(fileSchemaVersion >= 3 ? "SELECT row_count FROM alert_totals WHERE id = 1" : "SELECT count(*) FROM alerts")
        defer { stmt.reset() }
        _ = try stmt.step()
        return Int(stmt.int64(0))
    }

    /// Number of batches in the ledger.
    public func batchCount() throws(StoreError) -> Int {
        let stmt = try statement(fileSchemaVersion >= 4 ? "SELECT coalesce(sum(last_seq - first_seq + 1), 0) FROM batch_runs"
                                                         : "SELECT count(*) FROM batches")
        defer { stmt.reset() }
        _ = try stmt.step()
        return Int(stmt.int64(0))
    }

    // MARK: Internals

    static let columns =
        "id, time_ns, host, sensor_id, rule, priority, source, output, tags, fields, container_id, count, last_seen_ns, container_name"
    static let beginSQL = "BEGIN IMMEDIATE"
    static let commitSQL = "COMMIT"
    static let rollbackSQL = "ROLLBACK"
    /// The run at or before a sequence number: the only one that can hold it, or end just before it.
    private static let ledgerRunAtSQL = """
        SELECT first_seq, last_seq FROM batch_runs WHERE sensor_id = ? AND first_seq <= ? ORDER BY first_seq DESC LIMIT 1
        """
    private static let ledgerNextRunSQL = "SELECT last_seq, events FROM batch_runs WHERE sensor_id = ? AND first_seq = ?"
    private static let ledgerExtendSQL = """
        UPDATE batch_runs SET last_seq = ?3, events = events + ?4, last_received_ns = ?5 WHERE sensor_id = ?1 AND first_seq = ?2
        """
    private static let ledgerInsertSQL = """
        INSERT INTO batch_runs (sensor_id, first_seq, last_seq, events, last_received_ns) VALUES (?, ?, ?, ?, ?)
        """
    private static let ledgerDeleteSQL = "DELETE FROM batch_runs WHERE sensor_id = ? AND first_seq = ?"

    /// Records `(sensorID, sequence)` in the ledger, inside the caller's transaction; false when it was there
    /// already (a duplicate). The ledger holds runs of consecutive sequence numbers (as their 64-bit patterns,
    /// ordered as signed integers: the mapping is one to one, so adjacency and membership are exact): the
    /// sequence joins the run ending just before it, and a run starting just after it joins too.
    /// - Complexity: two or three indexed statements; rows grow with gaps, not with batches.
    private func recordInLedger(sensorID: String, sequence s: Int64, events: Int64) throws(StoreError) -> Bool {
        let now = Self.nowNs()
        var runStart: Int64?   // the run that now holds s
        do {
            let at = try statement(Self.ledgerRunAtSQL)
            defer { at.reset() }
            try at.bind(sensorID, at: 1)
            try at.bind(s, at: 2)
            if try at.step() {
                let first = at.int64(0), last = at.int64(1)
                if last >= s { return false }
                if s != Int64.min, last == s - 1 { runStart = first }
            }
        }
        if let first = runStart {
            try exec(Self.ledgerExtendSQL, sensorID, first, s, events, now)
        } else {
            try exec(Self.ledgerInsertSQL, sensorID, s, s, events, now)
            runStart = s
        }
        guard s != Int64.max else { return true }
        let next = try statement(Self.ledgerNextRunSQL)
        defer { next.reset() }
        try next.bind(sensorID, at: 1)
        try next.bind(s + 1, at: 2)
        if try next.step() {
            let last = next.int64(0), moreEvents = next.int64(1)
            next.reset()
            try exec(Self.ledgerDeleteSQL, sensorID, s + 1)
            try exec(Self.ledgerExtendSQL, sensorID, runStart!, last, moreEvents, now)
        }
        return true
    }

    /// Runs one prepared write statement with text and integer parameters, in order.
    private func exec(_ sql: String, _ sensorID: String, _ ints: Int64...) throws(StoreError) {
        let st = try statement(sql)
        defer { st.reset() }
        try st.bind(sensorID, at: 1)
        for (i, v) in ints.enumerated() { try st.bind(v, at: Int32(i + 2)) }
        _ = try st.step()
    }
    private static let sensorColumnsBefore5 = """
        sensor_id, hostname, sensor_version, boot_id, run_epoch, first_seen_ns, last_seen_ns, batches, events, kernel_drops, \
        user_drops, run_kernel_drops, run_user_drops, reported_kernel_drops, reported_user_drops, drop_window_start_ns, \
        last_drop_alert_ns, window_start_ns, window_events, rate_events, rate_ns
        """
    private static let sensorColumns = sensorColumnsBefore5 + ", read_failures, run_read_failures"
    private static let sensorUpsertSQL = """
        INSERT INTO sensors (\(sensorColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (sensor_id) DO UPDATE SET hostname = excluded.hostname, sensor_version = excluded.sensor_version,
            boot_id = excluded.boot_id, run_epoch = excluded.run_epoch, last_seen_ns = excluded.last_seen_ns,
            batches = excluded.batches, events = excluded.events, kernel_drops = excluded.kernel_drops,
            user_drops = excluded.user_drops, run_kernel_drops = excluded.run_kernel_drops,
            run_user_drops = excluded.run_user_drops, reported_kernel_drops = excluded.reported_kernel_drops,
            reported_user_drops = excluded.reported_user_drops, drop_window_start_ns = excluded.drop_window_start_ns,
            last_drop_alert_ns = excluded.last_drop_alert_ns, window_start_ns = excluded.window_start_ns,
            window_events = excluded.window_events, rate_events = excluded.rate_events, rate_ns = excluded.rate_ns,
            read_failures = excluded.read_failures, run_read_failures = excluded.run_read_failures
        """
    private static let insertSQL = """
        INSERT INTO alerts (time_ns, host, sensor_id, rule, priority, source, output, tags, fields, container_id,
                            last_seen_ns, container_name, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """
    private static let foldSQL = "UPDATE alerts SET count = count + 1, last_seen_ns = max(last_seen_ns, ?) WHERE id = ?"

    /// The cached statement for `sql`, prepared on first use.
    func statement(_ sql: String) throws(StoreError) -> SQLite.Statement {
        if let s = statements[sql] { return s }
        let s = try db.prepare(sql)
        statements[sql] = s
        return s
    }

    /// Runs a cached statement that returns no rows (BEGIN / COMMIT / ROLLBACK).
    func run(_ sql: String) throws(StoreError) {
        let s = try statement(sql)
        defer { s.reset() }
        _ = try s.step()
    }

    func row(_ s: SQLite.Statement) throws(StoreError) -> StoredAlert {
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
                           count: Int(s.int64(11)), lastSeenNs: s.int64(12), containerName: s.optionalString(13))
    }

    /// The alert's fields text, `{}` for empty; refuses text not shaped like a JSON object.
    static func checkedFields(_ alert: NewAlert) throws(StoreError) -> String {
        let utf8 = alert.fieldsJSON.utf8
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        guard let first = utf8.first(where: { !isSpace($0) }) else { return "{}" }
        let last = utf8.reversed().first(where: { !isSpace($0) })
        guard first == UInt8(ascii: "{"), last == UInt8(ascii: "}") else {
            throw .invalidValue("fieldsJSON of an alert for rule '\(alert.rule)' is not a JSON object: \(alert.fieldsJSON.prefix(80))")
        }
        return alert.fieldsJSON
    }

    static func nowNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

@available(*, unavailable)
extension AlertStore: Sendable {}
