import ArgumentParser
import FlintCore
import FlintPluginAPI
import FlintPostgres
import FlintRules
import FlintStore
import Foundation

/// The store a command opens: SQLite or PostgreSQL, by the `database` setting.
typealias OpenedStore = any StateStore & LedgerReader & ReplaySource

/// Opens the configured database: a file path is a SQLite file, a `postgres://` URL a PostgreSQL
/// database (FlintPostgres). Messages name the database by `Configuration.databaseShown`: a URL's
/// password never reaches the terminal.
enum StoreAccess {
    /// For writing commands (`ingest`, `serve`): creates the file (or, on PostgreSQL, the tables) when needed.
    static func openForWriting(_ config: Configuration) throws -> OpenedStore {
        if let url = try postgresURL(config) {
            do {
                return try PostgresStateStore(url: url)
            } catch {
                Terminal.err("error: \(error)")
                throw ExitCode(1)
            }
        }
        do {
            return try SQLiteStateStore(path: config.database)
        } catch {
            Terminal.err("error: cannot open the database \(config.database): \(error)")
            throw ExitCode(1)
        }
    }

    /// For reading commands: read-only, works while `flint serve` writes.
    static func openForReading(_ config: Configuration) throws -> any LedgerReader {
        try openReadOnly(config).ledger
    }

    /// Read-only, as `openForReading`, with the replay reads (`flint replay`).
    static func openReadOnly(_ config: Configuration) throws -> OpenedStore {
        if let url = try postgresURL(config) {
            do {
                return try PostgresStateStore(url: url, readOnly: true)
            } catch {
                Terminal.err("error: \(error)")
                throw ExitCode(1)
            }
        }
        guard FileManager.default.fileExists(atPath: config.database) else {
            Terminal.err(
                "error: no database at \(config.database): nothing has been ingested yet (run flint ingest FILE or flint serve), or point --database / FLINT_DATABASE at it")
            throw ExitCode(1)
        }
        do {
            return try SQLiteStateStore(path: config.database, readOnly: true)
        } catch {
            Terminal.err("error: cannot open the database \(config.database): \(error)")
            throw ExitCode(1)
        }
    }

    /// Whether the configured database exists: a SQLite file that is there, or any PostgreSQL URL
    /// (the server says whether it holds a Flint database when it is opened).
    static func databaseExists(_ config: Configuration) -> Bool {
        PostgresURL.isPostgres(config.database) || FileManager.default.fileExists(atPath: config.database)
    }

    /// The PostgreSQL URL of the `database` setting; nil for a SQLite path. A postgres:// setting
    /// that does not parse is an error (never taken as a file name).
    private static func postgresURL(_ config: Configuration) throws -> PostgresURL? {
        guard PostgresURL.isPostgres(config.database) else { return nil }
        do {
            return try PostgresURL(parsing: config.database)
        } catch {
            Terminal.err("error: \(error) (--database / FLINT_DATABASE / database in flint.yaml)")
            throw ExitCode(1)
        }
    }
}

extension Configuration {
    /// The `database` setting as messages show it: a postgres:// URL without its password.
    var databaseShown: String { PostgresURL.redact(database) }
}

/// `2h`, `30m`, `7d` before now, or an ISO 8601 instant.
func parseSince(_ text: String?, now: Date = Date()) throws -> Date? {
    guard let text else { return nil }
    if let seconds = DurationText.seconds(text) { return now.addingTimeInterval(-TimeInterval(seconds)) }
    if let date = Timestamp.parse(text) { return date }
    throw ValidationError("--since '\(text)' is neither a duration (2h, 30m, 7d) nor an ISO 8601 time")
}
