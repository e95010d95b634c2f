@testable import FlintCore
import FlintPluginAPI
import FlintRules
import FlintTesting
import Foundation
import Logging
import Synchronization
import Testing

@Suite("Dispatcher: outbox to action, with coalescing, retries and pauses")
struct DispatcherTests {
    static let rule = """
        rules:
          - id: ten
            when: { event: E }
            send: { campaign_id: c-1, send_id: s-1 }
            schedule: { at: "10:00", time_zone: Europe/Paris, in_local_time: true }
          - id: cancellable
            when: { event: C }
            send: { campaign_id: c-2 }
            schedule: { after: 1h }
            cancel_on: [{ event: Done }]
        """

    struct Setup {
        var store: MemoryStateStore
        var engine: Engine
        var dispatcher: Dispatcher
        var clock: TestClock
    }

    func setup(_ action: RecordingAction, settings: DispatchSettings = DispatchSettings(coalesceWindow: 0)) async throws -> Setup {
        let clock = TestClock("2026-11-29T18:00:00Z")
        let store = MemoryStateStore()
        let book = RuleBook()
        let engine = Engine(store: store, ruleBook: book, now: { clock.now })
        try await engine.install(try rules(Self.rule))
        let dispatcher = Dispatcher(
            store: store, actions: ["braze": action], ruleBook: book, engineSettings: EngineSettings(), settings: settings,
            logger: Logger(label: "test"), now: { clock.now }, random: { 0.5 })
        return Setup(store: store, engine: engine, dispatcher: dispatcher, clock: clock)
    }

    func submit(_ s: Setup, _ name: String, users: Range<Int>) async throws {
        let batch = users.map { IncomingEvent(value: ["event": .string(name), "userId": .string("u-\($0)"), "messageId": .string("\(name)-\($0)"), "timestamp": "2026-11-29T18:00:00Z"]) }
        _ = try await s.engine.submitAndDecide(batch, source: "test")
    }

    @Test("120 users planned for the same local 10:00 go out in 3 requests of at most 50 distinct recipients, all scheduled")
    func coalescing() async throws {
        let action = RecordingAction()
        let s = try await setup(action)
        try await submit(s, "E", users: 0..<120)
        _ = try await s.dispatcher.pass()
        #expect(action.requests.count == 3)
        #expect(action.requests.allSatisfy { ($0.body["recipients"]?.arrayValue?.count ?? 0) <= 50 })
        let ids = action.requests.flatMap { $0.body["recipients"]?.arrayValue ?? [] }.compactMap { $0["external_user_id"]?.stringValue }
        #expect(Set(ids).count == 120)
        #expect(action.requests[0].body["schedule"] == ["time": "2026-11-30T10:00:00", "in_local_time": true, "at_optimal_time": false])
        let runs = try await s.store.ledger.runs(RunQuery(limit: 1000))
        #expect(runs.allSatisfy { $0.status == .scheduled && $0.scheduleId != nil })
        #expect(runs.first?.request?["recipients"]?.arrayValue?.count ?? 0 > 1, "the run keeps the exact request sent")
    }

    @Test("a rule with cancel_on never shares a request")
    func noCoalescingWithCancelOn() async throws {
        let action = RecordingAction()
        let s = try await setup(action)
        try await submit(s, "C", users: 0..<5)
        _ = try await s.dispatcher.pass()
        #expect(action.requests.count == 5)
        #expect(action.requests.allSatisfy { $0.body["recipients"]?.arrayValue?.count == 1 })
    }

    @Test("retryable failures are retried with backoff, then the send is scheduled once")
    func retries() async throws {
        let action = RecordingAction([.failure(message: "503", retryable: true), .retryLater(message: "429", after: nil)])
        let s = try await setup(action)
        try await submit(s, "C", users: 0..<1)
        _ = try await s.dispatcher.pass()
        var run = try #require(try await s.store.ledger.runs(RunQuery()).first)
        #expect(run.status == .pending)
        #expect(run.reason.hasPrefix("retrying after: 503 (attempt 1 of 8"))
        _ = try await s.dispatcher.pass()
        #expect(action.requests.count == 1, "not before the backoff")
        s.clock.set("2026-11-29T18:00:05Z")
        _ = try await s.dispatcher.pass()
        s.clock.set("2026-11-29T18:00:20Z")
        _ = try await s.dispatcher.pass()
        run = try #require(try await s.store.ledger.runs(RunQuery()).first)
        #expect(run.status == .scheduled)
        #expect(action.requests.count == 3)
    }

