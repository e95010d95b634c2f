import FlintCore
import FlintPluginAPI
import FlintStore
import Foundation
import Testing

/// The dispatcher's batched writes (one statement per request's rows, docs/architecture.md,
/// Dispatch) on real SQLite files: more ids than one statement takes, rows outside the list left
/// alone, and what was written still there after the file is opened again.
@Suite("Batched dispatch writes on SQLite")
struct BatchedOutcomeTests {
    /// `count` events, each with a run and an outbox row for `action(i)`; returns (run ids, outbox ids).
    static func seed(_ store: SQLiteStateStore, count: Int, action: @escaping @Sendable (Int) -> String = { _ in "braze" }) async throws -> (
        runs: [Int64], outbox: [Int64]
    ) {
        try await store.write { tx in
            var runs: [Int64] = []
            for i in 0..<count {
                let (_, run) = try tx.eventWithRun(Fixture.event("m-\(i)", user: "u-\(i)"), receivedAt: Fixture.at(Double(i)))
                _ = try tx.insertOutbox(
                    NewOutboxItem(
                        runId: run, key: "k-\(i)", action: action(i), body: ["campaign_id": "c-1", "recipients": [["external_user_id": .string("u-\(i)")]]],
                        sendAt: Fixture.at(3600), createdAt: Fixture.at(Double(i))))
                runs.append(run)
            }
            let outbox = try tx.dueOutbox(now: .distantFuture, limit: count, actions: .noneOf([])).map(\.id)
            return (runs, outbox)
        }
    }

    @Test("markSending and setOutbox(ids:) change exactly the listed rows, past one statement's 500 ids, and survive reopening the file")
    func outboxRows() async throws {
        let folder = try TemporaryFolder()
        let path = folder.path()
        let store = try SQLiteStateStore(path: path)
        let (_, ids) = try await Self.seed(store, count: 1_203)
        let listed = Array(ids.prefix(1_201))
        let untouched = Array(ids.suffix(2))

        // When 1,201 rows are marked sending in one write
        _ = try await store.write { tx in try tx.markSending(ids: listed, at: Fixture.at(10)) }
        let sending = try await store.write { tx in try ids.map { try tx.outbox(id: $0)! } }
        #expect(sending.prefix(1_201).allSatisfy { $0.state == .sending && $0.attempts == 1 && $0.nextAttemptAt == nil })
        #expect(sending.suffix(2).allSatisfy { $0.state == .pending && $0.attempts == 0 })

        // And their outcome is written with one change for all
        let retryAt = Fixture.at(70)
        try await store.write { tx in
            try tx.setOutbox(ids: listed, state: .pending, attempts: 1, nextAttemptAt: retryAt, lastError: "HTTP 503", at: Fixture.at(11))
        }

        // Then, after the file is opened again, every listed row has it and the others have not
        let reopened = try SQLiteStateStore(path: path)
        let rows = try await reopened.write { tx in try ids.map { try tx.outbox(id: $0)! } }
        for row in rows.prefix(1_201) {
            #expect(row.state == .pending && row.attempts == 1 && row.nextAttemptAt == retryAt && row.lastError == "HTTP 503", "row \(row.id)")
        }
        for row in rows.suffix(2) { #expect(row.state == .pending && row.attempts == 0 && row.lastError == nil) }
        #expect(untouched == rows.suffix(2).map(\.id))
        // Not due before the retry time (except the two never sent); the next due time is the retry
        let due = try await reopened.write { tx in try tx.dueOutbox(now: Fixture.at(20), limit: 5_000, actions: .only("braze")).map(\.id) }
        #expect(due == untouched)
        let next = try await reopened.write { tx in try tx.nextDue(after: Fixture.at(20)) }
        #expect(next == retryAt)
        let later = try await reopened.write { tx in try tx.dueOutbox(now: retryAt, limit: 5_000, actions: .only("braze")).count }
        #expect(later == 1_203)
    }

    @Test("updateRuns(ids:) writes one update to every listed run; nil fields keep what the run had")
    func runs() async throws {
        let folder = try TemporaryFolder()
        let path = folder.path()
        let store = try SQLiteStateStore(path: path)
        let (runs, _) = try await Self.seed(store, count: 700)
        let body: JSONValue = ["campaign_id": "c-1", "recipients": .array((0..<50).map { ["external_user_id": .string("u-\($0)")] })]

        // When a coalesced request's 650 runs are scheduled in one update
        try await store.write { tx in
            try tx.updateRuns(
                ids: Array(runs.prefix(650)), RunUpdate(status: .scheduled, reason: "scheduled: schedule_id s-1", scheduleId: "s-1", dispatchId: "d-1", request: body),
                at: Fixture.at(5))
        }
        // And later some of them change again without a schedule id
        try await store.write { tx in
            try tx.updateRuns(ids: Array(runs.prefix(3)), RunUpdate(status: .cancelled, reason: "cancelled by Order Delivered"), at: Fixture.at(6))
        }

        // Then, in the reopened file, each has what it was given
        let reopened = try SQLiteStateStore(path: path)
        let records = try await reopened.write { tx in try runs.map { try tx.run(id: $0)! } }
        for r in records.prefix(3) {
            #expect(r.status == .cancelled && r.reason == "cancelled by Order Delivered")
            #expect(r.scheduleId == "s-1" && r.dispatchId == "d-1" && r.request == body, "nil fields keep the earlier values")
        }
        for r in records[3..<650] { #expect(r.status == .scheduled && r.scheduleId == "s-1" && r.request == body) }
        for r in records.suffix(50) { #expect(r.status == .pending && r.scheduleId == nil && r.request == nil) }
        let cancelled = try await reopened.write { tx in try tx.cancelledRunIds(among: runs) }
        #expect(cancelled == Set(runs.prefix(3)))
    }

    @Test("due rows per action: one action's lane, and the lane of actions no plugin provides")
    func perAction() async throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteStateStore(path: folder.path())
        let names = ["braze", "slack", "gone"]
        let (_, ids) = try await Self.seed(store, count: 9) { names[$0 % 3] }
        let braze = try await store.write { tx in try tx.dueOutbox(now: Fixture.at(100), limit: 100, actions: .only("braze")) }
        #expect(braze.map(\.id) == [ids[0], ids[3], ids[6]])
        #expect(braze.allSatisfy { $0.action == "braze" })
        let orphans = try await store.write { tx in try tx.dueOutbox(now: Fixture.at(100), limit: 100, actions: .noneOf(["braze", "slack"])) }
        #expect(orphans.map(\.id) == [ids[2], ids[5], ids[8]])
        let limited = try await store.write { tx in try tx.dueOutbox(now: Fixture.at(100), limit: 2, actions: .noneOf([])) }
        #expect(limited.map(\.id) == Array(ids.prefix(2)), "oldest first, up to the limit")
    }
}
