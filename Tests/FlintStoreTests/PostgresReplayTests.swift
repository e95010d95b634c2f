import FlintCore
import FlintPluginAPI
import FlintPostgres
import FlintRules
import FlintStore
import FlintTesting
import Foundation
import Testing

/// `flint replay` on PostgreSQL: the ReplaySource reads give the same report as SQLite's, the
/// window decided by the same engine script (`ReplayTests`) in both stores.
@Suite(
    "Replay on PostgreSQL", .enabled(if: PostgresTestCluster.skipReason == nil, Comment(rawValue: PostgresTestCluster.skipReason ?? "")))
struct PostgresReplayTests {
    /// `ReplayTests.fixture`'s events, decided into `store` at the same instants; returns where the window starts.
    static func fill(_ store: any StateStore, rules text: String = ReplayTests.rules) async throws -> Date {
        typealias R = ReplayTests
        let clock = TestClock("2026-11-28T09:00:00Z")
        let engine = Engine(store: store, ruleBook: RuleBook(), now: { clock.now })
        try await engine.install(try R.load(text))
        try await engine.submitAndDecide(
            [
                R.identify("i-0", user: "u-1", plan: "pro"),
                R.track("Cart Abandoned", "b-1", user: "u-1", at: "2026-11-28T08:59:00Z", properties: ["value": 50]),
                R.track("Page Viewed", "b-2", user: "u-8", at: "2026-11-28T08:59:00Z"),
                R.track("Page Viewed", "b-3", user: "u-9", at: "2026-11-28T08:59:00Z"),
            ], source: "test")
        clock.set("2026-11-29T07:00:00Z")
        let windowStart = clock.now
        try await engine.submitAndDecide(
            [
                R.track("Cart Abandoned", "w-1", user: "u-1", at: "2026-11-29T06:59:00Z", properties: ["value": 30]),
                R.track("Cart Abandoned", "w-2", user: "u-2", at: "2026-11-29T06:59:00Z", properties: ["value": 40]),
                R.track("Cart Abandoned", "w-3", user: "u-3", at: "2026-11-29T06:59:00Z", properties: ["value": 10]),
                R.track("Cart Abandoned", "w-4", user: "u-4", at: "2026-11-29T06:59:00Z", properties: ["value": 45]),
                R.track("Page Viewed", "w-5", user: "u-5", at: "2026-11-29T06:59:00Z"),
            ], source: "test")
        clock.advance(by: 600)
        try await engine.submitAndDecide(
            [
                R.identify("i-1", user: "u-6", plan: "free"),
                R.track("Page Viewed", "w-6", user: "u-6", at: "2026-11-20T06:00:00Z"),
                R.track("Order Completed", "o-1", user: "u-2", at: "2026-11-29T07:09:00Z"),
                R.track("Cart Abandoned", "w-7", user: "u-4", at: "2026-11-29T07:09:00Z", properties: ["value": 60]),
                R.track("Cart Abandoned", "w-8", user: "u-6", at: "2026-11-29T07:09:00Z", properties: ["value": 25]),
                R.track("Page Viewed", "w-9", user: "u-7", at: "2026-11-29T07:09:00Z"),
            ], source: "test")
        clock.advance(by: 600)
        try await engine.submitAndDecide(
            [
                R.track("Cart Abandoned", "w-10", user: "u-7", at: "2026-11-29T07:19:00Z", properties: ["value": 90]),
                R.track("Cart Abandoned", "w-11", user: "u-7", at: "2026-11-29T07:20:00Z", properties: ["value": 91]),
            ], source: "test")
        return windowStart
    }

    static func replay(_ source: any ReplaySource, rules text: String, start: Date, onlyRule: String? = nil, user: String? = nil) async throws
        -> ReplayReport
    {
        let replayer = Replayer(
            rules: try ReplayTests.load(text), onlyRule: onlyRule, user: user, fallback: DecideContext(EngineSettings()), pageSize: 4, workers: 2)
        return try await replayer.run(source: source, window: ReplayWindow(from: start))
    }

    @Test("the same window on SQLite and on PostgreSQL: the same runs, and every replay gives the same report")
    func sameReportAsSQLite() async throws {
        let folder = try TemporaryFolder()
        let sqlite = try SQLiteStateStore(path: folder.path())
        let postgres = try await PostgresStateStore.open(PostgresURL(parsing: PostgresTestCluster.shared().makeDatabase()))
        let start = try await Self.fill(sqlite)
        #expect(try await Self.fill(postgres) == start)

        // The runs as decided: the same rows, field for field.
        let query = RunQuery(limit: 1000, traces: true)
        #expect(try await postgres.runs(query) == sqlite.runs(query))

        let edits: [(String, String?, String?)] = [
            (ReplayTests.rules, nil, nil),
            (ReplayTests.rules.replacingOccurrences(of: "gte: 20", with: "gte: 42"), nil, nil),
            (ReplayTests.rules.replacingOccurrences(of: "at: \"10:00\"", with: "at: \"11:00\""), nil, nil),
            (ReplayTests.rules.replacingOccurrences(of: "limit: { max_sends: { count: 3, per: 1d } }", with: "limit: { once_per: { key: \"{{ userId }}\", within: 1d } }"), "capped", nil),
            (ReplayTests.rules.replacingOccurrences(of: "gte: 20", with: "gte: 42"), nil, "u-6"),
        ]
        for (rules, rule, user) in edits {
            let expected = try await Self.replay(sqlite, rules: rules, start: start, onlyRule: rule, user: user)
            let got = try await Self.replay(postgres, rules: rules, start: start, onlyRule: rule, user: user)
            #expect(got.events == expected.events && got.bounds == expected.bounds)
            #expect(got.json == expected.json, "\(got.json.compactJSON)\nvs\n\(expected.json.compactJSON)")
        }
        let unchanged = try await Self.replay(postgres, rules: ReplayTests.rules, start: start)
        #expect(unchanged.events == 13 && !unchanged.anyChange)
    }
}
