import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import FlintTesting
import Foundation
import GRDB
import Logging
import Testing

/// `flint replay`'s contract (docs/replay.md): the stored events of a window decided again with
/// another rule set, state as it stood before the window and evolving within it, compared run by run
/// with what was decided, without writing anything.
@Suite("Replay: the window decided again, compared with what was decided")
struct ReplayTests {
    static let rules = """
        rules:
          - id: cart
            when:
              event: Cart Abandoned
              if: { properties.value: { gte: 20 } }
            send: { campaign_id: c-1, trigger_properties: { value: "{{ properties.value }}", plan: "{{ user.traits.plan }}" } }
            schedule: { after: 2h }
            limit:
              once_per: { key: "{{ userId }}", within: 1d }
            cancel_on:
              - event: Order Completed
          - id: morning
            when: { event: Page Viewed }
            send: { campaign_id: c-2 }
            schedule: { at: "10:00", time_zone: Europe/Paris, if_late: skip }
          - id: capped
            when: { event: Page Viewed }
            send: { campaign_id: c-3 }
            limit: { max_sends: { count: 3, per: 1d } }
          - id: watcher
            mode: shadow
            when: { event: Cart Abandoned }
            send: { campaign_id: c-4, trigger_properties: { value: "{{ properties.value }}" } }
            limit:
              once_per: { key: "{{ userId }}", within: 1d }
        """

    static func load(_ text: String) throws -> RuleSet {
        let result = RuleLoader.load([RuleFile(path: "rules/replay.yaml", text: text)])
        guard result.isValid else { throw FixtureError.deliberate }
        return result.ruleSet
    }

    static func track(_ name: String, _ id: String, user: String, at: String, properties: JSONValue = [:]) -> IncomingEvent {
        IncomingEvent(value: [
            "event": .string(name), "messageId": .string(id), "userId": .string(user), "timestamp": .string(at), "properties": properties,
        ])
    }

    static func identify(_ id: String, user: String, plan: String) -> IncomingEvent {
        IncomingEvent(value: ["type": "identify", "messageId": .string(id), "userId": .string(user), "traits": ["plan": .string(plan)]])
    }

    /// A store the engine filled: a day before the window (state the window starts from), then the
    /// window, decided in several batches at advancing instants.
    struct Fixture {
        let folder: TemporaryFolder
        let path: String
        /// Where the window starts (every event received from here is replayed).
        let windowStart: Date
    }

    static func fixture(rules text: String = rules) async throws -> Fixture {
        let folder = try TemporaryFolder()
        let path = folder.path()
        let store = try SQLiteStateStore(path: path)
        let clock = TestClock("2026-11-28T09:00:00Z")
        let engine = Engine(store: store, ruleBook: RuleBook(), now: { clock.now })
        try await engine.install(try load(text))

        // Before the window: u-1 consumes cart's once_per, capped sends twice (of 3 a day).
        try await engine.submitAndDecide(
            [
                identify("i-0", user: "u-1", plan: "pro"),
                track("Cart Abandoned", "b-1", user: "u-1", at: "2026-11-28T08:59:00Z", properties: ["value": 50]),
                track("Page Viewed", "b-2", user: "u-8", at: "2026-11-28T08:59:00Z"),
                track("Page Viewed", "b-3", user: "u-9", at: "2026-11-28T08:59:00Z"),
            ], source: "test")

        clock.set("2026-11-29T07:00:00Z")
        let windowStart = clock.now
        try await engine.submitAndDecide(
            [
                // once_per, held by the send before the window
                track("Cart Abandoned", "w-1", user: "u-1", at: "2026-11-29T06:59:00Z", properties: ["value": 30]),
                // pending, then cancelled by o-1 below
                track("Cart Abandoned", "w-2", user: "u-2", at: "2026-11-29T06:59:00Z", properties: ["value": 40]),
                // not_matched
                track("Cart Abandoned", "w-3", user: "u-3", at: "2026-11-29T06:59:00Z", properties: ["value": 10]),
                // pending
                track("Cart Abandoned", "w-4", user: "u-4", at: "2026-11-29T06:59:00Z", properties: ["value": 45]),
                // morning: pending (10:00 Paris is ahead); capped: pending, the third of the day
                track("Page Viewed", "w-5", user: "u-5", at: "2026-11-29T06:59:00Z"),
            ], source: "test")
        clock.advance(by: 600)
        try await engine.submitAndDecide(
            [
                identify("i-1", user: "u-6", plan: "free"),
                // morning: skipped, late (if_late: skip); capped: skipped, max_sends
                track("Page Viewed", "w-6", user: "u-6", at: "2026-11-20T06:00:00Z"),
                track("Order Completed", "o-1", user: "u-2", at: "2026-11-29T07:09:00Z"),
                // once_per within the window
                track("Cart Abandoned", "w-7", user: "u-4", at: "2026-11-29T07:09:00Z", properties: ["value": 60]),
                track("Cart Abandoned", "w-8", user: "u-6", at: "2026-11-29T07:09:00Z", properties: ["value": 25]),
                track("Page Viewed", "w-9", user: "u-7", at: "2026-11-29T07:09:00Z"),
            ], source: "test")
        clock.advance(by: 600)
        try await engine.submitAndDecide(
            [
                track("Cart Abandoned", "w-10", user: "u-7", at: "2026-11-29T07:19:00Z", properties: ["value": 90]),
                track("Cart Abandoned", "w-11", user: "u-7", at: "2026-11-29T07:20:00Z", properties: ["value": 91]),
            ], source: "test")
        try store.close()
        return Fixture(folder: folder, path: path, windowStart: windowStart)
    }

