import Foundation

/// A `postgres://user:password@host:port/dbname` URL (also `postgresql://`), parsed.
///
/// Query parameters: `sslmode` (`disable`, `prefer`, the default, `require`, `verify-full`) and
/// `host` (a folder holding the server's Unix socket, as libpq reads it). The password never appears
/// in `description` or `redacted`: print those, never the text the URL came from.
public struct PostgresURL: Sendable, Hashable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, Hashable, CaseIterable {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    public var user: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    public var sslMode: SSLMode
    /// A folder with the server's socket (`.s.PGSQL.<port>`): connect through it instead of TCP.
    public var socketFolder: String?

    public init(
        user: String, password: String?, host: String, port: Int = 5432, database: String, sslMode: SSLMode = .prefer, socketFolder: String? = nil
    ) {
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.database = database
        self.sslMode = sslMode
        self.socketFolder = socketFolder
    }

    /// True when `text` names a PostgreSQL database rather than a SQLite file.
    public static func isPostgres(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    /// Why a URL was refused; the message never holds the password.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public let description: String
    }

    /// Parses a `postgres://` URL. Errors name what is wrong and show the URL with its password hidden.
    public init(parsing text: String) throws {
        let shown = Self.redact(text)
        func fail(_ problem: String) -> ParseError {
            ParseError(description: "the database URL \(shown) \(problem): expected postgres://user:password@host:port/dbname")
        }
        guard Self.isPostgres(text) else { throw fail("is not a postgres:// URL") }
        guard let components = URLComponents(string: text) else { throw fail("cannot be read (percent-encode special characters in the password)") }
        guard let user = components.percentEncodedUser.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            throw fail("names no user")
        }
        let password = components.percentEncodedPassword.flatMap { $0.removingPercentEncoding }
        var path = components.percentEncodedPath
        if path.hasPrefix("/") { path.removeFirst() }
        guard let database = path.removingPercentEncoding, !database.isEmpty, !database.contains("/") else {
            throw fail("names no database (the path after the host)")
        }
        var sslMode = SSLMode.prefer
        var socketFolder: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let mode = SSLMode(rawValue: value) else {
                    throw fail("has sslmode=\(item.value ?? ""); use one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                sslMode = mode
            case "host":
                guard let value = item.value, value.hasPrefix("/") else { throw fail("has a host parameter that is not an absolute folder") }
                socketFolder = value
            default:
                throw fail("has an unknown parameter '\(item.name)' (known: sslmode, host)")
            }
        }
        let host = components.host ?? ""
        guard !host.isEmpty || socketFolder != nil else { throw fail("names no host") }
        if let port = components.port, !(1...65535).contains(port) { throw fail("has port \(port), outside 1-65535") }
        self.init(
            user: user, password: password, host: host.isEmpty ? "localhost" : host, port: components.port ?? 5432, database: database,
            sslMode: sslMode, socketFolder: socketFolder)
    }

    /// `postgres://user@host:port/dbname`: what messages and logs show.
    public var description: String {
        var text = "postgres://\(user)@\(host):\(port)/\(database)"
        if let socketFolder { text += "?host=\(socketFolder)" }
        return text
    }

    /// Where the server is, for messages: `host:port, database dbname`.
    public var location: String {
        if let socketFolder { return "the socket in \(socketFolder) (port \(port)), database \(database)" }
        return "\(host):\(port), database \(database)"
    }

    /// The text of a database setting with the password of a postgres:// URL replaced by `***`;
    /// anything else unchanged. Safe on text that does not parse.
    public static func redact(_ text: String) -> String {
        guard isPostgres(text), let scheme = text.range(of: "://") else { return text }
        let rest = text[scheme.upperBound...]
        // The user information ends at the last `@` before the path.
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return text }
        let userInfo = rest[..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return text }
        return String(text[..<scheme.upperBound]) + String(userInfo[..<colon]) + ":***" + String(rest[at...])
    }
}
