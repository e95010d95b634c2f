import FlintCore
import FlintStore
import Testing

/// The two twins: behavioural tests run against both, so they cannot drift apart.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    /// `SQLiteStateStore.inMemory()`: the same SQL without a file.
    case sqliteInMemory = "sqlite-in-memory"
    case memory

    var testDescription: String { rawValue }

    /// A new, empty store: a real SQLite file in `folder`, or a `MemoryStateStore`.
    func open(in folder: TemporaryFolder) throws -> any StateStore & LedgerReader {
        switch self {
        case .sqlite: try SQLiteStateStore(path: folder.path())
        case .sqliteInMemory: try SQLiteStateStore.inMemory()
        case .memory: MemoryStateStore()
        }
    }
}