    static func replay(
        _ fixture: Fixture, rules text: String, onlyRule: String? = nil, user: String? = nil, window: ReplayWindow? = nil, exhaustive: Bool = false,
        showRequests: Bool = true
    ) async throws -> ReplayReport {
        let store = try SQLiteStateStore(path: fixture.path, readOnly: true)
        var replayer = Replayer(rules: try load(text), onlyRule: onlyRule, user: user, fallback: DecideContext(EngineSettings()), pageSize: 4, workers: 2)
        replayer.exhaustive = exhaustive
        replayer.showRequests = showRequests
        return try await replayer.run(source: store, window: window ?? ReplayWindow(from: fixture.windowStart))
    }

    static func runs(_ fixture: Fixture) async throws -> [RunRecord] {
        try await SQLiteStateStore(path: fixture.path, readOnly: true).runs(RunQuery(limit: 1000, traces: false))
    }

    @Test("replaying with the rules that decided the window changes nothing, over every status a decision makes")
    func sameRulesChangeNothing() async throws {
        let fixture = try await Self.fixture()
        let runs = try await Self.runs(fixture)
        func status(_ event: String, _ rule: String) -> RunStatus? { runs.first { $0.eventId == event && $0.ruleId == rule }?.status }
        // The window holds every status a decision makes.
        #expect(status("w-1", "cart") == .skipped && status("w-7", "cart") == .skipped && status("w-11", "cart") == .skipped)
        #expect(status("w-2", "cart") == .cancelled && status("w-3", "cart") == .notMatched && status("w-4", "cart") == .pending)
        #expect(status("w-6", "morning") == .skipped && status("w-6", "capped") == .skipped && status("w-5", "capped") == .pending)
        #expect(status("w-4", "watcher") == .shadow && status("w-1", "watcher") == .shadow && status("w-11", "watcher") == .shadow)

        let report = try await Self.replay(fixture, rules: Self.rules)
        #expect(report.events == 13)
        #expect(report.changes.isEmpty, "\(report.changes.map(\.json.compactJSON))")
        #expect(!report.anyChange)
        let windowRuns = runs.filter { $0.eventId.hasPrefix("w-") }.count
        #expect(report.summaries.reduce(0) { $0 + $1.unchanged } == windowRuns)
        #expect(report.summaries.map(\.ruleId) == ["capped", "cart", "morning", "watcher"])

        // Page by page, one rule at a time, one user at a time: still nothing.
        for rule in ["cart", "capped", "morning", "watcher"] {
            let one = try await Self.replay(fixture, rules: Self.rules, onlyRule: rule)
            #expect(one.changes.isEmpty && one.summaries.map(\.ruleId) == [rule], "\(rule)")
        }
        // (Users whose capped sends depended on other users' max_sends consumption inside the window are
        // left out: --user counts that user's sends alone, docs/replay.md.)
        for user in ["u-1", "u-2", "u-3", "u-4"] {
            #expect(try await Self.replay(fixture, rules: Self.rules, user: user).changes.isEmpty, "\(user)")
        }
    }

