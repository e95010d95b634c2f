import FlintCore
import FlintPluginAPI
import FlintRules
import FlintTesting
import Foundation
import Synchronization
import Testing

func rules(_ yaml: String) throws -> RuleSet {
    try TestRules.load(yaml)
}

func makeEngine(_ yaml: String, store: any StateStore = MemoryStateStore(), clock: TestClock, settings: EngineSettings = EngineSettings()) async throws -> Engine {
    let engine = Engine(store: store, ruleBook: RuleBook(), settings: settings, now: { clock.now })
    try await engine.install(try rules(yaml))
    return engine
}

@Suite("Engine: accept, dedupe, match, plan, limits, ledger")
struct EngineTests {
    static let cart = """
        id: cart
        when:
          event: Cart Abandoned
          if: { properties.value: { gte: 20 } }
        send: { campaign_id: c-1, trigger_properties: { value: "{{ properties.value }}" } }
        schedule: { after: 2h }
        limit:
          once_per: { key: "{{ userId }}", within: 7d }
        cancel_on:
          - event: Order Completed
        """

    func track(_ name: String, id: String, user: String = "u-1", at: String = "2026-11-29T18:00:00Z", properties: JSONValue = [:], context: JSONValue = [:]) -> IncomingEvent {
        IncomingEvent(value: ["event": .string(name), "messageId": .string(id), "userId": .string(user), "timestamp": .string(at), "properties": properties, "context": context])
    }

    @Test("an accepted event is planned, its run pending with an outbox row; the same messageId again is a duplicate")
    func plannedAndDeduped() async throws {
        let clock = TestClock("2026-11-29T18:00:01Z")
        let store = MemoryStateStore()
        let engine = try await makeEngine(Self.cart, store: store, clock: clock)
        let first = try await engine.submitAndDecide([track("Cart Abandoned", id: "m-1", properties: ["value": 30])], source: "test")
        #expect(first == SubmitReceipt(accepted: 1, duplicates: 0, rejected: []))
        let again = try await engine.submitAndDecide([track("Cart Abandoned", id: "m-1", properties: ["value": 30])], source: "test")
        #expect(again == SubmitReceipt(accepted: 0, duplicates: 1, rejected: []))
        let runs = try await store.ledger.runs(RunQuery())
        #expect(runs.count == 1)
        let run = try #require(runs.first)
        #expect(run.status == .pending)
        #expect(run.schedule == ["time": "2026-11-29T20:00:00Z", "in_local_time": false, "at_optimal_time": false])
        #expect(run.request?["recipients"] == [["external_user_id": "u-1", "trigger_properties": ["value": 30]]])
        #expect(run.ruleVersion == (try rules(Self.cart)).rules[0].version)
        let status = try await store.ledger.status()
        #expect(status.outboxPending == 1)
        #expect(status.events == 1)
    }

