import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import FlintTesting
import Foundation
import GRDB
import Logging
import Testing

/// The compact ledger's contract (docs/architecture.md, Runs and the ledger): a run row keeps no
/// trace, and deciding its stored event again with the stored rule version, the state outcomes it
/// recorded and the settings of its decision gives back exactly what was decided.
@Suite("Rebuilt traces: what was decided, from the compact run")
struct TraceRebuildTests {
    static let v1 = """
        rules:
          - id: cart
            when:
              event: Cart Abandoned
              if: { properties.value: { gte: 20 } }
            send: { campaign_id: c-1, trigger_properties: { value: "{{ properties.value }}", plan: "{{ user.traits.plan }}" } }
            schedule: { after: 2h, quiet_hours: { from: "22:00", to: "07:00" } }
            limit:
              once_per: { key: "{{ userId }}", within: 1d }
            cancel_on:
              - event: Order Completed
          - id: capped
            when: { event: Page Viewed }
            send: { campaign_id: c-2 }
            schedule: { at: "10:00", in_local_time: true }
            limit: { max_sends: { count: 2, per: 1h } }
          - id: morning
            when: { event: Late }
            send: { campaign_id: c-3 }
            schedule: { at: "09:00", time_zone: Europe/Paris, if_late: skip }
          - id: watcher
            mode: shadow
            when: { event: Page Viewed }
            send: { campaign_id: c-4 }
            limit: { max_sends: { count: 1, per: 1h } }
        """

    /// The same file, edited: cart waits longer and sends other properties (a new version of cart;
    /// the other rules keep theirs).
    static let v2 = v1.replacingOccurrences(of: "schedule: { after: 2h,", with: "schedule: { after: 3h,")
        .replacingOccurrences(of: "plan: \"{{ user.traits.plan }}\"", with: "tier: \"{{ user.traits.plan }}\"")

    static func load(_ text: String) throws -> RuleSet {
        let result = RuleLoader.load([RuleFile(path: "rules/proof.yaml", text: text)])
        guard result.isValid else { throw FixtureError.deliberate }
        return result.ruleSet
    }

    static func track(_ name: String, _ id: String, user: String, at: String, properties: JSONValue = [:]) -> IncomingEvent {
        IncomingEvent(value: [
            "event": .string(name), "messageId": .string(id), "userId": .string(user), "timestamp": .string(at), "properties": properties,
        ])
    }

    static func identify(_ id: String, user: String, zone: String, plan: String) -> IncomingEvent {
        IncomingEvent(value: [
            "type": "identify", "messageId": .string(id), "userId": .string(user), "traits": ["plan": .string(plan)],
            "context": ["timezone": .string(zone)],
        ])
    }

    @Test(
        "every run rebuilds to what was decided, in every status, across identify calls, a rule edit and a changed default zone",
        arguments: [StoreKind.sqlite, .memory])
    func rebuildEqualsDecided(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)
        let clock = TestClock("2026-11-29T18:00:01.234Z")
        let probe = DecisionProbe()
        let book = RuleBook()
        let engine = Engine(store: store, ruleBook: book, now: { clock.now }, decisionProbe: probe)
        try await engine.install(try Self.load(Self.v1))
        let action = RecordingAction(name: "braze", [.unknown(message: "timeout after the request was written")])
        let dispatcher = Dispatcher(
            store: store, actions: ["braze": action], ruleBook: book, engineSettings: EngineSettings(),
            settings: DispatchSettings(coalesceWindow: 0), logger: Logger(label: "test"), now: { clock.now }, random: { 0.5 })
        let t = "2026-11-29T18:00:00Z"