    @Test("a raised threshold changes exactly the runs between the two values, from pending to not_matched")
    func raisedThreshold() async throws {
        let fixture = try await Self.fixture()
        let report = try await Self.replay(fixture, rules: Self.rules.replacingOccurrences(of: "gte: 20", with: "gte: 42"))
        // w-4 (45), w-8 (25) and w-10 (90) were sent; of them only w-8 lies between 20 and 42. w-2 (40)
        // was cancelled and w-1 (30) held: they no longer match either.
        let changes = report.changes.filter { $0.ruleId == "cart" }
        #expect(changes.map(\.eventId) == ["w-1", "w-2", "w-8"])
        let w8 = try #require(changes.first { $0.eventId == "w-8" })
        #expect(w8.before?.status == .pending && w8.after?.status == .notMatched)
        #expect(w8.before?.request != nil && w8.after?.request == nil)
        #expect(changes.first { $0.eventId == "w-2" }?.before?.status == .cancelled)
        let cart = try #require(report.summaries.first { $0.ruleId == "cart" })
        #expect(cart.changed == 3 && cart.added == 0 && cart.removed == 0)
        #expect(cart.statusChanges == ["pending -> not_matched": 1, "cancelled -> not_matched": 1, "skipped -> not_matched": 1])
        #expect(report.summaries.filter { $0.ruleId != "cart" }.allSatisfy { !$0.differs })
    }

    @Test("an at moved by an hour moves exactly the sends it affects, not the late or held ones")
    func movedAt() async throws {
        let fixture = try await Self.fixture()
        let report = try await Self.replay(fixture, rules: Self.rules.replacingOccurrences(of: "at: \"10:00\"", with: "at: \"11:00\""))
        // morning: w-5 and w-9 planned for 10:00 Paris move to 11:00; w-6 was late (skipped) and stays.
        #expect(report.changes.map(\.eventId) == ["w-5", "w-9"])
        for change in report.changes {
            #expect(change.ruleId == "morning" && change.before?.status == .pending && change.after?.status == .pending)
            let before = try #require(change.before?.sendAt)
            let after = try #require(change.after?.sendAt)
            #expect(after.timeIntervalSince(before) == 3600)
            #expect(change.before?.request != change.after?.request)
        }
        let morning = try #require(report.summaries.first { $0.ruleId == "morning" })
        #expect(morning.changed == 2 && morning.unchanged == 1 && morning.medianShift == 3600 && morning.largestShift == 3600)
        #expect(morning.hoursBefore[10] == 2 && morning.hoursAfter[11] == 2)
    }

    @Test("a new once_per removes exactly the repeats, counting the sends before the window")
    func newOncePer() async throws {
        let fixture = try await Self.fixture()
        let edited = Self.rules.replacingOccurrences(
            of: "limit: { max_sends: { count: 3, per: 1d } }", with: "limit: { once_per: { key: \"{{ userId }}\", within: 1d } }")
        // capped loses max_sends (w-6 and w-9 were held by it) and gains once_per, which no user repeats.
        let report = try await Self.replay(fixture, rules: edited, onlyRule: "capped")
        #expect(report.changes.map(\.eventId) == ["w-6", "w-9"])
        #expect(report.changes.allSatisfy { $0.before?.status == .skipped && $0.after?.status == .pending })

        // cart without its once_per: the held repeats would have been sent.
        let noOncePer = Self.rules.replacingOccurrences(of: "    limit:\n      once_per: { key: \"{{ userId }}\", within: 1d }\n    cancel_on:", with: "    cancel_on:")
        #expect(noOncePer != Self.rules)
        let freed = try await Self.replay(fixture, rules: noOncePer, onlyRule: "cart")
        #expect(freed.changes.map(\.eventId) == ["w-1", "w-7", "w-11"])
        #expect(freed.changes.allSatisfy { $0.before?.status == .skipped && $0.after?.status == .pending })

        // And back: replaying the store decided without it, with it, removes exactly the repeats.
        let loose = try await Self.fixture(rules: noOncePer)
        let strict = try await Self.replay(loose, rules: Self.rules, onlyRule: "cart")
        #expect(strict.changes.map(\.eventId) == ["w-1", "w-7", "w-11"])
        #expect(strict.changes.allSatisfy { $0.before?.status == .pending && $0.after?.status == .skipped })
    }

