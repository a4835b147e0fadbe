/// The tables schema version 3 derives from `alerts`, and the triggers that keep them exact.
///
/// Every query the CLI and the API run is answered from an index or from one of these, so that a query over
/// millions of alerts reads only what it returns (docs/ARCHITECTURE.md, "Queries"; docs/BENCHMARKS.md):
///
/// | table | what | used by |
/// |---|---|---|
/// | `alert_tags (tag, time_ns, alert_id)` | one row per tag of each alert, in time order per tag | `--tag` |
/// | `alert_rollup_hour`, `alert_rollup_day`, `alert_rollup_all` `(bucket, rule, priority, host) → row_count, alert_count` | rows, and alerts they stand for (sum of `count`), per hour, per day, and in all (bucket 0) | `alerts stats` |
/// | `alert_totals` | one row: rows stored and the alerts they stand for | retention by row count, `count()` |
/// | `alert_blocks (block, min_time_ns, max_time_ns)` | event-time bounds per 1024 consecutive ids | text search in time order |
/// | `alerts_fts` | FTS5 index of `output` (external content, when the SQLite library has FTS5) | `--search` |
///
/// Triggers on `alerts` maintain all of them in the writing transaction (insert, delete, and the `count` update
/// of aggregation), so whatever writes the table (the collector, retention, the benchmark's bulk load, a user's
/// `sqlite3` session) leaves them consistent. The columns they derive from cannot be updated.
enum DerivedTables {
    /// Nanoseconds per rollup bucket.
    static let hourNs: Int64 = 3_600_000_000_000
    static let dayNs: Int64 = 86_400_000_000_000
    /// Ids per `alert_blocks` row (`id >> blockShift`).
    static let blockShift = 10

    /// Floor division of a time column by a bucket length, in SQL (times before 1970 land in negative buckets);
    /// without a length, the one bucket 0.
    static func bucket(_ column: String, _ ns: Int64?) -> String {
        guard let ns else { return "0" }
        return "((\(column) - (((\(column) % \(ns)) + \(ns)) % \(ns))) / \(ns))"
    }

    /// The rollup tables and their bucket lengths (nil: one bucket for everything).
    static let rollups: [(table: String, ns: Int64?)] = [("alert_rollup_hour", hourNs), ("alert_rollup_day", dayNs), ("alert_rollup_all", nil)]

    /// The alerts table again, with `container_name` and AUTOINCREMENT ids (an id is never handed out twice, even
    /// after retention deleted the newest rows: `alerts show ID` and a tail's position stay meaningful), then
    /// the derived tables.
    static let version3 = """
        CREATE TABLE alerts_v3 (
            id             INTEGER PRIMARY KEY AUTOINCREMENT,
            time_ns        INTEGER NOT NULL,
            host           TEXT    NOT NULL,
            sensor_id      TEXT    NOT NULL,
            rule           TEXT    NOT NULL,
            priority       INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 7),
            source         TEXT    NOT NULL DEFAULT 'syscall',
            output         TEXT    NOT NULL,
            tags           TEXT    NOT NULL DEFAULT '[]',
            fields         TEXT    NOT NULL DEFAULT '{}',
            container_id   TEXT,
            count          INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1),
            last_seen_ns   INTEGER NOT NULL,
            container_name TEXT
        );
        INSERT INTO alerts_v3 (id, time_ns, host, sensor_id, rule, priority, source, output, tags, fields, container_id, count,
                               last_seen_ns)
            SELECT id, time_ns, host, sensor_id, rule, priority, source, output, tags, fields, container_id, count, last_seen_ns
            FROM alerts;
        DROP TABLE alerts;
        ALTER TABLE alerts_v3 RENAME TO alerts;
        CREATE INDEX alerts_time          ON alerts(time_ns);
        CREATE INDEX alerts_rule_time     ON alerts(rule, time_ns);
        CREATE INDEX alerts_host_time     ON alerts(host, time_ns);
        CREATE INDEX alerts_priority_time ON alerts(priority, time_ns);
        CREATE INDEX alerts_container_time ON alerts(container_id, time_ns) WHERE container_id IS NOT NULL;
        CREATE INDEX alerts_container_name_time ON alerts(container_name, time_ns) WHERE container_name IS NOT NULL;
        CREATE TABLE alert_tags (
            tag      TEXT    NOT NULL,
            time_ns  INTEGER NOT NULL,
            alert_id INTEGER NOT NULL,
            PRIMARY KEY (tag, time_ns, alert_id)
        ) WITHOUT ROWID;
        \(rollups.map { rollupTable($0.table) }.joined(separator: "\n"))
        CREATE TABLE alert_totals (
            id          INTEGER PRIMARY KEY CHECK (id = 1),
            row_count   INTEGER NOT NULL,
            alert_count INTEGER NOT NULL
        );
        INSERT INTO alert_totals VALUES (1, 0, 0);
        CREATE TABLE alert_blocks (
            block       INTEGER PRIMARY KEY,
            min_time_ns INTEGER NOT NULL,
            max_time_ns INTEGER NOT NULL
        );
        """

