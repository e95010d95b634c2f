import Foundation
import PostgresNIO

/// Why the PostgreSQL store could not do what was asked, with what to do next. Messages name the
/// server and the database, never the password.
public struct PostgresStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        case unreachable
        case authentication
        case missingDatabase = "missing_database"
        case notInitialized = "not_initialized"
        case readOnly = "read_only"
        case corruptRow = "corrupt_row"
        case query
        case closed
    }

    public let code: Code
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// A bounded label for metrics and logs.
    public var label: String { code.rawValue }

    /// True when the server could not be reached or refused the login: the database is away, not wrong.
    public var isUnavailable: Bool { code == .unreachable || code == .authentication || code == .closed }

    static func corruptRow(_ url: PostgresURL, table: String, id: Int64, detail: String) -> Self {
        Self(.corruptRow, "\(url.location): \(table) row \(id) cannot be read: \(detail)")
    }

    static func readOnly(_ url: PostgresURL) -> Self {
        Self(.readOnly, "\(url) was opened read-only: writes and prunes need a writable store")
    }

    static func notInitialized(_ url: PostgresURL, missing: [Int]) -> Self {
        Self(
            .notInitialized,
            "\(url.location) is not an up-to-date Flint database (missing migrations: \(missing.map(String.init).joined(separator: ", "))): open it once with `flint serve` or `flint ingest` to migrate it"
        )
    }

    /// What a failed connection attempt means for the user.
    static func connecting(_ url: PostgresURL, _ error: any Error) -> Self {
        if let psql = error as? PSQLError {
            if let server = psql.serverInfo, let sqlState = server[.sqlState] {
                let detail = server[.message] ?? "refused"
                switch sqlState {
                case "28P01", "28000":
                    return Self(
                        .authentication,
                        "PostgreSQL at \(url.location) refused user \(url.user): \(detail); check the user and password in the database URL (--database / FLINT_DATABASE)")
                case "3D000":
                    return Self(
                        .missingDatabase,
                        "PostgreSQL at \(url.host):\(url.port) has no database \(url.database): create it (createdb \(url.database)) or fix the database URL")
                default:
                    return Self(.unreachable, "PostgreSQL at \(url.location) refused the connection: \(detail) (\(sqlState))")
                }
            }
            if psql.code == .sslUnsupported {
                return Self(
                    .unreachable, "PostgreSQL at \(url.location) does not offer TLS but the URL asks for it: drop sslmode=\(url.sslMode.rawValue) or enable ssl on the server")
            }
            if psql.code == .authMechanismRequiresPassword {
                return Self(.authentication, "PostgreSQL at \(url.location) asks user \(url.user) for a password: add it to the database URL (postgres://user:password@host/db)")
            }
        }
        let reason = Self.networkReason(error)
        return Self(
            .unreachable,
            "cannot reach PostgreSQL at \(url.location): \(reason); check that the server runs and accepts connections there, or fix the database URL (--database / FLINT_DATABASE)")
    }

    /// A short reason for a transport error, without the library's internals.
    private static func networkReason(_ error: any Error) -> String {
        var text = String(describing: error)
        if let psql = error as? PSQLError { text = psql.underlying.map { String(describing: $0) } ?? String(describing: psql.code) }
        let lower = text.lowercased()
        if lower.contains("connection refused") { return "connection refused" }
        if lower.contains("timeout") || lower.contains("timed out") { return "no answer within 5 s" }
        if lower.contains("no such file") { return "no server socket there" }
        if lower.contains("resolve") || lower.contains("getaddrinfo") || lower.contains("name or service") { return "the host name does not resolve" }
        if lower.contains("connection reset") { return "connection reset" }
        if lower == "serverclosedconnection" { return "the connection closed before a server answered (is PostgreSQL listening there?)" }
        return text
    }

    /// A statement the server refused, or a connection lost while it ran.
    static func query(_ url: PostgresURL, _ error: any Error) -> Self {
        if let psql = error as? PSQLError {
            if let server = psql.serverInfo {
                let state = server[.sqlState] ?? "?"
                // Class 08 (connection exception) and 57P01-57P03 (the server shutting down, crashed,
                // or not accepting connections yet): the database is away, not the statement wrong.
                if state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state) {
                    return Self(
                        .unreachable,
                        "lost the connection to PostgreSQL at \(url.location): \(server[.message] ?? "closed") (\(state)); check that the server runs")
                }
                return Self(.query, "PostgreSQL at \(url.location): \(server[.message] ?? "error") (\(state))")
            }
            switch psql.code {
            case .serverClosedConnection, .connectionError, .uncleanShutdown, .clientClosedConnection:
                return Self(.unreachable, "lost the connection to PostgreSQL at \(url.location): \(networkReason(error)); check that the server runs")
            default: break
            }
        }
        return Self(.query, "PostgreSQL at \(url.location): \(networkReason(error))")
    }

    /// The SQLSTATE of a server error, if this is one.
    static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }
}
