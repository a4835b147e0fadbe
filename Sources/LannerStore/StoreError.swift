import CSQLite

/// Everything that can go wrong in LannerStore, with enough context to act on it.
///
/// SQLite failures keep the (extended) result code, SQLite's own message (`sqlite3_errmsg`), the SQL that
/// failed and the database path, so a log line alone says what happened where.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// SQLite returned `code` (an extended result code such as `SQLITE_NOTADB` = 26 or
    /// `SQLITE_CANTOPEN` = 14) while running `sql` (or while opening, when `sql` is nil).
    case sqlite(code: Int32, message: String, sql: String?, path: String)
    /// A read-only store was asked to open a file that does not exist.
    case fileMissing(path: String)
    /// The file is an SQLite database but was never initialised as a Lanner alert store (no schema),
    /// which a read-only store cannot fix.
    case schemaMissing(path: String)
    /// The file was written by a newer Lanner: its schema version is above what this build knows.
    case schemaTooNew(path: String, found: Int, supported: Int)
    /// A read-only store was asked for `what`, which schema version `needed` added; the file is older (a
    /// collector of this version upgrades it when it opens it).
    case schemaTooOld(path: String, found: Int, needed: Int, what: String)
    /// A value given to or read from the store does not fit its column (e.g. a priority outside 0...7,
    /// `fieldsJSON` that is not a JSON object).
    case invalidValue(String)

    /// The SQLite primary result code (`code & 0xff`), or nil for non-SQLite errors.
    public var sqliteCode: Int32? {
        if case .sqlite(let code, _, _, _) = self { return code & 0xff }
        return nil
    }

    /// True when the file is not a database or is damaged (`SQLITE_NOTADB`, `SQLITE_CORRUPT`).
    public var isCorruptFile: Bool {
        sqliteCode == SQLITE_NOTADB || sqliteCode == SQLITE_CORRUPT
    }

    public var description: String {
        switch self {
        case .sqlite(let code, let message, let sql, let path):
            let name = String(cString: sqlite3_errstr(code))
            var s = "SQLite error \(code) (\(name)) on \(path)"
            if let sql { s += " running `\(sql)`" }
            if message != name { s += ": \(message)" }
            return s
        case .fileMissing(let path):
            return "alert database \(path) does not exist: pass the collector's database with --db PATH (or set LANNER_DB), or start the collector first"
        case .schemaMissing(let path):
            return "\(path) is an SQLite database without a Lanner alert schema (schema version 0)"
        case .schemaTooNew(let path, let found, let supported):
            return "\(path) has alert schema version \(found), newer than this build supports (\(supported)); upgrade Lanner"
        case .schemaTooOld(let path, let found, let needed, let what):
            return "\(path) has alert schema version \(found); \(what) came with version \(needed): start this version's collector on it once to upgrade it"
        case .invalidValue(let what):
            return "invalid value: \(what)"
        }
    }
}
