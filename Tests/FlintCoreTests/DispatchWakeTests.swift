@testable import FlintCore
import FlintPluginAPI
import FlintRules
import FlintTesting
import Foundation
import Logging
import Synchronization
import Testing

/// Checks an async condition every 10 ms until it holds or `seconds` pass.
func eventually(_ seconds: Double = 10, _ condition: () async throws -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return (try? await condition()) == true
}

/// The worker sleeps until woken or until its next due time, on the clock it is given: no polling.
@Suite("Dispatch worker: woken by commits, asleep otherwise")
struct DispatchWakeTests {
    /// A store that counts its transactions (every dispatcher read is one).
    final class CountingStore: StateStore {
        let inner = MemoryStateStore()
        let transactions = Mutex(0)
        func write<T: Sendable>(_ body: @Sendable (inout any StateTransaction) throws -> T) async throws -> T {
            transactions.withLock { $0 += 1 }
            return try await inner.write(body)
        }
        var ledger: any LedgerReader { inner.ledger }
        func prune(_ policy: RetentionPolicy, now: Date) async throws -> PruneResult { try await inner.prune(policy, now: now) }
        func decideProgress() async throws -> DecideProgress { try await inner.decideProgress() }
        func loggedEvents(after seq: Int64, limit: Int) async throws -> [LoggedEvent] { try await inner.loggedEvents(after: seq, limit: limit) }
        func profiles(for userKeys: [String]) async throws -> [String: UserProfile] { try await inner.profiles(for: userKeys) }
    }

    static let rules = """
        rules:
          - id: single
            when: { event: E }
            send: { campaign_id: c-1 }
            schedule: { after: 1h }
            cancel_on: [{ event: Done }]
        """

    struct Setup {
        var store: CountingStore
        var engine: Engine
        var dispatcher: Dispatcher
        var clock: TestClock
    }

    func setup(_ action: RecordingAction) async throws -> Setup {
        let clock = TestClock("2026-11-29T18:00:00Z")
        let store = CountingStore()
        let book = RuleBook()
        let box = Mutex<Dispatcher?>(nil)
        let engine = Engine(store: store, ruleBook: book, now: { clock.now }, onCommit: { box.withLock { $0 }?.wake() })
        try await engine.install(try TestRules.load(Self.rules))
        let dispatcher = Dispatcher(
            store: store, actions: [action.name: action], ruleBook: book, engineSettings: EngineSettings(), settings: DispatchSettings(coalesceWindow: 0),
            logger: Logger(label: "test"), now: { clock.now }, random: { 0.5 }, sleep: { await clock.sleep(until: $0) })
        box.withLock { $0 = dispatcher }
        return Setup(store: store, engine: engine, dispatcher: dispatcher, clock: clock)
    }

    func submit(_ s: Setup, _ n: Int) async throws {
        _ = try await s.engine.submitAndDecide([IncomingEvent(value: ["event": "E", "userId": .string("u-\(n)"), "messageId": .string("e-\(n)")])], source: "test")
    }

    @Test("idle, the worker reads nothing however long it waits; a commit wakes it and the send goes out; a retry wakes it at its due time")
    func wakesWithoutPolling() async throws {
        let action = RecordingAction([.failure(message: "503", retryable: true)])
        let s = try await setup(action)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await s.dispatcher.run() }
            // Started: one look per lane, then asleep with no deadline (nothing is due, ever).
            #expect(await waitUntil { s.store.transactions.withLock { $0 } >= 3 })
            let idle = s.store.transactions.withLock { $0 }
            s.clock.advance(by: 3600)
            #expect(await waitUntil(0.3) { s.store.transactions.withLock { $0 } != idle } == false, "no reads while idle")
            #expect(s.clock.sleeping.isEmpty, "no timer: only a commit wakes it")

