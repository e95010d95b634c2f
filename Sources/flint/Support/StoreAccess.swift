import ArgumentParser
import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import Foundation

/// Opens the configured database.
enum StoreAccess {
    /// For writing commands (`ingest`, `serve`): creates the file when needed.
    static func openForWriting(_ config: Configuration) throws -> SQLiteStateStore {
        do {
            return try SQLiteStateStore(path: config.database)
        } catch {
            Terminal.err("error: cannot open the database \(config.database): \(error)")
            throw ExitCode(1)
        }
    }

    /// For reading commands: read-only, works while `flint serve` writes.
    static func openForReading(_ config: Configuration) throws -> any LedgerReader {
        guard FileManager.default.fileExists(atPath: config.database) else {
            Terminal.err(
                "error: no database at \(config.database): nothing has been ingested yet (run flint ingest FILE or flint serve), or point --database / FLINT_DATABASE at it")
            throw ExitCode(1)
        }
        do {
            return try SQLiteStateStore(path: config.database, readOnly: true).ledger
        } catch {
            Terminal.err("error: cannot open the database \(config.database): \(error)")
            throw ExitCode(1)
        }
    }
}

/// `2h`, `30m`, `7d` before now, or an ISO 8601 instant.
func parseSince(_ text: String?, now: Date = Date()) throws -> Date? {
    guard let text else { return nil }
    if let seconds = DurationText.seconds(text) { return now.addingTimeInterval(-TimeInterval(seconds)) }
    if let date = Timestamp.parse(text) { return date }
    throw ValidationError("--since '\(text)' is neither a duration (2h, 30m, 7d) nor an ISO 8601 time")
}
