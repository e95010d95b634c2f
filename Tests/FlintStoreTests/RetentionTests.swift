import FlintCore
import FlintPluginAPI
import FlintStore
import Foundation
import GRDB
import Testing

@Suite("Retention")
struct RetentionTests {
    static let day: TimeInterval = 86_400
    static let now = Fixture.at(100 * day)
    static func ago(_ days: Double) -> Date { now.addingTimeInterval(-days * day) }

    @Test("prune removes old events, runs and rejects, not_matched sooner, and keeps open runs with their events", arguments: StoreKind.allCases)
    func prune(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)

        // Given (retention: events and runs 30 days, not_matched 3 days, rejected 30 days)
        try await store.write { tx in
            // a 10-day-old event whose not_matched run is past its 3 days: the run goes, the event stays
            try tx.eventWithRun(Fixture.event("recent-not-matched"), receivedAt: Self.ago(10), rule: "a", status: .notMatched)
            // 40-day-old events with a pending (and its outbox row), a scheduled and an unknown run: all stay
            let (_, pending) = try tx.eventWithRun(Fixture.event("old-pending"), receivedAt: Self.ago(40), rule: "a")
            _ = try tx.insertOutbox(Fixture.outbox(run: pending, key: "k-pending", createdAt: Self.ago(40)))
            try tx.eventWithRun(Fixture.event("old-scheduled"), receivedAt: Self.ago(40), rule: "a", status: .scheduled)
            try tx.eventWithRun(Fixture.event("old-unknown"), receivedAt: Self.ago(40), rule: "a", status: .unknown)
            // a 40-day-old event with a failed run (and a dead outbox row): both go
            let (_, failed) = try tx.eventWithRun(Fixture.event("old-failed"), receivedAt: Self.ago(40), rule: "a", status: .failed)
            _ = try tx.insertOutbox(Fixture.outbox(run: failed, key: "k-failed", createdAt: Self.ago(40)))
            // a 40-day-old event whose only run is young: the event goes, and its run with it
            try tx.eventWithRun(Fixture.event("old-young-run"), receivedAt: Self.ago(40), rule: "a", status: .skipped, createdAt: Self.ago(1))
            // a 40-day-old event with an open and a closed run: the event and both runs stay
            let (seq, _) = try tx.eventWithRun(Fixture.event("old-mixed"), receivedAt: Self.ago(40), rule: "a")
            _ = try tx.insertRun(Fixture.run(seq: seq, event: "old-mixed", rule: "b", status: .cancelled, createdAt: Self.ago(20)))
            // a young event with a young skipped run: both stay
            try tx.eventWithRun(Fixture.event("young"), receivedAt: Self.ago(1), rule: "a", status: .skipped)
            try tx.insertRejected(source: "test", index: 0, errors: ["old"], body: "{}", receivedAt: Self.ago(31))
            try tx.insertRejected(source: "test", index: 1, errors: ["young"], body: "{}", receivedAt: Self.ago(29))
        }

        // When
        let result = try await store.prune(RetentionPolicy(), now: Self.now)

        // Then
        #expect(result == PruneResult(events: 2, runs: 3, rejected: 1))
        let events = Set(try await store.events(EventQuery(limit: 100)).map(\.messageId))
        #expect(events == ["recent-not-matched", "old-pending", "old-scheduled", "old-unknown", "old-mixed", "young"])
        let runs = try await store.runs(RunQuery(limit: 100)).map { "\($0.eventId)/\($0.ruleId)" }
        #expect(Set(runs) == ["old-pending/a", "old-scheduled/a", "old-unknown/a", "old-mixed/a", "old-mixed/b", "young/a"])
        #expect(try await store.rejected(EventQuery()).map(\.errors) == [["young"]])
        let status = try await store.status()
        #expect(status.outboxPending == 1)
        #expect(status.runsByStatus == [.pending: 2, .scheduled: 1, .unknown: 1, .cancelled: 1, .skipped: 1])

        if kind == .sqlite {
            // No run without its event, no outbox row without its run
            let orphans = try inspect(folder.path()) { db in
                (
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM runs r LEFT JOIN events e ON e.seq = r.event_seq WHERE e.seq IS NULL"),
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox o LEFT JOIN runs r ON r.id = o.run_id WHERE r.id IS NULL"),
                    try String.fetchAll(db, sql: "SELECT key FROM outbox")
                )
            }
            #expect(orphans.0 == 0 && orphans.1 == 0)
            #expect(orphans.2 == ["k-pending"])
        }

        // And pruning again removes nothing
        #expect(try await store.prune(RetentionPolicy(), now: Self.now) == PruneResult(events: 0, runs: 0, rejected: 0))
    }

    @Test("a read-only store refuses to write or prune")
    func readOnlyRefuses() async throws {
        let folder = try TemporaryFolder()
        _ = try SQLiteStateStore(path: folder.path())
        let reader = try SQLiteStateStore(path: folder.path(), readOnly: true)

        await #expect(throws: SQLiteStoreError.self) { try await reader.prune(RetentionPolicy(), now: Self.now) }
        await #expect(throws: SQLiteStoreError.self) {
            try await reader.write { tx in try tx.insertEvent(Fixture.event("m-1"), source: "test", receivedAt: Self.now) }
        }
    }
}
