import FlintPluginAPI
import GRDB
import GRDBSQLite

/// One of GRDB's cached prepared statements, bound and stepped through SQLite's C API.
///
/// The ingest path runs three to five statements per event, a thousand events per transaction.
/// GRDB's `execute(arguments:)` boxes each argument in a `DatabaseValue` and does per-call
/// bookkeeping; binding directly (JSON as the writer's UTF-8 bytes, no intermediate `String`) took
/// about a sixth off the CPU per ingested event in `StoreBenchmark`. Everything off the hot path
/// uses GRDB's API as usual.
///
/// Usage: `bind` every parameter, then one of `execute`, `exists`, `double`, `int` or `first`, each
/// of which resets the statement and clears its bindings, even when stepping fails.
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

    func bind(_ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(handle, index, value) } else { sqlite3_bind_null(handle, index) }
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

    /// Binds UTF-8 bytes as text.
    func bind(_ index: Int32, text bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { bindText(index, $0) }
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
        try first { $0.double(0) } ?? nil
    }

    /// The first column of the first row as an integer (0 when there is none).
    func int() throws -> Int {
        try first { Int($0.int64(0)) } ?? 0
    }

    /// Reads the first row, if any, with `read`.
    func first<T>(_ read: (Columns) throws -> T) throws -> T? {
        let code = sqlite3_step(handle)
        var value: T?
        var readError: (any Error)?
        if code == SQLITE_ROW {
            do { value = try read(Columns(handle: handle)) } catch { readError = error }
        }
        try finish(code, ok: code == SQLITE_ROW || code == SQLITE_DONE)
        if let readError { throw readError }
        return value
    }

    /// The current row's columns (0-based), valid only inside `first`'s closure.
    struct Columns {
        fileprivate let handle: OpaquePointer

        func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

        func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

        func double(_ column: Int32) -> Double? { isNull(column) ? nil : sqlite3_column_double(handle, column) }

        func text(_ column: Int32) -> String? {
            guard let bytes = utf8(column) else { return nil }
            return String(decoding: bytes, as: UTF8.self)
        }

        /// Parses a JSON text column in place, without making a `String` of it first.
        func json(_ column: Int32) throws -> JSONValue? {
            guard let bytes = utf8(column) else { return nil }
            return try JSONParser.parse(bytes, maxDepth: SQLiteStateStore.storedJSONMaxDepth)
        }

        private func utf8(_ column: Int32) -> UnsafeBufferPointer<UInt8>? {
            // sqlite3_column_text before sqlite3_column_bytes, as SQLite's documentation advises.
            guard let text = sqlite3_column_text(handle, column) else { return nil }
            return UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(handle, column)))
        }
    }

    private func finish(_ code: Int32, ok: Bool) throws {
        // The message must be read before the reset.
        let error = ok ? nil : DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: statement.sql)
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        if let error { throw error }
    }
}
