import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import FlintTesting
import Foundation
import GRDB
import Logging
import Testing

/// `mode: shadow` (docs/rules.md): a shadow rule's planned sends end `shadow` with their request,
/// send nothing and consume no limit; removing the line makes the rule live from the next event on.
@Suite("Shadow rules")
struct ShadowRuleTests {
    static func rules(shadow: Bool) -> String {
        """
        rules:
          - id: live
            when: { event: Cart Abandoned }
            send: { campaign_id: c-live, trigger_properties: { value: "{{ properties.value }}" } }
            schedule: { after: 1h }
            limit: { once_per: { key: "{{ userId }}", within: 1d } }
          - id: trial
        \(shadow ? "    mode: shadow\n" : "")    when: { event: Cart Abandoned }
            send: { campaign_id: c-trial, trigger_properties: { value: "{{ properties.value }}" } }
            schedule: { after: 1h }
            limit:
              once_per: { key: "{{ userId }}", within: 1d }
              max_sends: { count: 1, per: 1d }
        """
    }

    static func load(_ text: String) throws -> RuleSet {
        let result = RuleLoader.load([RuleFile(path: "rules/shadow.yaml", text: text)])
        guard result.isValid else { throw FixtureError.deliberate }
        return result.ruleSet
    }

    static func cart(_ id: String, user: String, value: Double) -> IncomingEvent {
        IncomingEvent(value: [
            "event": "Cart Abandoned", "messageId": .string(id), "userId": .string(user), "timestamp": "2026-11-29T18:00:00Z",
            "properties": ["value": .number(value)],
        ])
    }

    @Test("beside a live rule on the same event: the live one sends, the shadow one keeps its request and consumes nothing")
    func besideLive() async throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteStateStore(path: folder.path())
        let clock = TestClock("2026-11-29T18:00:01Z")
        let book = RuleBook()
        let engine = Engine(store: store, ruleBook: book, now: { clock.now })
        try await engine.install(try Self.load(Self.rules(shadow: true)))
        #expect(book.rules.rule(id: "trial")?.mode == .shadow && book.rules.rule(id: "live")?.mode == .live)
        let action = RecordingAction(name: "braze")
        let dispatcher = Dispatcher(
            store: store, actions: ["braze": action], ruleBook: book, engineSettings: EngineSettings(),
            settings: DispatchSettings(coalesceWindow: 0), logger: Logger(label: "test"), now: { clock.now }, random: { 0.5 })

        try await engine.submitAndDecide([Self.cart("m-1", user: "u-1", value: 10), Self.cart("m-2", user: "u-1", value: 11)], source: "test")
        try await engine.submitAndDecide([Self.cart("m-3", user: "u-2", value: 12)], source: "test")
        _ = try await dispatcher.pass()
        await dispatcher.settle()

        let runs = try await store.runs(RunQuery(limit: 100, traces: false))
        func run(_ event: String, _ rule: String) -> RunRecord? { runs.first { $0.eventId == event && $0.ruleId == rule } }
        // The live rule sends once per user (its once_per holds m-2); the shadow rule's own once_per and
        // max_sends of 1 hold nothing, because a shadow run consumes nothing.
        #expect(run("m-1", "live")?.status == .scheduled && run("m-2", "live")?.status == .skipped && run("m-3", "live")?.status == .scheduled)
        for event in ["m-1", "m-2", "m-3"] {
            let shadow = try #require(run(event, "trial"))
            #expect(shadow.status == .shadow && shadow.outboxKey == nil && shadow.consumedAt == nil && shadow.held == nil, "\(event)")
            #expect(shadow.reason.hasPrefix("shadow, not sent: planned: "), "\(shadow.reason)")
            let shown = try #require(try await store.run(id: shadow.id))
            #expect(shown.request?["campaign_id"] == "c-trial" && shown.request?["recipients"]?.arrayValue?.first?["trigger_properties"]?["value"] != nil)
            #expect(shown.trace.gates.last == Gate(name: "mode", passed: false, detail: "mode: shadow: recorded with its request, not sent; no limit consulted or consumed"))
        }
        // (The two live sends share a schedule: the Braze-like action coalesces them into one request.)
        let recipients = action.requests.flatMap { $0.body["recipients"]?.arrayValue ?? [] }.compactMap { $0["external_user_id"]?.stringValue }
        #expect(recipients.sorted() == ["u-1", "u-2"] && action.requests.allSatisfy { $0.body["campaign_id"] == "c-live" })
        let queue = try DatabaseQueue(path: folder.path())
        let (outbox, oncePer) = try await queue.read { db in
            (try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox") ?? -1, try String.fetchAll(db, sql: "SELECT rule_id FROM once_per"))
        }
        #expect(outbox == 2 && oncePer == ["live", "live"])
        #expect(try await store.runs(RunQuery(status: .shadow, traces: false)).count == 3)
        #expect(try await store.status().runsByStatus[.shadow] == 3)
    }

    @Test("removing mode: shadow makes the rule live from the next event on; its shadow runs stay shadow")
    func goingLive() async throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteStateStore(path: folder.path())
        let clock = TestClock("2026-11-29T18:00:01Z")
        let engine = Engine(store: store, ruleBook: RuleBook(), now: { clock.now })
        let shadowSet = try Self.load(Self.rules(shadow: true))
        let liveSet = try Self.load(Self.rules(shadow: false))
        #expect(shadowSet.rule(id: "trial")?.version != liveSet.rule(id: "trial")?.version)
        try await engine.install(shadowSet)
        try await engine.submitAndDecide([Self.cart("m-1", user: "u-1", value: 10)], source: "test")
        try await engine.install(liveSet)
        try await engine.submitAndDecide([Self.cart("m-2", user: "u-2", value: 11), Self.cart("m-3", user: "u-3", value: 12)], source: "test")

        let runs = try await store.runs(RunQuery(rule: "trial", limit: 100, traces: false))
        func status(_ event: String) -> RunStatus? { runs.first { $0.eventId == event }?.status }
        #expect(status("m-1") == .shadow && status("m-2") == .pending)
        // Live now, its max_sends of 1 a day holds the next send (the shadow one counted for nothing).
        #expect(status("m-3") == .skipped)
        // Each run still rebuilds to what was decided with its own version.
        for run in runs { #expect(try await store.run(id: run.id)?.trace.note == nil, "\(run.eventId)") }
    }
}