    private static func rollupTable(_ name: String) -> String {
        """
        CREATE TABLE \(name) (
            bucket      INTEGER NOT NULL,
            rule        TEXT    NOT NULL,
            priority    INTEGER NOT NULL,
            host        TEXT    NOT NULL,
            row_count   INTEGER NOT NULL,
            alert_count INTEGER NOT NULL,
            PRIMARY KEY (bucket, rule, priority, host)
        ) WITHOUT ROWID;
        """
    }

    static let createFTS = """
        CREATE VIRTUAL TABLE alerts_fts USING fts5(output, content='alerts', content_rowid='id');
        """

    /// True when the linked SQLite library was built with FTS5.
    static func ftsAvailable(_ db: SQLite) throws(StoreError) -> Bool {
        try db.scalarInt("SELECT sqlite_compileoption_used('ENABLE_FTS5')") == 1
    }

    private static func rollupUpsert(_ table: String, _ ns: Int64?) -> String {
        """
        INSERT INTO \(table) (bucket, rule, priority, host, row_count, alert_count)
            VALUES (\(bucket("new.time_ns", ns)), new.rule, new.priority, new.host, 1, new.count)
            ON CONFLICT (bucket, rule, priority, host) DO UPDATE SET row_count = row_count + 1,
                                                                     alert_count = alert_count + excluded.alert_count;
        """
    }

    private static func rollupKey(_ ns: Int64?) -> String {
        "bucket = \(bucket("old.time_ns", ns)) AND rule = old.rule AND priority = old.priority AND host = old.host"
    }

    static let triggerNames = ["alerts_derive_insert", "alerts_derive_count", "alerts_derive_delete", "alerts_immutable"]