        // Decided under rule file v1, the default configuration, with the profile changing in between.
        try await engine.submitAndDecide([Self.identify("i-1", user: "u-1", zone: "Asia/Tokyo", plan: "pro")], source: "test")
        try await engine.submitAndDecide(
            [
                Self.track("Cart Abandoned", "c-1", user: "u-1", at: t, properties: ["value": 30]),  // pending (then unknown)
                Self.track("Cart Abandoned", "c-2", user: "u-1", at: t, properties: ["value": 40]),  // skipped: once_per
                Self.track("Cart Abandoned", "c-3", user: "u-2", at: t, properties: ["value": 5]),  // not_matched
                Self.track("Page Viewed", "p-1", user: "u-1", at: t),  // pending (then scheduled)
                Self.track("Page Viewed", "p-2", user: "u-2", at: t),  // pending (then scheduled)
                Self.track("Page Viewed", "p-3", user: "u-3", at: t),  // skipped: max_sends
                Self.track("Late", "l-1", user: "u-4", at: "2026-11-20T07:00:00Z"),  // skipped: late
                Self.track("Cart Abandoned", "c-4", user: "u-3", at: t, properties: ["value": 25]),  // cancelled below
            ], source: "test")
        try await engine.submitAndDecide(
            [
                IncomingEvent(value: [
                    "event": "Cart Abandoned", "messageId": "c-5", "anonymousId": "a-1", "timestamp": .string(t), "properties": ["value": 30],
                ]),  // failed: the recipient renders empty
                Self.track("Order Completed", "o-1", user: "u-3", at: t),
            ], source: "test")
        _ = try await dispatcher.pass()
        await dispatcher.settle()

        // The user moves and changes plan; two hours later more events are decided.
        clock.advance(by: 7200)
        try await engine.submitAndDecide(
            [
                Self.identify("i-2", user: "u-1", zone: "America/New_York", plan: "free"),
                Self.track("Page Viewed", "p-4", user: "u-1", at: "2026-11-29T20:00:00Z"),
                Self.track("Cart Abandoned", "c-6", user: "u-5", at: "2026-11-29T20:00:00Z", properties: ["value": 50]),
            ], source: "test")

        // The rule file is edited and reloaded: cart gets a new version.
        let edited = try Self.load(Self.v2)
        #expect(edited.rule(id: "cart")?.version != (try Self.load(Self.v1)).rule(id: "cart")?.version)
        try await engine.install(edited)
        try await engine.submitAndDecide(
            [
                Self.track("Cart Abandoned", "c-7", user: "u-1", at: "2026-11-29T20:00:00Z", properties: ["value": 60]),
                Self.track("Cart Abandoned", "c-8", user: "u-6", at: "2026-11-29T20:00:00Z", properties: ["value": 10]),
            ], source: "test")

        // flint serve restarts with another default zone: a new engine on the same file.
        let paris = EngineSettings(defaultZone: TimeZone(identifier: "Europe/Paris")!, lead: 120)
        clock.advance(by: 600)
        let restarted = Engine(store: store, ruleBook: RuleBook(), settings: paris, now: { clock.now }, decisionProbe: probe)
        try await restarted.install(edited)
        try await restarted.submitAndDecide(
            [
                Self.track("Page Viewed", "p-5", user: "u-7", at: "2026-11-29T20:10:00Z"),
                Self.track("Cart Abandoned", "c-9", user: "u-7", at: "2026-11-29T20:10:00Z", properties: ["value": 70]),
            ], source: "test")

