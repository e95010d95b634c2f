import FlintPluginAPI
import GRDB
import GRDBSQLite

/// One of GRDB's cached prepared statements, bound and stepped through SQLite's C API.
///
/// The ingest path runs three to five statements per event, a thousand events per transaction.
/// GRDB's `execute(arguments:)` boxes each argument in a `DatabaseValue` and does per-call
/// bookkeeping that costs more than SQLite's own work for a small insert; binding directly
/// (JSON as the writer's UTF-8 bytes, no intermediate `String`) roughly halves the CPU per event.
/// Reads and everything off the hot path use GRDB's API as usual.
///
/// Usage: `bind` every parameter, then `execute`, `exists` or `double`, each of which resets the
/// statement and clears its bindings, even when stepping fails.
struct HotStatement {
    /// SQLite copies bound text before the bind call returns (`SQLITE_TRANSIENT`).
    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

    private let statement: Statement
    private let handle: OpaquePointer
    private let db: Database

    init(_ db: Database, _ sql: String) throws {
        self.db = db
        self.statement = try db.cachedStatement(sql: sql)
        self.handle = statement.sqliteStatement
    }

    func bind(_ index: Int32, _ value: String) {
        var value = value
        value.withUTF8 { bytes in bindText(index, bytes) }
    }

    func bind(_ index: Int32, _ value: String?) {
        if let value { bind(index, value) } else { sqlite3_bind_null(handle, index) }
    }

    func bind(_ index: Int32, _ value: Int64) {
        sqlite3_bind_int64(handle, index, value)
    }

    func bind(_ index: Int32, _ value: Double?) {
        if let value { sqlite3_bind_double(handle, index, value) } else { sqlite3_bind_null(handle, index) }
    }

    /// Binds `value.compactUTF8` as text, or NULL.
    func bind(_ index: Int32, json value: JSONValue?) {
        guard let value else {
            sqlite3_bind_null(handle, index)
            return
        }
        value.compactUTF8.withUnsafeBufferPointer { bytes in bindText(index, bytes) }
    }

    private func bindText(_ index: Int32, _ bytes: UnsafeBufferPointer<UInt8>) {
        // An empty buffer may have no base address, which SQLite would bind as NULL.
        guard let base = bytes.baseAddress, !bytes.isEmpty else {
            sqlite3_bind_text(handle, index, "", 0, Self.transient)
            return
        }
        base.withMemoryRebound(to: CChar.self, capacity: bytes.count) { text in
            _ = sqlite3_bind_text(handle, index, text, Int32(bytes.count), Self.transient)
        }
    }

    /// Steps to the end (an INSERT, UPDATE or DELETE).
    func execute() throws {
        let code = sqlite3_step(handle)
        try finish(code, ok: code == SQLITE_DONE)
    }

    /// Whether the query returns a row.
    func exists() throws -> Bool {
        let code = sqlite3_step(handle)
        try finish(code, ok: code == SQLITE_ROW || code == SQLITE_DONE)
        return code == SQLITE_ROW
    }

    /// The first column of the first row, when there is a row and it is not NULL.
    func double() throws -> Double? {
        let code = sqlite3_step(handle)
        let value = code == SQLITE_ROW && sqlite3_column_type(handle, 0) != SQLITE_NULL ? sqlite3_column_double(handle, 0) : nil
        try finish(code, ok: code == SQLITE_ROW || code == SQLITE_DONE)
        return value
    }

    /// The first column of the first row as an integer (0 when there is none).
    func int() throws -> Int {
        let code = sqlite3_step(handle)
        let value = code == SQLITE_ROW ? Int(sqlite3_column_int64(handle, 0)) : 0
        try finish(code, ok: code == SQLITE_ROW || code == SQLITE_DONE)
        return value
    }

    private func finish(_ code: Int32, ok: Bool) throws {
        // The message must be read before the reset.
        let error = ok ? nil : DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: statement.sql)
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        if let error { throw error }
    }
}
