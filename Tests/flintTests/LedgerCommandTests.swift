import FlintPluginAPI
import Foundation
import Testing

/// The ledger through the CLI a user touches: ingest a file, then runs, runs show, why, events, status.
@Suite("flint ingest, runs, why, events, status (the real binary)")
struct LedgerCommandTests {
    static let rules = """
        rules:
          - id: cart
            when: { event: Cart Abandoned, if: { properties.cart_value: { gte: 20 } } }
            send: { campaign_id: c-1, trigger_properties: { value: "{{ properties.cart_value }}" } }
            schedule: { after: 2h }
            limit: { once_per: { key: "{{ userId }}", within: 7d } }
          - id: digest
            when: { event: Digest Ready }
            send: { campaign_id: c-2 }
            schedule: { at: "09:00", time_zone: Europe/Paris, if_late: skip }
        """

    /// Four stories: no match, planned, once_per, late under skip.
    static let events = [
        #"{"event":"Cart Abandoned","messageId":"e-small","userId":"u-1","timestamp":"2026-11-29T10:00:00Z","properties":{"cart_value":12.5}}"#,
        #"{"event":"Cart Abandoned","messageId":"e-planned","userId":"u-2","properties":{"cart_value":59.5}}"#,
        #"{"event":"Cart Abandoned","messageId":"e-again","userId":"u-2","properties":{"cart_value":80}}"#,
        #"{"event":"Digest Ready","messageId":"e-late","userId":"u-3","timestamp":"2026-01-01T07:00:00Z"}"#,
        #"{"event":"Cart Abandoned","messageId":"e-bad","properties":{"cart_value":30}}"#,
    ].joined(separator: "\n")

    struct Workspace {
        var dir: URL
        var args: [String]
    }

