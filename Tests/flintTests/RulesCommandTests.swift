import FlintPluginAPI
import Foundation
import Testing

@Suite("flint rules (the real binary)")
struct RulesCommandTests {
    @Test("the example rules are valid")
    func exampleRulesCheck() async throws {
        let r = try await CLIHarness.run(["rules", "check", "rules"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("0 errors"))
    }

    @Test("the example rule tests all pass")
    func exampleRuleTests() async throws {
        let r = try await CLIHarness.run(["rules", "test"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let last = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasSuffix("passed, 0 failed"), "\(last)")
        #expect(!last.hasPrefix("0 passed"))
    }

    @Test("rules check reports every problem as file:line:col and exits 1")
    func checkFindings() async throws {
        let dir = try CLIHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try "id: a\nwhen: { event: E }\nsend: { campaign_id: c }\nschedule:\n  at: \"10:00\"\n  in_local_time: true\n  at_optimal_time: true\n"
            .write(to: dir.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("nested"), withIntermediateDirectories: true)
        try "id: b\nwhen: { event: E }\nsend: { campaign_id: c, colour: red }\n"
            .write(to: dir.appendingPathComponent("nested/b.yml"), atomically: true, encoding: .utf8)
        let r = try await CLIHarness.run(["rules", "check", dir.path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("\(dir.path)/a.yaml:7:3: error: schedule.at_optimal_time: in_local_time and at_optimal_time are mutually exclusive"), "\(r.stderr)")
        #expect(r.stderr.contains("\(dir.path)/nested/b.yml:3:25: error: unknown key 'colour' in send"), "\(r.stderr)")
    }

    @Test("with a flint.yaml at hand, a rule naming an action no plugin provides is a located warning")
    func unknownActionWarning() async throws {
        let dir = try CLIHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("rules"), withIntermediateDirectories: true)
        try "plugins:\n  - {name: slack, kind: action, command: [/bin/true]}\n".write(
            to: dir.appendingPathComponent("flint.yaml"), atomically: true, encoding: .utf8)
        for (name, action) in [("ok", "slack"), ("typo", "slak")] {
            try "id: \(name)\nwhen:\n  event: E\nsend:\n  action: \(action)\n  with: {a: 1}\n".write(
                to: dir.appendingPathComponent("rules/\(name).yaml"), atomically: true, encoding: .utf8)
        }
        let r = try await CLIHarness.run(["rules", "check", "rules"], cwd: dir)
        #expect(r.status == 0)
        #expect(r.stderr.contains("rules/typo.yaml:1:1: warning: send.action: 'slak' is not an action flint.yaml declares (actions: braze, slack)"), "\(r.stderr)")
        #expect(!r.stderr.contains("'slack' is not"))
        #expect(r.stdout.contains("2 rules checked in rules: 0 errors, 1 warning"))
    }

    @Test("a usage error exits 2")
    func usageError() async throws {
        let r = try await CLIHarness.run(["rules", "test", "--now", "yesterday"])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("--now 'yesterday' is not an ISO 8601 time"))
    }

    @Test("rules test --event prints the exact Braze request for the sample cart event")
    func dryRunJSON() async throws {
        let r = try await CLIHarness.run([
            "rules", "test", "--event", "examples/events/cart-abandoned.json", "--now", "2026-11-29T18:06:00Z", "--json",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let reports = try JSONParser.parse(r.stdout)
        let report = try #require(reports.arrayValue?.first)
        #expect(reports.arrayValue?.count == 1)
        #expect(report["rule_id"] == "cart-abandoned")
        #expect(report["matched"] == true)
        // 18:05Z + 2h = 20:05Z = 12:05 in Los Angeles: outside the 21:00-08:00 quiet hours.
        let expected: JSONValue = [
            "campaign_id": "7c3f1a52-3a57-4c71-a0d1-2b9e0f6d4a11",
            "send_id": "cart-reminder",
            "broadcast": false,
            "recipients": [[
                "external_user_id": "u-42",
                "trigger_properties": [
                    "cart_value": 59.5, "currency": "USD", "first_item": "Socks",
                    "items_json": #"[{"name":"Socks","sku":"A1"},{"name":"Scarf","sku":"B7"}]"#,
                ],
            ]],
            "schedule": ["time": "2026-11-29T20:05:00Z", "in_local_time": false, "at_optimal_time": false],
        ]
        #expect(report["request"] == expected, "\(report["request"]?.prettyJSON() ?? "none")")
    }

    @Test("rules test --event explains the first failing condition with the value seen")
    func dryRunNotMatched() async throws {
        let event = #"{"event":"Cart Abandoned","userId":"u-1","timestamp":"2026-11-29T18:05:00Z","properties":{"cart_value":"12","currency":"USD"}}"#
        let r = try await CLIHarness.run(["rules", "test", "--event", "-", "--now", "2026-11-29T18:06:00Z"], stdin: event)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("NOT MATCHED"), "\(r.stdout)")
        #expect(r.stdout.contains("properties.cart_value gte 20"), "\(r.stdout)")
        #expect(r.stdout.contains("\"12\""), "\(r.stdout)")
    }

    @Test("rules test --event on an invalid event exits 1 and names the field")
    func dryRunInvalidEvent() async throws {
        let r = try await CLIHarness.run(["rules", "test", "--event", "-"], stdin: #"{"event":"Cart Abandoned","timestamp":"soon"}"#)
        #expect(r.status == 1)
        #expect(r.stderr.contains("timestamp: \"soon\" is not an ISO 8601 time"), "\(r.stderr)")
        #expect(r.stderr.contains("userId: one of userId or anonymousId is required"), "\(r.stderr)")
    }

    @Test("a failing rule test case is shown with what differed, and the run exits 1")
    func failingRuleTest() async throws {
        let dir = try CLIHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try "id: a\nwhen: { event: E }\nsend: { campaign_id: c }\nschedule: { after: 1h }\n"
            .write(to: dir.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        try """
            now: "2026-01-01T00:00:00Z"
            cases:
              - name: right
                event: { event: E, userId: u, timestamp: "2026-01-01T00:00:00Z" }
                expect: { outcome: send, schedule: { time: "2026-01-01T01:00:00Z", in_local_time: false, at_optimal_time: false } }
              - name: wrong
                event: { event: E, userId: u, timestamp: "2026-01-01T00:00:00Z" }
                expect: { outcome: send, schedule: { time: "2026-01-01T02:00:00Z", in_local_time: false, at_optimal_time: false } }
            """.write(to: dir.appendingPathComponent("a.test.yaml"), atomically: true, encoding: .utf8)
        let r = try await CLIHarness.run(["rules", "test", "--rules", dir.path])
        #expect(r.status == 1)
        #expect(r.stdout.contains("PASS"))
        #expect(r.stdout.contains("FAIL"))
        #expect(r.stdout.contains("expected {\"at_optimal_time\":false,\"in_local_time\":false,\"time\":\"2026-01-01T02:00:00Z\"}"), "\(r.stdout)")
        #expect(r.stdout.hasSuffix("1 passed, 1 failed\n"), "\(r.stdout)")
    }
}
