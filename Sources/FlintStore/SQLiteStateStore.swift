import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation
import GRDB

/// The SQLite `StateStore` (docs/architecture.md, Runs and the ledger): one file in WAL mode, written by
/// one process (`flint serve` or `flint ingest`) and read by any number (`flint runs`, `flint why`, ...).
///
/// A writable store is a GRDB `DatabasePool`: one writer connection, reader connections that see the
/// last commit and never wait for the writer. Each `write` is one transaction: the engine commits a
/// batch of events, their runs, outbox rows and rule state together (group commit).
public final class SQLiteStateStore: StateStore, LedgerReader {
    /// How hard a commit works to survive a crash.
    public enum Durability: Sendable, Hashable {
        /// `synchronous = NORMAL`: in WAL mode a commit survives a process crash (kill -9); the last
        /// commits may be lost on power loss.
        case normal
        /// `synchronous = FULL`: a commit also survives power loss, at the price of an fsync per
        /// commit (docs/architecture.md, The SQLite store: 41k vs 29k events/s through the listener with group commit).
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
            // Applied to the writer connection once it is open: DatabasePool sets synchronous = NORMAL
            // after `prepareDatabase` runs, so FULL set there would never apply (docs/architecture.md, The SQLite store).
            if durability == .full { try db.execute(sql: "PRAGMA synchronous = FULL") }
            try db.execute(sql: Self.writerPragmas)
        }
        self.writer = pool
        self.reader = pool
    }

    /// The writer's settings, measured with the ingest benchmark (`StoreBenchmark`): an 8 MiB page
    /// cache keeps the hottest index pages (message ids, users) in memory instead of re-reading them
    /// (16 MiB ingested 4-10% faster, 64 MiB a few percent more, but the cache counts fully against
    /// `flint serve`'s 100 MB memory budget: 106 MB at 16 MiB, 96 MB at 8, BENCHMARKS.md), and
    /// checkpointing every ~40 MiB of WAL instead of 4 MiB copies a hot page to the database once
    /// instead of many times (the WAL file is cut back to 64 MiB afterwards).
    static let writerPragmas = """
        PRAGMA cache_size = -8192;
        PRAGMA wal_autocheckpoint = 10000;
        PRAGMA journal_size_limit = 67108864;
        """

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

    /// A PRAGMA's value on the writer connection (`synchronous`, `cache_size`, ...), for tests and
    /// diagnostics; nil for a read-only store.
    func writerPragma(_ name: String) async throws -> String? {
        guard let writer else { return nil }
        return try await writer.writeWithoutTransaction { try String.fetchOne($0, sql: "PRAGMA \(name)") }
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
            // Requests sent whose outbox rows all went with their runs.
            try db.execute(sql: "DELETE FROM sent_requests WHERE id NOT IN (SELECT sent_id FROM outbox WHERE sent_id IS NOT NULL)")
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
    static let storedJSONMaxDepth = 512

    static func parseJSON(_ text: String) throws -> JSONValue {
        try JSONParser.parse(text, maxDepth: storedJSONMaxDepth)
    }
}