    @Test("a deleted rule's runs are all removed, a new rule's all added")
    func deletedAndNewRules() async throws {
        let fixture = try await Self.fixture()
        let without = Self.rules.components(separatedBy: "  - id: morning")[0]
            + "  - id: evening\n    when: { event: Page Viewed }\n    send: { campaign_id: c-9 }\n"
            + "  - id: capped" + Self.rules.components(separatedBy: "  - id: capped")[1]
        let report = try await Self.replay(fixture, rules: without)
        let morning = try #require(report.summaries.first { $0.ruleId == "morning" })
        let evening = try #require(report.summaries.first { $0.ruleId == "evening" })
        #expect(morning.removed == 3 && morning.added + morning.changed + morning.unchanged == 0)
        #expect(evening.added == 3 && evening.removed + evening.changed + evening.unchanged == 0)
        #expect(report.changes.filter { $0.ruleId == "morning" }.allSatisfy { $0.after == nil && $0.before != nil })
        #expect(report.changes.filter { $0.ruleId == "evening" }.allSatisfy { $0.before == nil && $0.after?.status == .pending })
        #expect(report.summaries.filter { !["morning", "evening"].contains($0.ruleId) }.allSatisfy { !$0.differs })
    }

    @Test("a replay writes nothing: the same bytes, the same rows, the same data_version")
    func writesNothing() async throws {
        let fixture = try await Self.fixture()
        func bytes() throws -> [Data] {
            try ["", "-wal"].map { suffix in
                FileManager.default.fileExists(atPath: fixture.path + suffix) ? try Data(contentsOf: URL(fileURLWithPath: fixture.path + suffix)) : Data()
            }
        }
        let watcher = try DatabaseQueue(path: fixture.path)
        func dataVersion() throws -> Int { try watcher.read { try Int.fetchOne($0, sql: "PRAGMA data_version") ?? -1 } }
        func counts() throws -> [Int] {
            try watcher.read { db in
                try ["events", "runs", "outbox", "once_per", "profiles", "rule_versions", "decide_contexts"].map {
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM \($0)") ?? -1
                }
            }
        }
        let before = (try bytes(), try counts(), try dataVersion())
        _ = try await Self.replay(fixture, rules: Self.rules.replacingOccurrences(of: "gte: 20", with: "gte: 42"))
        _ = try await Self.replay(fixture, rules: Self.rules, user: "u-7")
        #expect(try bytes() == before.0)
        #expect(try counts() == before.1)
        #expect(try dataVersion() == before.2)
    }

    @Test("a send its action had accepted, then withdrawn by a later event of the window, replays as cancelled, unchanged")
    func withdrawnAfterDispatch() async throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteStateStore(path: folder.path())
        let clock = TestClock("2026-11-29T07:00:00Z")
        let book = RuleBook()
        let engine = Engine(store: store, ruleBook: book, now: { clock.now })
        try await engine.install(try Self.load(Self.rules))
        let dispatcher = Dispatcher(
            store: store, actions: ["braze": RecordingAction(name: "braze")], ruleBook: book, engineSettings: EngineSettings(),
            settings: DispatchSettings(coalesceWindow: 0), logger: Logger(label: "test"), now: { clock.now }, random: { 0.5 })
        try await engine.submitAndDecide(
            [Self.track("Cart Abandoned", "w-1", user: "u-1", at: "2026-11-29T06:59:00Z", properties: ["value": 50])], source: "test")
        _ = try await dispatcher.pass()
        await dispatcher.settle()
        clock.advance(by: 60)
        try await engine.submitAndDecide([Self.track("Order Completed", "o-1", user: "u-1", at: "2026-11-29T07:00:00Z")], source: "test")
        _ = try await dispatcher.pass()
        await dispatcher.settle()
        let run = try #require(try await store.runs(RunQuery(rule: "cart", traces: false)).first)
        #expect(run.status == .cancelled && run.scheduleId != nil && run.cancelledBy == nil, "\(run.status) \(run.reason)")
        try store.close()

