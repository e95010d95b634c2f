import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation
import GRDB

/// The SQLite `StateStore` (DESIGN.md "State, runs and the ledger"): one file in WAL mode, written by
/// one process (`flint serve` or `flint ingest`) and read by any number (`flint runs`, `flint why`, ...).
///
/// A writable store is a GRDB `DatabasePool`: one writer connection, reader connections that see the
/// last commit and never wait for the writer. Each `write` is one transaction: the engine commits a
/// batch of events, their runs, outbox rows and rule state together (group commit).
public final class SQLiteStateStore: StateStore, LedgerReader {
    /// How hard a commit works to survive a crash.
    public enum Durability: Sendable, Hashable {
        /// `synchronous = NORMAL`: in WAL mode a commit survives a process crash (kill -9); the last
        /// commits may be lost on power loss. About 3x the commits/s of `full` (PLATFORM.md).
        case normal
        /// `synchronous = FULL`: a commit also survives power loss (an fsync per commit).
        case full
    }

    /// The database file (`:memory:` for `inMemory()`).
    public let path: String
    /// True when opened with `readOnly: true`: `write` and `prune` throw.
    public let isReadOnly: Bool
    private let writer: (any DatabaseWriter)?
    private let reader: any DatabaseReader

    /// Opens (and, when writable, creates and migrates) the store at `path`.
    ///
    /// - Parameters:
    ///   - readOnly: for reading commands while another process writes. The file must exist and be
    ///     migrated; nothing is created or changed.
    ///   - durability: `.normal` (the default) or `.full`, see `Durability`.
    ///   - busyTimeout: how long a connection waits for a lock held by another process (checkpoints,
    ///     WAL recovery, a second writer) before failing.
    public init(path: String, readOnly: Bool = false, durability: Durability = .normal, busyTimeout: TimeInterval = 5) throws {
        self.path = path
        self.isReadOnly = readOnly
        var config = Configuration()
        config.label = "flint.store"
        config.busyMode = .timeout(busyTimeout)

        if readOnly {
            guard FileManager.default.fileExists(atPath: path) else { throw SQLiteStoreError.missingDatabase(path) }
            config.readonly = true
            let pool = try DatabasePool(path: path, configuration: config)
            let missing = try pool.read { db in
                let applied = try Migrations.migrator.appliedIdentifiers(db)
                return Migrations.names.filter { !applied.contains($0) }
            }
            if !missing.isEmpty { throw SQLiteStoreError.notInitialized(path, missing: missing) }
            self.writer = nil
            self.reader = pool
            return
        }

        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let pool = try DatabasePool(path: path, configuration: config)
        try Migrations.migrator.migrate(pool)
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: ProcessInfo.processInfo.environment["FLINT_STORE_PRAGMAS"] ?? "")
        }
        if durability == .full {
            // DatabasePool sets NORMAL after `prepareDatabase` runs, so FULL is applied to the writer
            // connection once it is open (PLATFORM.md). Readers never commit: their setting is moot.
            try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        }
        self.writer = pool
        self.reader = pool
    }

    private init(queue: DatabaseQueue) {
        self.path = ":memory:"
        self.isReadOnly = false
        self.writer = queue
        self.reader = queue
    }

    /// A private in-memory database with the same schema and SQL as a file store, for tests.
    public static func inMemory() throws -> SQLiteStateStore {
        let queue = try DatabaseQueue()
        try Migrations.migrator.migrate(queue)
        return SQLiteStateStore(queue: queue)
    }

    /// Closes the connections. Later calls fail. Optional: the connections also close when the store
    /// is released.
    public func close() throws {
        try reader.close()
    }

    public var ledger: any LedgerReader { self }

    public func write<T: Sendable>(_ body: @Sendable (inout any StateTransaction) throws -> T) async throws -> T {
        guard let writer else { throw SQLiteStoreError.readOnly(path) }
        return try await writer.write { db in
            var transaction: any StateTransaction = SQLiteTransaction(db: db)
            return try body(&transaction)
        }
    }

    /// Runs a read in one snapshot; never waits for the writer (WAL).
    func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await reader.read(body)
    }

    // MARK: Retention

    public func prune(_ policy: RetentionPolicy, now: Date) async throws -> PruneResult {
        guard let writer else { throw SQLiteStoreError.readOnly(path) }
        let t = now.timeIntervalSince1970
        return try await writer.write { db in
            // Events past retention with no open run (pending, scheduled, unknown) go, with all
            // their runs: no run may outlive its event. Outbox rows follow their runs (ON DELETE CASCADE).
            try db.execute(
                sql: """
                    DROP TABLE IF EXISTS temp.prune_events;
                    CREATE TEMP TABLE prune_events (seq INTEGER PRIMARY KEY);
                    INSERT INTO prune_events
                    SELECT seq FROM events e WHERE e.received_at < ? AND NOT EXISTS (
                        SELECT 1 FROM runs r WHERE r.event_seq = e.seq AND r.status IN ('pending', 'scheduled', 'unknown'));
                    """, arguments: [t - policy.events])
            var runs = 0
            try db.execute(
                sql: "DELETE FROM runs WHERE status = 'not_matched' AND created_at < ?", arguments: [t - policy.notMatched])
            runs += db.changesCount
            try db.execute(
                sql: "DELETE FROM runs WHERE status IN (\(Self.closedStatusList)) AND created_at < ?", arguments: [t - policy.runs])
            runs += db.changesCount
            try db.execute(sql: "DELETE FROM runs WHERE event_seq IN (SELECT seq FROM prune_events)")
            runs += db.changesCount
            try db.execute(sql: "DELETE FROM events WHERE seq IN (SELECT seq FROM prune_events)")
            let events = db.changesCount
            try db.execute(sql: "DELETE FROM rejected_events WHERE received_at < ?", arguments: [t - policy.rejected])
            let rejected = db.changesCount
            try db.execute(sql: "DROP TABLE temp.prune_events")
            return PruneResult(events: events, runs: runs, rejected: rejected)
        }
    }

    /// Statuses that end a run, other than `not_matched` (which has its own retention): derived from
    /// `RunStatus` so a new closed status is pruned too.
    private static let closedStatusList: String = RunStatus.allCases
        .filter { ![.pending, .scheduled, .unknown, .notMatched].contains($0) }
        .map { "'\($0.rawValue)'" }
        .joined(separator: ", ")

    // MARK: JSON columns

    /// Stored JSON was written by Flint, so a generous depth limit only guards against corruption.
    static func parseJSON(_ text: String) throws -> JSONValue {
        try JSONParser.parse(text, maxDepth: 512)
    }
}