    @Test("a refused request (400) fails the run with the message, called once; attempts exhausted make it dead")
    func failures() async throws {
        let action = RecordingAction([.failure(message: "400: invalid campaign_id", retryable: false)], otherwise: .failure(message: "500", retryable: true))
        let s = try await setup(action)
        try await submit(s, "C", users: 0..<2)
        for i in 0..<12 {
            s.clock.set(Timestamp.formatUTC(Date(timeIntervalSince1970: Timestamp.parse("2026-11-29T18:00:00Z")!.timeIntervalSince1970 + Double(i) * 400)))
            _ = try await s.dispatcher.pass()
        }
        let runs = try await s.store.ledger.runs(RunQuery()).sorted { $0.id < $1.id }
        #expect(runs[0].status == .failed)
        #expect(runs[0].reason == "400: invalid campaign_id")
        #expect(runs[1].status == .failed)
        #expect(runs[1].reason == "dead after 8 attempts: 500")
        #expect(action.requests.count == 1 + 8)
    }

    @Test("an unknown outcome is never resent by itself; a row left sending by a crash becomes unknown")
    func unknown() async throws {
        let action = RecordingAction([.unknown(message: "timeout after the request was written")])
        let s = try await setup(action)
        try await submit(s, "C", users: 0..<2)
        // A previous process died with the second row in flight.
        _ = try await s.store.write { t in
            let items = try t.dueOutbox(now: Date.distantFuture, limit: 10)
            try t.setOutbox(id: items[1].id, state: .sending, attempts: 1, nextAttemptAt: nil, lastError: nil, body: nil, at: Date())
        }
        _ = try await s.store.write { t in try t.abandonSending(at: Date()) }
        _ = try await s.dispatcher.pass()
        _ = try await s.dispatcher.pass()
        let runs = try await s.store.ledger.runs(RunQuery()).sorted { $0.id < $1.id }
        #expect(runs.map(\.status) == [.unknown, .unknown])
        #expect(action.requests.count == 1)
        #expect(runs[1].reason.contains("flint stopped while the request was in flight"))
    }

    @Test("refused credentials pause dispatching; the held send is the probe, and success resumes")
    func pause() async throws {
        let action = RecordingAction([.credentialsRefused(message: "401: invalid API key"), .credentialsRefused(message: "401: invalid API key")])
        // One request at a time, so the pause is seen before the next send (with more in flight, those
        // already sent meet the same 401 and stay pending too).
        let s = try await setup(action, settings: DispatchSettings(coalesceWindow: 0, maxInFlight: 1))
        try await submit(s, "C", users: 0..<3)
        _ = try await s.dispatcher.pass()
        #expect(s.dispatcher.status.pausedReason == "401: invalid API key")
        _ = try await s.dispatcher.pass()
        #expect(action.requests.count == 1, "paused: nothing goes out before the probe is due")
        s.clock.set("2026-11-29T18:01:01Z")
        _ = try await s.dispatcher.pass()
        #expect(action.requests.count == 2, "one probe")
        s.dispatcher.resumeNow()  // a configuration reload
        _ = try await s.dispatcher.pass()
        #expect(s.dispatcher.status.pausedReason == nil)
        _ = try await s.dispatcher.pass()
        let runs = try await s.store.ledger.runs(RunQuery())
        #expect(runs.allSatisfy { $0.status == .scheduled })
    }

    @Test("cancel_on after the create was sent deletes the Braze schedule, then the run is cancelled")
    func cancelThroughBraze() async throws {
        let action = RecordingAction()
        let s = try await setup(action)
        try await submit(s, "C", users: 0..<1)
        _ = try await s.dispatcher.pass()
        let scheduled = try #require(try await s.store.ledger.runs(RunQuery()).first)
        #expect(scheduled.status == .scheduled)
        _ = try await s.engine.submitAndDecide([IncomingEvent(value: ["event": "Done", "userId": "u-0", "messageId": "done-1"])], source: "test")
        _ = try await s.dispatcher.pass()
        let delete = try #require(action.requests.last)
        #expect(delete.operation == .delete)
        #expect(delete.body == ["campaign_id": "c-2", "schedule_id": .string(scheduled.scheduleId ?? "")])
        let run = try #require(try await s.store.ledger.run(id: scheduled.id))
        #expect(run.status == .cancelled)
        #expect(run.reason.contains("deleted from Braze"))
    }
}
