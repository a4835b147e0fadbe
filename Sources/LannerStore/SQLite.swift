import CSQLite

/// A minimal SQLite connection, in the style of SwiftPM's `Basics/SQLite.swift`: one class owning the
/// `sqlite3*`, prepared statements that bind / step / reset, and one `check` funnel turning result codes into
/// `StoreError` with `sqlite3_errmsg`, the SQL and the path.
///
/// A connection is used from one thread at a time (opened with `SQLITE_OPEN_NOMUTEX`), hence not `Sendable`.
final class SQLite {
    /// How the file is opened.
    enum Mode { case readWrite, readOnly }

    /// The database path, for error messages.
    let path: String
    private let db: OpaquePointer

    /// Opens (and for `.readWrite` creates) the database at `path` and sets the busy timeout.
    init(path: String, mode: Mode, busyTimeoutMilliseconds: Int32) throws(StoreError) {
        self.path = path
        var handle: OpaquePointer?
        let flags = (mode == .readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
            | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            // sqlite3_open_v2 hands back a handle even on failure, carrying the message; close it after reading.
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(handle)
            throw .sqlite(code: rc, message: message, sql: nil, path: path)
        }
        db = handle
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
    }

    private var closed = false

    deinit { close() }

    /// Closes the connection (the last connection's close also checkpoints and removes the -wal and -shm
    /// files). Statements still alive keep it open until they are finalized (close_v2); do not use it after.
    func close() {
        guard !closed else { return }
        closed = true
        sqlite3_close_v2(db)
    }

    /// The one error funnel: anything but OK / ROW / DONE becomes a `StoreError` naming `sql`.
    func check(_ rc: Int32, _ sql: String?) throws(StoreError) {
        switch rc {
        case SQLITE_OK, SQLITE_ROW, SQLITE_DONE: return
        default: throw error(rc, sql)
        }
    }

    /// A `StoreError` for result code `rc`, with the connection's current message.
    func error(_ rc: Int32, _ sql: String?) -> StoreError {
        .sqlite(code: rc, message: String(cString: sqlite3_errmsg(db)), sql: sql, path: path)
    }

    /// Runs one or more statements that return no rows of interest (DDL, PRAGMA, BEGIN/COMMIT).
    func exec(_ sql: String) throws(StoreError) {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(db))
            sqlite3_free(message)
            throw .sqlite(code: rc, message: text, sql: sql, path: path)
        }
    }

    /// Compiles `sql` once; reuse the statement with `reset()`.
    func prepare(_ sql: String) throws(StoreError) -> Statement {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        try check(rc, sql)
        guard let stmt else { throw .invalidValue("empty SQL statement: \(sql)") }
        return Statement(connection: self, handle: stmt, sql: sql)
    }

    /// Runs a query returning one integer (e.g. `PRAGMA user_version`, `SELECT count(*)`).
    func scalarInt(_ sql: String) throws(StoreError) -> Int64 {
        let stmt = try prepare(sql)
        guard try stmt.step() else { throw .invalidValue("`\(sql)` returned no row") }
        return stmt.int64(0)
    }

    /// Rows changed by the last INSERT / UPDATE / DELETE.
    var changes: Int { Int(sqlite3_changes(db)) }

    /// Row id of the last successful INSERT on this connection.
    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(db) }

    /// True while a transaction is open (autocommit is off).
    var inTransaction: Bool { sqlite3_get_autocommit(db) == 0 }

    /// A compiled statement. Bind with 1-based indexes, `step()` until false, `reset()` before reuse.
    final class Statement {
        let sql: String
        private let connection: SQLite
        private let handle: OpaquePointer

        fileprivate init(connection: SQLite, handle: OpaquePointer, sql: String) {
            self.connection = connection
            self.handle = handle
            self.sql = sql
        }

        deinit { sqlite3_finalize(handle) }

        func bind(_ value: Int64, at index: Int32) throws(StoreError) {
            try connection.check(sqlite3_bind_int64(handle, index, value), sql)
        }

        func bind(_ value: Int, at index: Int32) throws(StoreError) {
            try bind(Int64(value), at: index)
        }

        /// Binds UTF-8 text with its explicit length (embedded NULs survive); SQLite copies it.
        func bind(_ value: String?, at index: Int32) throws(StoreError) {
            guard var value else {
                try connection.check(sqlite3_bind_null(handle, index), sql)
                return
            }
            let rc = value.withUTF8 { utf8 -> Int32 in
                guard let base = utf8.baseAddress, !utf8.isEmpty else {
                    // A NULL pointer would bind SQL NULL; an empty string needs a real (empty) C string.
                    return sqlite3_bind_text64(handle, index, "", 0, lanner_sqlite_transient(), UInt8(SQLITE_UTF8))
                }
                return base.withMemoryRebound(to: CChar.self, capacity: utf8.count) {
                    sqlite3_bind_text64(handle, index, $0, sqlite3_uint64(utf8.count), lanner_sqlite_transient(),
                                        UInt8(SQLITE_UTF8))
                }
            }
            try connection.check(rc, sql)
        }

        /// Advances; true when a row is available, false when done.
        func step() throws(StoreError) -> Bool {
            let rc = sqlite3_step(handle)
            switch rc {
            case SQLITE_ROW: return true
            case SQLITE_DONE: return false
            default: throw connection.error(rc, sql)
            }
        }

        /// Makes the statement runnable again and drops its bindings.
        func reset() {
            // reset returns the code of the last step, which was already reported by step().
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
        }

        func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

        func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

        /// Text of a column (invalid UTF-8 repaired, embedded NULs kept); "" for NULL.
        func string(_ column: Int32) -> String {
            guard let text = sqlite3_column_text(handle, column) else { return "" }
            let count = Int(sqlite3_column_bytes(handle, column))
            return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
        }

        func optionalString(_ column: Int32) -> String? {
            isNull(column) ? nil : string(column)
        }
    }
}

@available(*, unavailable)
extension SQLite: Sendable {}

@available(*, unavailable)
extension SQLite.Statement: Sendable {}