    func workspace() throws -> Workspace {
        let dir = try CLIHarness.temporaryDirectory()
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("rules"), withIntermediateDirectories: true)
        try Self.rules.write(to: dir.appendingPathComponent("rules/r.yaml"), atomically: true, encoding: .utf8)
        try Self.events.write(to: dir.appendingPathComponent("events.ndjson"), atomically: true, encoding: .utf8)
        return Workspace(dir: dir, args: ["--database", dir.appendingPathComponent("flint.db").path, "--rules", dir.appendingPathComponent("rules").path])
    }

    func runsJSON(_ w: Workspace, _ extra: [String] = []) async throws -> [JSONValue] {
        let r = try await CLIHarness.run(["runs", "--json"] + w.args + extra, cwd: w.dir)
        #expect(r.status == 0, "\(r.stderr)")
        return try JSONParser.parse(r.stdout).arrayValue ?? []
    }

    @Test("ingest then runs --json: each run shows the gate that decided it and the value seen")
    func ingestAndRuns() async throws {
        let w = try workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }
        let ingest = try await CLIHarness.run(["ingest"] + w.args + ["events.ndjson"], cwd: w.dir)
        #expect(ingest.status == 1, "one line is invalid, so ingest reports a finding")
        #expect(ingest.stdout.contains("events.ndjson: 4 accepted, 0 duplicates, 1 rejected"), "\(ingest.stdout)")
        #expect(ingest.stderr.contains("event 4: userId: one of userId or anonymousId is required"), "\(ingest.stderr)")

        let runs = try await runsJSON(w)
        func run(_ event: String) async throws -> JSONValue { try #require(runs.first { $0["event_id"] == .string(event) }, "no run for \(event)") }
        let small = try await run("e-small")
        #expect(small["status"] == "not_matched")
        #expect(small["reason"] == "properties.cart_value gte 20: saw 12.5")
        #expect(small["trace"]?["failed_condition"]?["seen"] == 12.5)
        let planned = try await run("e-planned")
        #expect(planned["status"] == "pending")
        #expect(planned["rule_id"] == "cart")
        #expect(planned["schedule"]?["in_local_time"] == false)
        #expect(planned["request"]?["recipients"] == [["external_user_id": "u-2", "trigger_properties": ["value": 59.5]]])
        let again = try await run("e-again")
        #expect(again["status"] == "skipped")
        #expect(again["reason"]?.stringValue?.hasPrefix("once_per: key 'u-2' already sent") == true)
        let late = try await run("e-late")
        #expect(late["status"] == "skipped")
        #expect(late["reason"]?.stringValue?.contains("if_late is skip") == true)
        for key in ["id", "event_id", "rule_id", "rule_version", "user", "status", "reason", "send_at", "schedule", "braze", "created_at"] {
            #expect(planned[key] != nil, "run JSON lacks \(key)")
        }

        // Filters
        await #expect(try runsJSON(w, ["--status", "skipped"]).count == 2)
        await #expect(try runsJSON(w, ["--rule", "digest"]).count == 1)
        await #expect(try runsJSON(w, ["--user", "u-2"]).count == 2)

        // Ingesting the same file again duplicates nothing.
        let twice = try await CLIHarness.run(["ingest"] + w.args + ["events.ndjson"], cwd: w.dir)
        #expect(twice.stdout.contains("0 accepted, 4 duplicates"), "\(twice.stdout)")
        await #expect(try runsJSON(w).count == 4)
    }

    @Test("why tells, in plain words, the gate that stopped each send, or that it was planned")
    func why() async throws {
        let w = try workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }
        _ = try await CLIHarness.run(["ingest"] + w.args + ["events.ndjson"], cwd: w.dir)
        let u1 = try await CLIHarness.run(["why", "--user", "u-1"] + w.args, cwd: w.dir)
        #expect(u1.stdout.contains("not sent: the condition properties.cart_value gte 20: saw 12.5 did not hold."), "\(u1.stdout)")
        let u2 = try await CLIHarness.run(["why", "--user", "u-2", "--rule", "cart"] + w.args, cwd: w.dir)
        #expect(u2.stdout.contains("not sent: stopped by once_per: once_per: key 'u-2' already sent"), "\(u2.stdout)")
        #expect(u2.stdout.contains("planned for "), "\(u2.stdout)")
        let u3 = try await CLIHarness.run(["why", "--user", "u-3", "--json"] + w.args, cwd: w.dir)
        let items = try JSONParser.parse(u3.stdout).arrayValue ?? []
        #expect(items.first?["stopped_by"] == "planner")
        #expect(items.first?["status"] == "skipped")
        let nobody = try await CLIHarness.run(["why", "--user", "u-404"] + w.args, cwd: w.dir)
        #expect(nobody.stdout.contains("Flint has no event from this user"), "\(nobody.stdout)")
    }

    @Test("runs show, events, events --rejected and status tell the rest of the story")
    func showEventsStatus() async throws {
        let w = try workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }
        _ = try await CLIHarness.run(["ingest"] + w.args + ["events.ndjson"], cwd: w.dir)
        let planned = try await #require(try runsJSON(w, ["--event", "e-planned"]).first)
        let id = try #require(planned["id"]?.numberValue.map { String(Int($0)) })
        let show = try await CLIHarness.run(["runs", "show", id] + w.args, cwd: w.dir)
        #expect(show.status == 0)
        #expect(show.stdout.contains("request: POST /campaigns/trigger/schedule/create"), "\(show.stdout)")
        #expect(show.stdout.contains("delay"), "\(show.stdout)")
        let events = try await CLIHarness.run(["events", "--json"] + w.args, cwd: w.dir)
        #expect((try JSONParser.parse(events.stdout).arrayValue ?? []).count == 4)
        let rejected = try await CLIHarness.run(["events", "--rejected"] + w.args, cwd: w.dir)
        #expect(rejected.stdout.contains("userId: one of userId or anonymousId is required"), "\(rejected.stdout)")
        let status = try await CLIHarness.run(["status"] + w.args, cwd: w.dir)
        #expect(status.stdout.contains("events     4 accepted, 1 rejected"), "\(status.stdout)")
        #expect(status.stdout.contains("not_matched 1, skipped 2, pending 1"), "\(status.stdout)")
        #expect(status.stdout.contains("outbox     1 pending"), "\(status.stdout)")
        let missing = try await CLIHarness.run(["runs", "show", "999"] + w.args, cwd: w.dir)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no run 999"))
    }
}
