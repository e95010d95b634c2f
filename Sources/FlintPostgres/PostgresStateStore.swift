import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation
import Logging
import PostgresNIO

/// The PostgreSQL `StateStore` (docs/architecture.md, The PostgreSQL store): the SQLite store's
/// schema and queries on a PostgreSQL database named by a `postgres://` URL.
///
/// `StateStore.write` hands the engine a synchronous transaction. Each store therefore owns one
/// writer connection on a dedicated thread (`ConnectionWorker`): a write runs there, between BEGIN
/// and COMMIT, each statement blocking that thread for one round trip. Reads run the same way on
/// two reader connections, each in a REPEATABLE READ READ ONLY transaction (one snapshot per read,
/// never waiting for the writer). Connections open on first use and again after they were lost.
public final class PostgresStateStore: StateStore, LedgerReader, Sendable {
    public let url: PostgresURL
    /// True when opened with `readOnly: true`: `write` and `prune` throw.
    public let isReadOnly: Bool
    private let writer: ConnectionWorker?
    private let readers: [ConnectionWorker]
    private let nextReader = Counter()

    /// Opens (and, when writable, migrates) the store, blocking the calling thread while it connects.
    /// From async code prefer `open(_:readOnly:)`.
    ///
    /// - Throws: `PostgresStoreError`: the server is unreachable or refused the login (the message
    ///   names host, port and database, never the password), or, read-only, the database is not a
    ///   migrated Flint database.
    public init(url: PostgresURL, readOnly: Bool = false, logger: Logger = Logger(label: "flint.postgres")) throws {
        self.url = url
        self.isReadOnly = readOnly
        // A first connection now, so a server that is down or a wrong password is reported when the
        // store opens, not on its first query.
        let session = try PGSession.connect(url, id: 0, logger: logger)
        defer { session.close() }
        if readOnly {
            guard let missing = try PostgresMigrations.missing(session) else {
                throw PostgresStoreError(
                    .missingDatabase,
                    "no Flint database at \(url.location): run `flint ingest FILE` or `flint serve` first to create its tables, or point `database` at the one they use")
            }
            if !missing.isEmpty { throw PostgresStoreError.notInitialized(url, missing: missing) }
            self.writer = nil
        } else {
            try PostgresMigrations.migrate(session)
            self.writer = ConnectionWorker(url: url, id: 1, name: "flint.postgres.writer", logger: logger)
        }
        self.readers = (0..<2).map { ConnectionWorker(url: url, id: 2 + $0, name: "flint.postgres.reader\($0)", logger: logger) }
    }

    /// Opens the store without blocking a thread of the cooperative pool: connecting and migrating
    /// run on a thread of their own.
    public static func open(_ url: PostgresURL, readOnly: Bool = false, logger: Logger = Logger(label: "flint.postgres")) async throws
        -> PostgresStateStore
    {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try PostgresStateStore(url: url, readOnly: readOnly, logger: logger) })
            }
            thread.name = "flint.postgres.open"
            thread.start()
        }
    }

    deinit {
        let workers = readers + (writer.map { [$0] } ?? [])
        Task { for worker in workers { await worker.shutdown() } }
    }

    /// Closes the connections now (a later call opens them again). Optional: they also close when
    /// the store is released.
    public func close() async {
        for worker in readers { await worker.disconnect() }
        await writer?.disconnect()
    }

    public var ledger: any LedgerReader { self }

    public func write<T: Sendable>(_ body: @Sendable (inout any StateTransaction) throws -> T) async throws -> T {
        guard let writer else { throw PostgresStoreError.readOnly(url) }
        let url = self.url
        return try await writer.transaction("BEGIN") { session in
            var transaction: any StateTransaction = PostgresTransaction(session: session, url: url)
            return try body(&transaction)
        }
    }

    /// Runs a read in one snapshot on a reader connection; never waits for the writer.
    func read<T: Sendable>(_ body: @Sendable (PGSession) throws -> T) async throws -> T {
        let worker = readers[nextReader.next() % readers.count]
        return try await worker.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }

    // MARK: Retention

    public func prune(_ policy: RetentionPolicy, now: Date) async throws -> PruneResult {
        guard let writer else { throw PostgresStoreError.readOnly(url) }
        let t = now.timeIntervalSince1970
        return try await writer.transaction("BEGIN") { db in
            // Events past retention with no open run (pending, scheduled, unknown) go, with all
            // their runs: no run may outlive its event. Outbox rows follow their runs (ON DELETE CASCADE).
            try db.query("CREATE TEMP TABLE prune_events (seq bigint PRIMARY KEY) ON COMMIT DROP")
            try db.query(
                """
                INSERT INTO prune_events
                SELECT seq FROM events e WHERE e.received_at < ? AND NOT EXISTS (
                    SELECT 1 FROM runs r WHERE r.event_seq = e.seq AND r.status IN ('pending', 'scheduled', 'unknown'))
                """, binds(t - policy.events))
            var runs = 0
            runs += try db.query("DELETE FROM runs WHERE status = 'not_matched' AND created_at < ?", binds(t - policy.notMatched)).changed
            runs += try db.query("DELETE FROM runs WHERE status IN (\(Self.closedStatusList)) AND created_at < ?", binds(t - policy.runs)).changed
            runs += try db.query("DELETE FROM runs WHERE event_seq IN (SELECT seq FROM prune_events)").changed
            let events = try db.query("DELETE FROM events WHERE seq IN (SELECT seq FROM prune_events)").changed
            let rejected = try db.query("DELETE FROM rejected_events WHERE received_at < ?", binds(t - policy.rejected)).changed
            // Requests sent whose outbox rows all went with their runs.
            try db.query(
                "DELETE FROM sent_requests s WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.sent_id = s.id)")
            return PruneResult(events: events, runs: runs, rejected: rejected)
        }
    }

    /// Statuses that end a run, other than `not_matched` (which has its own retention).
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

/// A thread-safe counter (which reader connection serves the next read).
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value &+= 1
        return value & Int.max
    }
}
