import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import FlintTesting
import Foundation
import Logging
import Testing

/// The dispatcher holds sends for their coalescing window in memory, between looks, instead of
/// reading them again at every look (docs/architecture.md, Dispatch). What it holds can change under
/// it: a send cancelled meanwhile must not go out.
@Suite("Dispatch: sends held for their window")
struct DispatchHoldTests {
    static let rules = """
        rules:
          - id: ten
            when: { event: E }
            send: { campaign_id: c-1, send_id: s-1 }
            schedule: { at: "10:00", time_zone: Europe/Paris, in_local_time: true }
        """

    /// A store of `kind` (kept in `folder`), a clock, and an engine with the rules installed.
    func start(_ kind: StoreKind) async throws -> (TemporaryFolder, any StateStore & LedgerReader, TestClock, RuleBook, Engine) {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)
        let clock = TestClock("2026-11-29T18:00:00Z")
        let book = RuleBook()
        let engine = Engine(store: store, ruleBook: book, now: { clock.now })
        try await engine.install(try TestRules.load(Self.rules))
        return (folder, store, clock, book, engine)
    }

    func recipients(_ request: SendRequest) -> Set<String> {
        Set((request.body["recipients"]?.arrayValue ?? []).compactMap { $0["external_user_id"]?.stringValue })
    }

    @Test(
        "held sends go out with those that arrived meanwhile once their window ends; one cancelled while held never goes out",
        arguments: StoreKind.allCases)
    func heldThenCancelled(kind: StoreKind) async throws {
        let (folder, store, clock, book, engine) = try await start(kind)
        _ = folder
        let action = RecordingAction()
        let dispatcher = Dispatcher(
            store: store, actions: ["braze": action], ruleBook: book, engineSettings: EngineSettings(),
            settings: DispatchSettings(coalesceWindow: 0.8), logger: Logger(label: "test"), now: { clock.now }, random: { 0.5 })
        func submit(_ users: Range<Int>) async throws {
            let events = users.map { IncomingEvent(value: ["event": "E", "userId": .string("u-\($0)"), "messageId": .string("e-\($0)")]) }
            _ = try await engine.submitAndDecide(events, source: "test")
        }

        try await submit(0..<3)
        _ = try await dispatcher.pass()
        #expect(action.requests.isEmpty, "fresh sends wait for their window")

        // Looks closer together than the lane's full read (every second while it holds rows): the
        // held rows come from memory, not from the store.
        clock.advance(by: 0.4)
        try await submit(3..<5)
        _ = try await dispatcher.pass()
        #expect(action.requests.isEmpty)

        // Cancelled by hand while the dispatcher holds it.
        let run = try #require(try await store.runs(RunQuery(user: "u-1", traces: false)).first)
        try await store.write { t in try t.cancelRun(id: run.id, byEvent: "by-hand", reason: "cancelled by an operator", at: clock.now) }

        clock.advance(by: 0.5)
        _ = try await dispatcher.pass()
        #expect(action.requests.count == 1)
        #expect(action.requests.first.map(recipients) == ["u-0", "u-2"], "the first three's window ended; u-1 was cancelled")

        clock.advance(by: 0.5)
        _ = try await dispatcher.pass()
        #expect(action.requests.count == 2)
        #expect(action.requests.last.map(recipients) == ["u-3", "u-4"])

        let runs = try await store.runs(RunQuery(limit: 10, traces: false))
        #expect(runs.filter { $0.status == .scheduled }.count == 4)
        #expect(try await store.runs(RunQuery(user: "u-1", traces: false)).first?.status == .cancelled)
        let cancelledRow = try await store.write { t in try t.outbox(runId: run.id) }
        #expect(cancelledRow?.state == .cancelled, "the row stays cancelled: it was never marked sending")
    }

    @Test("a row the store no longer holds pending is not sent: marking is conditional, and says which rows it marked", arguments: StoreKind.allCases)
    func conditionalMark(kind: StoreKind) async throws {
        let (folder, store, clock, _, engine) = try await start(kind)
        _ = folder
        let events = (0..<3).map { IncomingEvent(value: ["event": "E", "userId": .string("u-\($0)"), "messageId": .string("e-\($0)")]) }
        _ = try await engine.submitAndDecide(events, source: "test")
        let rows = try await store.write { t in try t.dueOutbox(now: clock.now, limit: 10, actions: .only("braze")) }
        #expect(rows.count == 3)
        try await store.write { t in try t.cancelRun(id: rows[1].runId, byEvent: "x", reason: "cancelled by an operator", at: clock.now) }
        let marked = try await store.write { t in try t.markSending(ids: rows.map(\.id), at: clock.now) }
        #expect(marked == [rows[0].id, rows[2].id])
        let again = try await store.write { t in try t.markSending(ids: rows.map(\.id), at: clock.now) }
        #expect(again.isEmpty, "rows already sending are not marked twice")
        let fresh = try await store.write { t in try t.freshOutbox(after: 0, limit: 10, actions: .only("braze")) }
        #expect(fresh.isEmpty)
    }
}
