/// The alert database schema as an ordered list of steps. The file's `PRAGMA user_version` is the number of
/// the last step applied; opening a writable store applies the missing ones, each in its own transaction.
///
/// Append new steps at the end; never edit or reorder a shipped one.
enum Migrations {
    struct Step: Sendable {
        /// The schema version this step produces (1, 2, 3, …: its position in `all`).
        let version: Int
        let summary: String
        /// Runs the step inside its transaction.
        let apply: @Sendable (SQLite) throws(StoreError) -> Void

        init(version: Int, summary: String, sql: String) {
            self.version = version
            self.summary = summary
            apply = { db throws(StoreError) in try db.exec(sql) }
        }

        init(version: Int, summary: String, apply: @escaping @Sendable (SQLite) throws(StoreError) -> Void) {
            self.version = version
            self.summary = summary
            self.apply = apply
        }
    }

    static let all: [Step] = [
        Step(version: 1, summary: "alerts and the batch ledger", sql: """
            CREATE TABLE alerts (
                id           INTEGER PRIMARY KEY,
                time_ns      INTEGER NOT NULL,
                host         TEXT    NOT NULL,
                sensor_id    TEXT    NOT NULL,
                rule         TEXT    NOT NULL,
                priority     INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 7),
                source       TEXT    NOT NULL DEFAULT 'syscall',
                output       TEXT    NOT NULL,
                tags         TEXT    NOT NULL DEFAULT '[]',
                fields       TEXT    NOT NULL DEFAULT '{}',
                container_id TEXT,
                count        INTEGER NOT NULL DEFAULT 1,
                last_seen_ns INTEGER NOT NULL
            );
            CREATE INDEX alerts_time          ON alerts(time_ns);
            CREATE INDEX alerts_rule_time     ON alerts(rule, time_ns);
            CREATE INDEX alerts_host_time     ON alerts(host, time_ns);
            CREATE INDEX alerts_priority_time ON alerts(priority, time_ns);
            CREATE TABLE batches (
                sensor_id   TEXT    NOT NULL,
                sequence    INTEGER NOT NULL,
                received_ns INTEGER NOT NULL,
                events      INTEGER NOT NULL,
                PRIMARY KEY (sensor_id, sequence)
            ) WITHOUT ROWID;
            """),
        Step(version: 2, summary: "per-sensor counters: liveness, volume, drops, drop-alert bookkeeping", sql: """
            CREATE TABLE sensors (
                sensor_id              TEXT    PRIMARY KEY,
                hostname               TEXT    NOT NULL,
                sensor_version         TEXT    NOT NULL,
                boot_id                TEXT    NOT NULL,
                run_epoch              INTEGER NOT NULL,
                first_seen_ns          INTEGER NOT NULL,
                last_seen_ns           INTEGER NOT NULL,
                batches                INTEGER NOT NULL DEFAULT 0,
                events                 INTEGER NOT NULL DEFAULT 0,
                kernel_drops           INTEGER NOT NULL DEFAULT 0,
                user_drops             INTEGER NOT NULL DEFAULT 0,
                run_kernel_drops       INTEGER NOT NULL DEFAULT 0,
                run_user_drops         INTEGER NOT NULL DEFAULT 0,
                reported_kernel_drops  INTEGER NOT NULL DEFAULT 0,
                reported_user_drops    INTEGER NOT NULL DEFAULT 0,
                drop_window_start_ns   INTEGER NOT NULL,
                last_drop_alert_ns     INTEGER,
                window_start_ns        INTEGER NOT NULL,
                window_events          INTEGER NOT NULL DEFAULT 0,
                rate_events            INTEGER NOT NULL DEFAULT 0,
                rate_ns                INTEGER NOT NULL DEFAULT 0
            ) WITHOUT ROWID;
            """),
        Step(version: 3, summary: "queries: container names, tag index, hourly/daily counts, row totals, id-block time bounds, "
             + "full-text index of outputs (FTS5, when the SQLite library has it); maintained by triggers", apply: { db throws(StoreError) in
            try db.exec(DerivedTables.version3)
            let fts = try DerivedTables.ftsAvailable(db)
            if fts { try db.exec(DerivedTables.createFTS) }
            try DerivedTables.backfill(db, afterID: nil, fts: fts)
            try db.exec(DerivedTables.triggers(fts: fts))
        }),
        // One row per committed batch grew by ~60 MB a day for a sensor flushing every 200 ms; runs of consecutive
        // sequence numbers (a sensor's batches within one run) are one row now, a gap (a batch the sensor dropped
        // or the collector rejected) starts another. Existing rows are folded by gaps-and-islands.
        Step(version: 4, summary: "batch ledger as runs of consecutive sequence numbers per sensor", sql: """
            CREATE TABLE batch_runs (
                sensor_id        TEXT    NOT NULL,
                first_seq        INTEGER NOT NULL,
                last_seq         INTEGER NOT NULL CHECK (last_seq >= first_seq),
                events           INTEGER NOT NULL,
                last_received_ns INTEGER NOT NULL,
                PRIMARY KEY (sensor_id, first_seq)
            ) WITHOUT ROWID;
            INSERT INTO batch_runs (sensor_id, first_seq, last_seq, events, last_received_ns)
                SELECT sensor_id, min(sequence), max(sequence), sum(events), max(received_ns)
                FROM (SELECT sensor_id, sequence, events, received_ns,
                             sequence - ROW_NUMBER() OVER (PARTITION BY sensor_id ORDER BY sequence) AS island
                      FROM batches)
                GROUP BY sensor_id, island;
            DROP TABLE batches;
            """),
        Step(version: 5, summary: "per-sensor kernel read failures (batch header 1.3)", sql: """
            ALTER TABLE sensors ADD COLUMN read_failures     INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE sensors ADD COLUMN run_read_failures INTEGER NOT NULL DEFAULT 0;
            """),
    ]

    /// The schema version this build writes and reads.
    static var latest: Int { all.last?.version ?? 0 }

    /// Brings `db` up to `latest`. Each step runs under `BEGIN IMMEDIATE` and re-reads the version inside the
    /// transaction, so two processes opening the same new file do not both apply a step.
    static func migrate(_ db: SQLite) throws(StoreError) {
        let found = Int(try db.scalarInt("PRAGMA user_version"))
        if found > latest { throw .schemaTooNew(path: db.path, found: found, supported: latest) }
        if found == latest { return }
        for step in all where step.version > found {
            try db.exec("BEGIN IMMEDIATE")
            do {
                let now = Int(try db.scalarInt("PRAGMA user_version"))
                if now < step.version {
                    try step.apply(db)
                    try db.exec("PRAGMA user_version = \(step.version)")
                }
                try db.exec("COMMIT")
            } catch {
                try? db.exec("ROLLBACK")
                throw error
            }
        }
    }
}
