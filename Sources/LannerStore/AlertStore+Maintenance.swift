/// How long and how many alerts the database keeps (`retention:` in collector.yaml).
public struct RetentionPolicy: Sendable, Equatable {
    /// Alerts whose event time is older than this many nanoseconds are deleted; 0 keeps them regardless of age.
    public var maxAgeNs: Int64
    /// At most this many rows are kept, the oldest (by event time) go first; 0 keeps any number.
    public var maxRows: Int

    public init(maxAgeNs: Int64, maxRows: Int) {
        self.maxAgeNs = maxAgeNs
        self.maxRows = maxRows
    }

    /// True when the policy deletes nothing, ever.
    public var keepsEverything: Bool { maxAgeNs <= 0 && maxRows <= 0 }
}

/// What one `AlertStore.deleteExpired` call removed.
public struct RetentionBatch: Sendable, Equatable {
    public var byAge = 0
    public var byCount = 0
    public var total: Int { byAge + byCount }
    public init(byAge: Int = 0, byCount: Int = 0) {
        self.byAge = byAge
        self.byCount = byCount
    }
}

extension AlertStore {
    /// Deletes at most `batch` alerts the policy says must go, oldest first, in one short transaction (so the
    /// collector's ingest, which writes the same file, waits at most for one batch). Call it again until it
    /// returns an empty batch.
    ///
    /// - Parameters:
    ///   - nowNs: The current time (ns since the epoch); alerts with event time before `nowNs − maxAgeNs` are due.
    ///   - batch: At most this many rows per call (the triggers also delete their tags, text index entries and
    ///     counts, so one row costs several B-tree writes).
    public func deleteExpired(_ policy: RetentionPolicy, nowNs: Int64, batch: Int) throws(StoreError) -> RetentionBatch {
        try require(version: 3, for: "retention")
        guard batch > 0, !policy.keepsEverything else { return RetentionBatch() }
        try run(Self.beginSQL)
        do {
            var done = RetentionBatch()
            if policy.maxAgeNs > 0 {
                let (cutoff, overflow) = nowNs.subtractingReportingOverflow(policy.maxAgeNs)
                if !overflow {
                    let st = try statement("""
                        DELETE FROM alerts WHERE id IN (SELECT id FROM alerts INDEXED BY alerts_time WHERE time_ns < ?
                                                        ORDER BY time_ns LIMIT ?)
                        """)
                    defer { st.reset() }
                    try st.bind(cutoff, at: 1)
                    try st.bind(batch, at: 2)
                    _ = try st.step()
                    done.byAge = db.changes
                }
            }
            if policy.maxRows > 0 && done.byAge < batch {
                let excess = try count() - policy.maxRows
                if excess > 0 {
                    let st = try statement("""
                        DELETE FROM alerts WHERE id IN (SELECT id FROM alerts INDEXED BY alerts_time ORDER BY time_ns, id LIMIT ?)
                        """)
                    defer { st.reset() }
                    try st.bind(min(excess, batch - done.byAge), at: 1)
                    _ = try st.step()
                    done.byCount = db.changes
                }
            }
            if done.total > 0 {
                // Blocks whose ids are all gone; the others keep their (now conservative) bounds.
                try run("DELETE FROM alert_blocks WHERE block < (SELECT coalesce(min(id), 9223372036854775807) FROM alerts) >> \(DerivedTables.blockShift)")
            }
            try run(Self.commitSQL)
            return done
        } catch {
            if db.inTransaction { try? run(Self.rollbackSQL) }
            throw error
        }
    }

    /// Lets SQLite refresh its planner statistics where they are stale (`PRAGMA optimize`, sampling at most a
    /// few hundred rows per index so it stays cheap on a large file).
    public func optimize() throws(StoreError) {
        try db.exec("PRAGMA analysis_limit = 400; PRAGMA optimize;")
    }

    /// Sets the page cache of this connection (SQLite's default is 2 MiB): large loads and benchmarks.
    public func setCacheSize(mebibytes: Int) throws(StoreError) {
        try db.exec("PRAGMA cache_size = -\(max(1, mebibytes) * 1024)")
    }

    /// Loads many alerts at once (imports, the query benchmark's 10-million-row database): one transaction in which
    /// the derived tables are filled in bulk for the new rows instead of row by row. No aggregation, no ledger.
    /// - Returns: the new rows' ids, or nil when `rows` is empty.
    /// - Throws: `StoreError`; nothing is written then.
    @discardableResult
    public func bulkInsert(_ rows: [ImportedAlert]) throws(StoreError) -> ClosedRange<Int64>? {
        guard !rows.isEmpty else { return nil }
        try require(version: 3, for: "bulk loading")
        try run(Self.beginSQL)
        do throws(StoreError) {
            let before = try lastID()
            try db.exec(DerivedTables.dropTriggers)
            var tags = ""
            var first: Int64 = 0, last: Int64 = 0
            for (i, row) in rows.enumerated() {
                guard row.count >= 1 else { throw StoreError.invalidValue("imported alert \(i) has count \(row.count); it must be at least 1") }
                last = try insertRow(row.alert, fields: try Self.checkedFields(row.alert), tags: &tags, count: row.count,
                                     lastSeenNs: row.lastSeenNs)
                if i == 0 { first = last }
            }
            try DerivedTables.backfill(db, afterID: before, fts: hasTextIndex)
            try db.exec(DerivedTables.triggers(fts: hasTextIndex))
            try run(Self.commitSQL)
            return first...last
        } catch {
            if db.inTransaction { try? run(Self.rollbackSQL) }
            throw error
        }
    }
}

/// A row for `AlertStore.bulkInsert`: an alert and how many it stands for.
public struct ImportedAlert: Sendable, Equatable {
    public var alert: NewAlert
    /// At least 1.
    public var count: Int
    /// When the last of them happened (at least `alert.timeNs`).
    public var lastSeenNs: Int64

    public init(_ alert: NewAlert, count: Int = 1, lastSeenNs: Int64? = nil) {
        self.alert = alert
        self.count = count
        self.lastSeenNs = lastSeenNs ?? alert.timeNs
    }
}