    /// The triggers (created last by the migration, after the backfill).
    static func triggers(fts: Bool) -> String {
        """
        CREATE TRIGGER alerts_derive_insert AFTER INSERT ON alerts BEGIN
            INSERT OR IGNORE INTO alert_tags (tag, time_ns, alert_id)
                SELECT value, new.time_ns, new.id FROM json_each(new.tags) WHERE type = 'text';
            \(rollups.map { rollupUpsert($0.table, $0.ns) }.joined(separator: "\n"))
            UPDATE alert_totals SET row_count = row_count + 1, alert_count = alert_count + new.count WHERE id = 1;
            INSERT INTO alert_blocks (block, min_time_ns, max_time_ns) VALUES (new.id >> \(blockShift), new.time_ns, new.time_ns)
                ON CONFLICT (block) DO UPDATE SET min_time_ns = min(min_time_ns, excluded.min_time_ns),
                                                  max_time_ns = max(max_time_ns, excluded.max_time_ns);
            \(fts ? "INSERT INTO alerts_fts (rowid, output) VALUES (new.id, new.output);" : "")
        END;
        CREATE TRIGGER alerts_derive_count AFTER UPDATE OF count ON alerts BEGIN
            \(rollups.map { "UPDATE \($0.table) SET alert_count = alert_count + new.count - old.count WHERE \(rollupKey($0.ns));" }
                .joined(separator: "\n"))
            UPDATE alert_totals SET alert_count = alert_count + new.count - old.count WHERE id = 1;
        END;
        CREATE TRIGGER alerts_derive_delete AFTER DELETE ON alerts BEGIN
            DELETE FROM alert_tags WHERE tag IN (SELECT value FROM json_each(old.tags) WHERE type = 'text')
                AND time_ns = old.time_ns AND alert_id = old.id;
            \(rollups.map { """
                UPDATE \($0.table) SET row_count = row_count - 1, alert_count = alert_count - old.count WHERE \(rollupKey($0.ns));
                DELETE FROM \($0.table) WHERE \(rollupKey($0.ns)) AND row_count <= 0;
                """ }.joined(separator: "\n"))
            UPDATE alert_totals SET row_count = row_count - 1, alert_count = alert_count - old.count WHERE id = 1;
            \(fts ? "INSERT INTO alerts_fts (alerts_fts, rowid, output) VALUES ('delete', old.id, old.output);" : "")
        END;
        CREATE TRIGGER alerts_immutable BEFORE UPDATE OF id, time_ns, host, rule, priority, tags, output ON alerts BEGIN
            SELECT RAISE(ABORT, 'stored alerts cannot change (only count and last_seen_ns, by aggregation)');
        END;
        """
    }

    static var dropTriggers: String { triggerNames.map { "DROP TRIGGER IF EXISTS \($0);" }.joined(separator: "\n") }

    /// Fills the derived tables from the alerts with `id > afterID` (all when nil), in bulk: for the migration of
    /// an existing database and for `AlertStore.bulkInsert`. The triggers must not be in place (they would count
    /// the same rows twice).
    static func backfill(_ db: SQLite, afterID: Int64?, fts: Bool) throws(StoreError) {
        let range = afterID.map { "id > \($0)" } ?? "1"
        let aRange = afterID.map { "a.id > \($0)" } ?? "1"
        var sql = """
            INSERT OR IGNORE INTO alert_tags (tag, time_ns, alert_id)
                SELECT j.value, a.time_ns, a.id FROM alerts a, json_each(a.tags) j WHERE \(aRange) AND j.type = 'text';
            UPDATE alert_totals SET row_count = row_count + (SELECT count(*) FROM alerts WHERE \(range)),
                                    alert_count = alert_count + (SELECT coalesce(sum(count), 0) FROM alerts WHERE \(range))
                WHERE id = 1;
            INSERT INTO alert_blocks (block, min_time_ns, max_time_ns)
                SELECT id >> \(blockShift), min(time_ns), max(time_ns) FROM alerts WHERE \(range) GROUP BY 1
                ON CONFLICT (block) DO UPDATE SET min_time_ns = min(min_time_ns, excluded.min_time_ns),
                                                  max_time_ns = max(max_time_ns, excluded.max_time_ns);
            """
        for (table, ns) in rollups {
            sql += """

                INSERT INTO \(table) (bucket, rule, priority, host, row_count, alert_count)
                    SELECT \(bucket("time_ns", ns)), rule, priority, host, count(*), sum(count) FROM alerts WHERE \(range)
                    GROUP BY 1, 2, 3, 4
                    ON CONFLICT (bucket, rule, priority, host) DO UPDATE SET row_count = row_count + excluded.row_count,
                                                                             alert_count = alert_count + excluded.alert_count;
                """
        }
        if fts {
            sql += afterID == nil
                ? "\nINSERT INTO alerts_fts (alerts_fts) VALUES ('rebuild');"
                : "\nINSERT INTO alerts_fts (rowid, output) SELECT id, output FROM alerts WHERE \(range);"
        }
        try db.exec(sql)
    }
}