            try await submit(s, 1)
            #expect(await waitUntil { action.requests.count == 1 })
            // The 503 is retried after its backoff (1 s): the worker sleeps until then, on the clock.
            let retryAt = s.clock.now.addingTimeInterval(1)
            #expect(await waitUntil { s.clock.sleeping.contains(retryAt) })
            #expect(action.requests.count == 1)
            s.clock.advance(by: 1)
            #expect(await waitUntil { action.requests.count == 2 })
            #expect(await eventually { try await s.store.ledger.runs(RunQuery()).first?.status == .scheduled })
            group.cancelAll()
        }
    }

    /// Refuses the first send of u-0; u-1's send answers only after that refusal was taken in.
    final class RefusingAction: Action {
        let name = "gate"
        let sent = Mutex<[String]>([])
        let refusals = Mutex(1)
        let refusedAt = Mutex<ContinuousClock.Instant?>(nil)
        var dispatch: ActionDispatch { ActionDispatch() }

        func perform(_ request: SendRequest, context: PluginContext) async -> ActionOutcome {
            let user = request.body["u"]?.stringValue ?? "?"
            sent.withLock { $0.append(user) }
            if user == "u-0", refusals.withLock({ r in defer { r -= 1 }; return r > 0 }) {
                refusedAt.withLock { $0 = .now }
                return .credentialsRefused(message: "401")
            }
            if user == "u-1" {
                while refusedAt.withLock({ $0 }) == nil { try? await Task.sleep(for: .milliseconds(5)) }
                try? await Task.sleep(for: .milliseconds(50))
            }
            return .success(details: [:])
        }
    }

    @Test("a refusal stops the rest of a pass; an answer that was in flight does not resume; the probe does, and the rest go out")
    func pauseWithRequestsInFlight() async throws {
        let action = RefusingAction()
        let clock = TestClock("2026-11-29T18:00:00Z")
        let store = MemoryStateStore()
        let book = RuleBook()
        let engine = Engine(store: store, ruleBook: book, now: { clock.now })
        try await engine.install(try TestRules.load(Self.rules.replacingOccurrences(of: "send: { campaign_id: c-1 }", with: "send: { action: gate, with: { u: \"{{ userId }}\" } }")))
        let dispatcher = Dispatcher(
            store: store, actions: ["gate": action], ruleBook: book, engineSettings: EngineSettings(), settings: DispatchSettings(coalesceWindow: 0, maxInFlight: 2),
            logger: Logger(label: "test"), now: { clock.now }, random: { 0.5 }, sleep: { await clock.sleep(until: $0) })
        for n in 0..<5 { _ = try await engine.submitAndDecide([IncomingEvent(value: ["event": "E", "userId": .string("u-\(n)"), "messageId": .string("e-\(n)")])], source: "test") }

        // u-0 is refused while u-1 is in flight; u-1 then succeeds, but the pause holds and the rest wait.
        let next = try await dispatcher.pass()
        #expect(action.sent.withLock { $0 }.sorted() == ["u-0", "u-1"])
        #expect(dispatcher.status.pausedReason == "401")
        #expect(next == clock.now.addingTimeInterval(60), "the next look is the probe, not never")

        // The probe (the held u-0) goes alone and resumes; the same pass sends the rest.
        clock.advance(by: 60)
        try await dispatcher.pass()
        #expect(dispatcher.status.pausedReason == nil)
        #expect(action.sent.withLock { $0 }.sorted() == ["u-0", "u-0", "u-1", "u-2", "u-3", "u-4"])
        let runs = try await store.write { t in try (1...5).compactMap { try t.run(id: Int64($0))?.status } }
        #expect(runs == Array(repeating: .scheduled, count: 5))
    }

    /// Fails u-0's send at once (to be retried); answers u-1 only once the clock has passed u-0's retry.
    final class SlowSecondAction: Action {
        let name = "slow"
        let clock: TestClock
        let releaseAt: Date
        let sent = Mutex<[String]>([])
        var dispatch: ActionDispatch { ActionDispatch() }

        init(clock: TestClock, releaseAt: Date) {
            self.clock = clock
            self.releaseAt = releaseAt
        }

        func perform(_ request: SendRequest, context: PluginContext) async -> ActionOutcome {
            let user = request.body["u"]?.stringValue ?? "?"
            let attempt = sent.withLock { s in
                s.append(user)
                return s.filter { $0 == user }.count
            }
            if user == "u-0" { return attempt == 1 ? .failure(message: "503", retryable: true) : .success(details: [:]) }
            while clock.now < releaseAt { try? await Task.sleep(for: .milliseconds(5)) }
            return .success(details: [:])
        }
    }

    @Test("a retry that comes due while other requests of the pass are in flight is looked at again, not slept past (a send stayed pending under load)")
    func retryDueDuringPass() async throws {
        let clock = TestClock("2026-11-29T18:00:00Z")
        let action = SlowSecondAction(clock: clock, releaseAt: clock.now.addingTimeInterval(30))
        let store = MemoryStateStore()
        let book = RuleBook()
        let engine = Engine(store: store, ruleBook: book, now: { clock.now })
        try await engine.install(try TestRules.load(Self.rules.replacingOccurrences(of: "send: { campaign_id: c-1 }", with: "send: { action: slow, with: { u: \"{{ userId }}\" } }")))
        let dispatcher = Dispatcher(
            store: store, actions: ["slow": action], ruleBook: book, engineSettings: EngineSettings(), settings: DispatchSettings(coalesceWindow: 0, maxInFlight: 2, outcomesPerWrite: 1),
            logger: Logger(label: "test"), now: { clock.now }, random: { 0.5 }, sleep: { await clock.sleep(until: $0) })
        for n in 0..<2 { _ = try await engine.submitAndDecide([IncomingEvent(value: ["event": "E", "userId": .string("u-\(n)"), "messageId": .string("e-\(n)")])], source: "test") }

        async let looked = dispatcher.pass()
        #expect(await waitUntil { action.sent.withLock { $0 }.count == 2 })
        // u-0's failure is written (its retry time set) before the clock moves on.
        #expect(await eventually { try await store.write { t in try t.outbox(id: 1)?.nextAttemptAt } != nil })
        // u-0's failure is recorded at once (retry about a second from now); the retry comes due
        // while u-1's answer is awaited, and u-1's outcome is recorded after that.
        clock.advance(by: 30)
        let next = try await looked
        #expect(next <= clock.now, "the retry is due: look again at once (was: never)")
        try await dispatcher.pass()
        #expect(action.sent.withLock { $0 }.sorted() == ["u-0", "u-0", "u-1"], "u-0 retried once")
    }

    @Test("requests_per_hour is honoured: past the budget the rest wait for the refill, and the worker sleeps until then")
    func requestsPerHour() async throws {
        let action = RecordingAction(name: "limited", dispatch: ActionDispatch(budget: [RateBucket(name: "requests_per_hour", capacity: 2, period: 3600)]))
        let s = try await setup(action)
        try await s.engine.install(try TestRules.load(Self.rules.replacingOccurrences(of: "send: { campaign_id: c-1 }", with: "send: { action: limited, with: { u: \"{{ userId }}\" } }")))
        for n in 0..<3 { try await submit(s, n) }
        let next = try await s.dispatcher.pass()
        #expect(action.requests.count == 2)
        #expect(next == s.clock.now.addingTimeInterval(1800), "one token refills every 30 minutes")

        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await s.dispatcher.run() }
            #expect(await waitUntil { s.clock.sleeping.contains(next) })
            #expect(action.requests.count == 2)
            s.clock.advance(by: 1800)
            #expect(await waitUntil { action.requests.count == 3 })
            group.cancelAll()
        }
    }
}