        let report = try await Self.replay(Fixture(folder: folder, path: folder.path(), windowStart: Timestamp.parse("2026-11-29T00:00:00Z")!), rules: Self.rules)
        #expect(report.changes.isEmpty, "\(report.changes.map(\.json.compactJSON))")
        #expect(report.summaries.first { $0.ruleId == "cart" }?.unchanged == 1)
        // Decided without the withdrawal (a rule set without cancel_on), the run would stay pending.
        let noCancel = Self.rules.replacingOccurrences(of: "    cancel_on:\n      - event: Order Completed\n", with: "")
        #expect(noCancel != Self.rules)
        let changed = try await Self.replay(Fixture(folder: folder, path: folder.path(), windowStart: Timestamp.parse("2026-11-29T00:00:00Z")!), rules: noCancel, onlyRule: "cart")
        #expect(changed.changes.map { "\($0.before?.status.rawValue ?? "-") -> \($0.after?.status.rawValue ?? "-")" } == ["cancelled -> pending"])
    }

    @Test("the window: events received before it are state, not replayed; an empty window replays nothing")
    func window() async throws {
        let fixture = try await Self.fixture()
        let all = try await Self.replay(fixture, rules: Self.rules, window: ReplayWindow())
        #expect(all.events == 17 && all.changes.isEmpty)
        let none = try await Self.replay(fixture, rules: Self.rules, window: ReplayWindow(from: Timestamp.parse("2026-12-01T00:00:00Z")))
        #expect(none.events == 0 && none.summaries.isEmpty)
        let first = try await Self.replay(
            fixture, rules: Self.rules, window: ReplayWindow(from: fixture.windowStart, to: fixture.windowStart.addingTimeInterval(1)))
        #expect(first.events == 5 && first.changes.isEmpty)
    }

    /// What a report says, without the requests it shows (the shortcuts leave out the ones that
    /// cannot differ).
    static func outcomes(_ report: ReplayReport) -> [String] {
        func side(_ run: ReplayRun?) -> String {
            guard let run else { return "-" }
            return run.status.rawValue + "@" + (run.sendAt.map { Timestamp.formatUTC($0) } ?? "")
        }
        let summaries = report.summaries.map { s in
            "\(s.ruleId): +\(s.added) -\(s.removed) ~\(s.changed) =\(s.unchanged) \(s.statusChanges.sorted { $0.key < $1.key }) "
                + "shifts \(s.shifts.sorted()) requests \(s.requestChanges)"
        }
        return summaries + report.changes.map { "\($0.eventId) \($0.ruleId): \(side($0.before)) -> \(side($0.after))" }
    }

    @Test(
        "the shortcuts (run rows, unchanged parts of an edited rule) report what deciding every run again with both versions reports",
        arguments: [
            ("the same rules", [(String, String)]()),
            ("a threshold raised", [("gte: 20", "gte: 42")]),
            ("a threshold lowered", [("gte: 20", "gte: 5")]),
            ("an at moved", [("at: \"10:00\"", "at: \"11:00\"")]),
            ("a delay changed", [("after: 2h", "after: 3h")]),
            ("a trigger property added", [("plan: \"{{ user.traits.plan }}\" }", "plan: \"{{ user.traits.plan }}\", v: 2 }")]),
            ("a campaign changed", [("campaign_id: c-3", "campaign_id: c-9")]),
            ("a description added everywhere", [("    when:", "    description: edited\n    when:")]),
            ("the shadow rule made live", [("    mode: shadow\n", "")]),
            ("a cap tightened", [("count: 3", "count: 1")]),
            ("a once_per key changed", [("key: \"{{ userId }}\", within: 1d }\n    cancel_on", "key: \"{{ properties.value }}\", within: 1d }\n    cancel_on")]),
            ("a condition added to a rule that had none", [("when: { event: Page Viewed }\n    send: { campaign_id: c-2 }", "when: { event: Page Viewed, if: { userId: { ne: u-5 } } }\n    send: { campaign_id: c-2 }")]),
            ("a rule deleted, another added", [("  - id: capped", "  - id: capped2")]),
        ] as [(String, [(String, String)])])
    func shortcutsAgreeWithDecidingEverything(edit: String, replacements: [(String, String)]) async throws {
        let fixture = try await Self.fixture()
        var text = Self.rules
        for (old, new) in replacements {
            #expect(text.contains(old), "\(edit): the fixture's rules no longer hold \(old)")
            text = text.replacingOccurrences(of: old, with: new)
        }
        let fast = try await Self.replay(fixture, rules: text)
        let full = try await Self.replay(fixture, rules: text, exhaustive: true)
        let human = try await Self.replay(fixture, rules: text, showRequests: false)
        #expect(Self.outcomes(fast) == Self.outcomes(full), "\(edit)")
        #expect(Self.outcomes(human) == Self.outcomes(full), "\(edit), without requests")
        if !replacements.isEmpty, edit != "a description added everywhere" {
            #expect(full.anyChange, "\(edit): the edit should change something")
        }
    }
}