    @Test("bad input is rejected with its index and reasons, kept for inspection, and the good events of the batch are committed")
    func rejected() async throws {
        let clock = TestClock("2026-11-29T18:00:01Z")
        let store = MemoryStateStore()
        let engine = try await makeEngine(Self.cart, store: store, clock: clock)
        let receipt = try await engine.submitAndDecide(
            [track("Cart Abandoned", id: "m-1", properties: ["value": 30]), IncomingEvent(value: ["event": "X"]), IncomingEvent(value: "oops", problem: "line 3, column 1: invalid JSON: unexpected 'o'")],
            source: "test")
        #expect(receipt.accepted == 1)
        #expect(receipt.rejected == [
            .init(index: 1, errors: ["userId: one of userId or anonymousId is required"]),
            .init(index: 2, errors: ["line 3, column 1: invalid JSON: unexpected 'o'"]),
        ])
        let kept = try await store.ledger.rejected(EventQuery())
        #expect(kept.map(\.index).sorted() == [1, 2])
        #expect(kept.first { $0.index == 2 }?.body == "oops")
    }

    @Test("a condition that fails makes a not_matched run that names the condition and the value seen")
    func notMatched() async throws {
        let clock = TestClock("2026-11-29T18:00:01Z")
        let store = MemoryStateStore()
        let engine = try await makeEngine(Self.cart, store: store, clock: clock)
        _ = try await engine.submitAndDecide([track("Cart Abandoned", id: "m-1", properties: ["value": 12.5])], source: "test")
        let run = try #require(try await store.ledger.runs(RunQuery()).first)
        #expect(run.status == .notMatched)
        #expect(run.reason == "properties.value gte 20: saw 12.5")
        #expect(run.trace.failedCondition?.seen == 12.5)
        #expect(try await store.ledger.status().outboxPending == 0)
    }

    @Test("once_per holds back a second send within the window, before or after, and lets one through beyond it")
    func oncePer() async throws {
        let clock = TestClock("2026-11-29T18:00:01Z")
        let store = MemoryStateStore()
        let engine = try await makeEngine(Self.cart, store: store, clock: clock)
        _ = try await engine.submitAndDecide([track("Cart Abandoned", id: "m-1", at: "2026-11-29T18:00:00Z", properties: ["value": 30])], source: "t")
        _ = try await engine.submitAndDecide([track("Cart Abandoned", id: "m-2", at: "2026-11-30T18:00:00Z", properties: ["value": 30])], source: "t")
        _ = try await engine.submitAndDecide([track("Cart Abandoned", id: "m-3", at: "2026-11-25T18:00:00Z", properties: ["value": 30])], source: "t")
        clock.set("2026-12-08T18:00:01Z")
        _ = try await engine.submitAndDecide([track("Cart Abandoned", id: "m-4", at: "2026-12-08T18:00:00Z", properties: ["value": 30])], source: "t")
        let runs = try await store.ledger.runs(RunQuery()).sorted { $0.id < $1.id }
        #expect(runs.map(\.status) == [.pending, .skipped, .skipped, .pending])
        #expect(runs[1].reason.hasPrefix("once_per: key 'u-1' already sent for an event at 2026-11-29T18:00:00Z"))
        #expect(runs[1].trace.gates.last?.name == "once_per")
        #expect(try await store.ledger.status().outboxPending == 2)
    }

    @Test("max_sends caps a rule's sends in a rolling window of processing time")
    func maxSends() async throws {
        let clock = TestClock("2026-11-29T18:00:01Z")
        let store = MemoryStateStore()
        let engine = try await makeEngine("""
            id: capped
            when: { event: E }
            send: { campaign_id: c }
            limit: { max_sends: { count: 2, per: 1h } }
            """, store: store, clock: clock)
        for i in 1...3 { _ = try await engine.submitAndDecide([track("E", id: "m-\(i)", user: "u-\(i)")], source: "t") }
        clock.set("2026-11-29T19:00:02Z")
        _ = try await engine.submitAndDecide([track("E", id: "m-4", user: "u-4")], source: "t")
        let runs = try await store.ledger.runs(RunQuery()).sorted { $0.id < $1.id }
        #expect(runs.map(\.status) == [.pending, .pending, .skipped, .pending])
        #expect(runs[2].reason == "max_sends: 2 sends in the last 1h reached the cap of 2")
    }

    @Test("a late event under if_late: skip is skipped, and says why")
    func lateSkip() async throws {
        let clock = TestClock("2026-11-29T18:00:01Z")
        let store = MemoryStateStore()
        let engine = try await makeEngine("""
            id: morning
            when: { event: E }
            send: { campaign_id: c }
            schedule: { at: "09:00", time_zone: Europe/Paris, if_late: skip }
            """, store: store, clock: clock)
        _ = try await engine.submitAndDecide([track("E", id: "m-1", at: "2026-11-20T07:00:00Z")], source: "t")
        let run = try #require(try await store.ledger.runs(RunQuery()).first)
        #expect(run.status == .skipped)
        #expect(run.reason.contains("if_late is skip"))
    }

    @Test("an identify call's zone applies to the user's later events")
    func identifyZone() async throws {
        let clock = TestClock("2026-11-29T18:00:01Z")
        let store = MemoryStateStore()
        let engine = try await makeEngine("""
            id: ten
            when: { event: E }
            send: { campaign_id: c }
            schedule: { at: "10:00" }
            """, store: store, clock: clock)
        _ = try await engine.submitAndDecide([IncomingEvent(value: ["type": "identify", "userId": "u-1", "traits": ["plan": "pro"], "context": ["timezone": "Asia/Tokyo"]])], source: "t")
        _ = try await engine.submitAndDecide([track("E", id: "m-1")], source: "t")
        let run = try #require(try await store.ledger.runs(RunQuery()).first)
        // 18:00Z is 03:00 on Nov 30 in Tokyo: the next 10:00 there is 01:00Z.
        #expect(run.schedule?["time"] == "2026-11-30T01:00:00Z")
        #expect(run.trace.zone == "Asia/Tokyo")
    }

    @Test("cancel_on: a later event of the same user cancels the pending send, naming the event")
    func cancelOn() async throws {
        let clock = TestClock("2026-11-29T18:00:01Z")
        let store = MemoryStateStore()
        let engine = try await makeEngine(Self.cart, store: store, clock: clock)
        _ = try await engine.submitAndDecide([track("Cart Abandoned", id: "m-1", properties: ["value": 30])], source: "t")
        _ = try await engine.submitAndDecide([track("Cart Abandoned", id: "m-2", user: "u-2", properties: ["value": 30])], source: "t")
        _ = try await engine.submitAndDecide([track("Order Completed", id: "m-3")], source: "t")
        let runs = try await store.ledger.runs(RunQuery()).sorted { $0.id < $1.id }
        #expect(runs.map(\.status) == [.cancelled, .pending])
        #expect(runs[0].cancelledBy == "m-3")
        #expect(try await store.ledger.status().outboxPending == 1)
    }

    @Test("concurrent submissions are committed together and every caller gets its own receipt")
    func groupCommit() async throws {
        let clock = TestClock("2026-11-29T18:00:01Z")
        let store = MemoryStateStore()
        let engine = try await makeEngine(Self.cart, store: store, clock: clock)
        let receipts = try await withThrowingTaskGroup(of: SubmitReceipt.self) { group in
            for i in 0..<200 {
                group.addTask { try await engine.submitAndDecide([track("Cart Abandoned", id: "m-\(i)", user: "u-\(i)", properties: ["value": 30])], source: "t") }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(receipts.count == 200)
        #expect(receipts.allSatisfy { $0.accepted == 1 })
        #expect(try await store.ledger.status().outboxPending == 200)
    }

    @Test("when the commit fails, the caller is told to retry (SinkUnavailable, a 503) and nothing of its batch is kept")
    func failedCommit() async throws {
        let clock = TestClock("2026-11-29T18:00:01Z")
        let inner = MemoryStateStore()
        let store = FaultyStore(inner: inner)
        let engine = try await makeEngine(Self.cart, store: store, clock: clock)
        store.failNextWrite()
        await #expect(throws: SinkUnavailable.self) {
            try await engine.submitAndDecide([track("Cart Abandoned", id: "m-1", properties: ["value": 30])], source: "t")
        }
        #expect(try await inner.ledger.status().events == 0)
        // The client retries: now it is accepted, once.
        let retry = try await engine.submitAndDecide([track("Cart Abandoned", id: "m-1", properties: ["value": 30])], source: "t")
        #expect(retry.accepted == 1)
        #expect(try await inner.ledger.runs(RunQuery()).count == 1)
    }

    @Test("installing rules records each rule version once")
    func ruleVersions() async throws {
        let clock = TestClock("2026-11-29T18:00:01Z")
        let store = MemoryStateStore()
        let engine = try await makeEngine(Self.cart, store: store, clock: clock)
        try await engine.install(try rules(Self.cart))
        #expect(try await store.ledger.status().ruleVersions == 1)
        let version = try rules(Self.cart).rules[0].version
        #expect(try await store.ledger.ruleVersion(rule: "cart", version: version)?.file == "rules/test.yaml")
    }
}

/// A store that fails a write on demand: the fault is injected after the body ran, as a failed commit.
final class FaultyStore: StateStore {
    struct InjectedFault: Error {}
    let inner: MemoryStateStore
    private let failNext = Mutex(false)

    init(inner: MemoryStateStore) { self.inner = inner }

    func failNextWrite() { failNext.withLock { $0 = true } }

    var ledger: any LedgerReader { inner.ledger }

    func write<T: Sendable>(_ body: @Sendable (inout any StateTransaction) throws -> T) async throws -> T {
        let fail = failNext.withLock { f in defer { f = false }; return f }
        return try await inner.write { transaction in
            let result = try body(&transaction)
            if fail { throw InjectedFault() }
            return result
        }
    }

    func prune(_ policy: RetentionPolicy, now: Date) async throws -> PruneResult { try await inner.prune(policy, now: now) }
    func decideProgress() async throws -> DecideProgress { try await inner.decideProgress() }
    func loggedEvents(after seq: Int64, limit: Int) async throws -> [LoggedEvent] { try await inner.loggedEvents(after: seq, limit: limit) }
    func profiles(for userKeys: [String]) async throws -> [String: UserProfile] { try await inner.profiles(for: userKeys) }
}