        // Then every status was reached, each the way the events above meant,
        let runs = try await store.runs(RunQuery(limit: 1000, traces: false))
        #expect(Set(runs.map(\.status)) == Set(RunStatus.allCases), "\(runs.map { "\($0.id) \($0.ruleId) \($0.status) \($0.reason)" })")
        func run(_ event: String, _ rule: String) -> RunRecord? { runs.first { $0.eventId == event && $0.ruleId == rule } }
        #expect(run("c-1", "cart")?.status == .unknown && run("p-1", "capped")?.status == .scheduled)
        #expect(run("c-2", "cart")?.held?.gate == "once_per" && run("p-3", "capped")?.held?.gate == "max_sends")
        #expect(run("c-3", "cart")?.status == .notMatched && run("l-1", "morning")?.status == .skipped && run("l-1", "morning")?.held == nil)
        #expect(run("c-4", "cart")?.status == .cancelled && run("c-4", "cart")?.cancelledBy == "o-1")
        #expect(run("c-5", "cart")?.status == .failed && run("p-4", "capped")?.status == .pending && run("c-6", "cart")?.status == .pending)
        #expect(run("c-7", "cart")?.held?.gate == "once_per" && run("c-7", "cart")?.ruleVersion == edited.rule(id: "cart")?.version)
        // A shadow rule's runs end shadow, send nothing and consume no limit (its max_sends of 1 holds none).
        #expect(["p-1", "p-2", "p-3", "p-4", "p-5"].allSatisfy { run($0, "watcher")?.status == .shadow && run($0, "watcher")?.outboxKey == nil })
        #expect(runs.filter { $0.ruleId == "watcher" }.allSatisfy { $0.consumedAt == nil && $0.held == nil })
        #expect(runs.allSatisfy { !$0.traced && $0.trace == RunTrace() }, "listings read the compact rows only")
        // and every run rebuilds to exactly what was decided: trace, request, schedule, status, send time.
        let decided = probe.decided
        #expect(decided.count == runs.count)
        for (id, run) in decided.sorted(by: { $0.key < $1.key }) {
            let rebuilt = try #require(try await store.decision(ofRun: id))
            #expect(rebuilt == run, "run \(id)")
            let shown = try #require(try await store.run(id: id))
            #expect(shown.trace == run.trace && shown.trace.note == nil, "run \(id)")
        }
        // The runs of the first rule version still name it, and rebuild from its stored text.
        let old = try #require(runs.first { $0.eventId == "c-1" })
        #expect(old.ruleVersion == (try Self.load(Self.v1)).rule(id: "cart")?.version)
        #expect(old.status == .unknown && runs.first { $0.eventId == "p-1" && $0.ruleId == "capped" }?.status == .scheduled)
        #expect(try await store.run(id: old.id)?.request?["recipients"]?.arrayValue?.first?["trigger_properties"]?["plan"] == "pro")
        // A shadow run shows the request it would have sent.
        let shadow = try #require(runs.first { $0.eventId == "p-3" && $0.ruleId == "watcher" })
        #expect(try await store.run(id: shadow.id)?.request?["campaign_id"] == "c-4")
        // What changed between decisions shows in the rebuilt traces.
        func decision(of event: String) -> DecidedRun? { runs.first { $0.eventId == event }.flatMap { decided[$0.id] } }
        #expect(decision(of: "p-1")?.trace.zone == "Asia/Tokyo" && decision(of: "p-4")?.trace.zone == "America/New_York")
        #expect(decision(of: "p-5")?.trace.zone == "Europe/Paris")
    }

    @Test("a run whose recorded outcome the rebuild does not reproduce says so on its trace")
    func disagreementIsNoted() async throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteStateStore(path: folder.path())
        let clock = TestClock("2026-11-29T18:00:01Z")
        let engine = Engine(store: store, ruleBook: RuleBook(), now: { clock.now })
        try await engine.install(try Self.load(Self.v1))
        try await engine.submitAndDecide(
            [
                Self.identify("i-1", user: "u-1", zone: "Asia/Tokyo", plan: "pro"),
                Self.track("Page Viewed", "p-1", user: "u-1", at: "2026-11-29T18:00:00Z"),
            ], source: "test")
        let run = try #require(try await store.runs(RunQuery(traces: false)).first { $0.ruleId == "capped" })
        #expect(try await store.run(id: run.id)?.trace.note == nil)

        // When the identify call that set the user's zone is gone (pruned by retention, say)
        try forceDelete(folder.path(), "DELETE FROM events WHERE message_id = 'i-1'")

        // Then the rebuilt decision plans in the default zone, and the trace says it differs
        let shown = try #require(try await store.run(id: run.id))
        #expect(shown.trace.zone == "UTC")
        #expect(shown.trace.note?.hasPrefix("rebuilt decision differs from the one recorded: send_at") == true, "\(shown.trace.note ?? "no note")")
    }
}

/// Runs SQL on the file behind the store's back (what a retention prune or a hand edit does).
func forceDelete(_ path: String, _ sql: String) throws {
    let queue = try DatabaseQueue(path: path)
    try queue.write { try $0.execute(sql: sql) }
}
