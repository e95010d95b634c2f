/// Why the SQLite store could not do what was asked, with what to do next.
public struct SQLiteStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: String, Sendable, Hashable {
        case missingDatabase = "missing_database"
        case notInitialized = "not_initialized"
        case readOnly = "read_only"
        case corruptRow = "corrupt_row"
    }

    private let code: Code
    /// The database file concerned.
    public let path: String
    public let message: String

    private init(_ code: Code, path: String, message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public var description: String { message }

    /// A bounded label for metrics and logs.
    public var label: String { code.rawValue }

    /// True when a read-only open found no database file (nothing was ever ingested there).
    public var isMissingDatabase: Bool { code == .missingDatabase }

    static func missingDatabase(_ path: String) -> Self {
        Self(
            .missingDatabase, path: path,
            message: "no Flint database at \(path): run `flint ingest FILE` or `flint serve` first to create it, or point `database` at an existing one")
    }

    static func notInitialized(_ path: String, missing: [String]) -> Self {
        Self(
            .notInitialized, path: path,
            message: "\(path) is not an up-to-date Flint database (missing migrations: \(missing.joined(separator: ", "))): open it once with `flint serve` or `flint ingest` to migrate it")
    }

    static func readOnly(_ path: String) -> Self {
        Self(.readOnly, path: path, message: "\(path) was opened read-only: writes and prunes need a writable store")
    }

    static func corruptRow(_ path: String, table: String, id: Int64, detail: String) -> Self {
        Self(.corruptRow, path: path, message: "\(path): \(table) row \(id) cannot be read: \(detail)")
    }
}
