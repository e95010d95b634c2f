import Foundation
import Testing

@testable import FlintStore

@Suite("Durability settings")
struct DurabilityTests {
    @Test("a writable store commits with synchronous = NORMAL by default, FULL when asked")
    func synchronous() async throws {
        let folder = try TemporaryFolder()

        let normal = try SQLiteStateStore(path: folder.path("normal.db"))
        let full = try SQLiteStateStore(path: folder.path("full.db"), durability: .full)

        // 1 is NORMAL, 2 is FULL (https://sqlite.org/pragma.html#pragma_synchronous)
        #expect(try await normal.writerPragma("synchronous") == "1")
        #expect(try await full.writerPragma("synchronous") == "2")
        #expect(try await full.writerPragma("journal_mode") == "wal")
        #expect(try await full.writerPragma("foreign_keys") == "1")
    }

    @Test("a write that breaks a foreign key fails and writes nothing")
    func foreignKeys() async throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteStateStore(path: folder.path())

        await #expect(throws: (any Error).self) {
            try await store.write { tx in
                _ = try tx.insertEvent(Fixture.event("m-1"), source: "test", receivedAt: Fixture.t0)
                _ = try tx.insertRun(Fixture.run(seq: 42, event: "m-42"))  // no event 42
            }
        }

        #expect(try tableCounts(folder.path())["events"] == 0)
    }
}
