import FlintCore
import FlintPostgres
import FlintStore
import FlintTesting
import Testing

/// The twins: behavioural tests run against each, so they cannot drift apart.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    /// `SQLiteStateStore.inMemory()`: the same SQL without a file.
    case sqliteInMemory = "sqlite-in-memory"
    case memory
    /// `PostgresStateStore` on a database of its own in this process's throwaway cluster
    /// (`PostgresTestCluster`).
    case postgres

    var testDescription: String { rawValue }

    /// Every kind this machine can run: PostgreSQL only with its binaries (else skipped with a
    /// printed reason; under CI, `FLINT_CI=1`, never skipped).
    static var allCases: [StoreKind] {
        PostgresTestCluster.skipReason == nil ? [.sqlite, .sqliteInMemory, .memory, .postgres] : [.sqlite, .sqliteInMemory, .memory]
    }

    /// A new, empty store: a real SQLite file in `folder`, a `MemoryStateStore`, or a fresh PostgreSQL database.
    func open(in folder: TemporaryFolder) async throws -> any StateStore & LedgerReader {
        switch self {
        case .sqlite: try SQLiteStateStore(path: folder.path())
        case .sqliteInMemory: try SQLiteStateStore.inMemory()
        case .memory: MemoryStateStore()
        case .postgres:
            // Starting the cluster and creating a database run processes: off the pool.
            try await PostgresStateStore.open(PostgresURL(parsing: PostgresTestCluster.shared().makeDatabase()))
        }
    }
}
