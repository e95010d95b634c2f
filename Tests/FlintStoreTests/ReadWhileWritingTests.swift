import Dispatch
import FlintCore
import FlintPluginAPI
import FlintStore
import Foundation
import Testing

@Suite("Reading while another connection writes", .timeLimit(.minutes(1)))
struct ReadWhileWritingTests {
    static func insert(_ store: SQLiteStateStore, _ ids: Range<Int>) async throws {
        try await store.write { tx in
            for i in ids { try tx.eventWithRun(Fixture.event("m-\(i)"), receivedAt: Fixture.at(Double(i))) }
        }
    }

    @Test("a read-only store sees each commit of a writer that keeps writing")
    func readOnlySeesCommits() async throws {
        let folder = try TemporaryFolder()
        let writer = try SQLiteStateStore(path: folder.path())
        try await Self.insert(writer, 0..<10)
        let reader = try SQLiteStateStore(path: folder.path(), readOnly: true)

        for round in 1...5 {
            #expect(try await reader.status().events == round * 10)
            try await Self.insert(writer, round * 10..<(round + 1) * 10)
        }
        #expect(try await reader.event(id: "m-59")?.seq == 60)
        #expect(try await reader.runs(RunQuery(limit: 1)).first?.eventId == "m-59")
    }

    @Test("reads do not wait for a write in progress: they see the last commit", arguments: [false, true])
    func readsDuringWrite(readOnlyReader: Bool) async throws {
        let folder = try TemporaryFolder()
        let writer = try SQLiteStateStore(path: folder.path())
        try await Self.insert(writer, 0..<3)
        let reader = readOnlyReader ? try SQLiteStateStore(path: folder.path(), readOnly: true) : writer

        // Given a write that has inserted an event and then holds its transaction open
        let (inside, insideContinuation) = AsyncStream.makeStream(of: Void.self)
        let release = DispatchSemaphore(value: 0)
        let write = Task {
            try await writer.write { tx in
                try tx.eventWithRun(Fixture.event("m-held"), receivedAt: Fixture.at(100))
                insideContinuation.yield()
                release.wait()  // on GRDB's writer queue, not on a Swift concurrency thread
            }
        }
        for await _ in inside { break }

        // When another connection reads, it answers at once, without the uncommitted event
        let during = try await reader.status().events
        let held = try await reader.event(id: "m-held")
        release.signal()
        try await write.value

        // Then the next read sees the commit
        #expect(during == 3)
        #expect(held == nil)
        #expect(try await reader.status().events == 4)
    }

    @Test("a read-only open of a missing file fails with a message naming the path and what to run")
    func missingFile() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("nothing-here.db")

        let error = try #require(throws: SQLiteStoreError.self) { try SQLiteStateStore(path: path, readOnly: true) }

        #expect(error.isMissingDatabase)
        #expect(error.description.contains(path))
        #expect(error.description.contains("flint ingest") && error.description.contains("flint serve"))
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("a read-only open works after the writer has closed and removed its WAL files")
    func afterWriterClosed() async throws {
        let folder = try TemporaryFolder()
        let writer = try SQLiteStateStore(path: folder.path())
        try await Self.insert(writer, 0..<2)
        try writer.close()

        let reader = try SQLiteStateStore(path: folder.path(), readOnly: true)

        #expect(try await reader.status().events == 2)
    }

    @Test("a read-only open of a file that is not a migrated Flint database says so")
    func notMigrated() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("empty.db")
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))

        let error = try #require(throws: SQLiteStoreError.self) { try SQLiteStateStore(path: path, readOnly: true) }

        #expect(error.description.contains(path) && error.description.contains("v1-ledger"))
    }
}
