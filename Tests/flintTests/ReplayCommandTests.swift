import FlintPluginAPI
import Foundation
import Testing

/// `flint replay` and `mode: shadow` as a user runs them: the real binary, a database `flint ingest`
/// (or `flint serve`) filled.
@Suite("flint replay and shadow rules, end to end", .serialized)
struct ReplayCommandTests {
    static let cart = """
        id: cart
        when:
          event: Cart Abandoned
          if: { properties.value: { gte: 20 } }
        send: { campaign_id: camp-cart, trigger_properties: { value: "{{ properties.value }}" } }
        schedule: { after: 2h }
        """

    static let welcome = """
        id: welcome
        when: { event: Signed Up }
        send: { campaign_id: camp-welcome }
        schedule: { after: 10m }
        """

    /// A folder with rules/ and a database filled by `flint ingest` with events received now.
    struct Setup {
        let dir: URL
        var database: String { dir.appendingPathComponent("flint.db").path }
        var rules: URL { dir.appendingPathComponent("rules") }

        func writeRules(_ files: [String: String], into folder: URL? = nil) throws {
            let target = folder ?? rules
            try? FileManager.default.removeItem(at: target)
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
            for (name, text) in files { try text.write(to: target.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        }

        func replay(_ arguments: [String], rules folder: URL? = nil) async throws -> CLIHarness.Result {
            try await CLIHarness.run(["replay", "--database", database, "--rules", (folder ?? rules).path] + arguments, cwd: dir)
        }
    }

    static func setup() async throws -> Setup {
        let setup = Setup(dir: try CLIHarness.temporaryDirectory())
        try setup.writeRules(["cart.yaml": cart, "welcome.yaml": welcome])
        let ts = Timestamp.formatUTC(Date())
        var lines: [String] = []
        for (i, value) in [10, 25, 35, 45, 60].enumerated() {
            lines.append(#"{"event":"Cart Abandoned","messageId":"c-\#(i)","userId":"u-\#(i)","timestamp":"\#(ts)","properties":{"value":\#(value)}}"#)
        }
        lines.append(#"{"event":"Signed Up","messageId":"s-1","userId":"u-1","timestamp":"\#(ts)"}"#)
        let file = setup.dir.appendingPathComponent("events.ndjson")
        try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        let ingest = try await CLIHarness.run(
            ["ingest", file.path, "--database", setup.database, "--rules", setup.rules.path], cwd: setup.dir)
        #expect(ingest.status == 0, "\(ingest.stderr)")
        return setup
    }

    @Test("replaying with the same rules: nothing changes, --fail-on-change exits 0, --json has the documented shape")
    func sameRules() async throws {
        let setup = try await Self.setup()
        defer { try? FileManager.default.removeItem(at: setup.dir) }
        let human = try await setup.replay(["--since", "1h"])
        #expect(human.status == 0, "\(human.stderr)")
        #expect(human.stdout.contains("replayed 6 events"), "\(human.stdout)")
        #expect(human.stdout.contains("cart: 5 runs, all unchanged") && human.stdout.contains("welcome: 1 runs, all unchanged"), "\(human.stdout)")
        #expect(human.stdout.contains("no change: all 6 runs would be decided as they were"), "\(human.stdout)")

        let strict = try await setup.replay(["--since", "1h", "--fail-on-change", "--json"])
        #expect(strict.status == 0, "\(strict.stderr)")
        let json = try JSONParser.parse(strict.stdout)
        #expect(json.objectValue.map { Set($0.keys) } == ["summary", "changes"])
        #expect(json["changes"]?.arrayValue?.isEmpty == true)
        let summary = try #require(json["summary"]?.arrayValue)
        #expect(summary.map { $0["rule_id"]?.stringValue ?? "" } == ["cart", "welcome"])
        #expect(summary.allSatisfy { $0.objectValue.map { Set($0.keys) } == ["rule_id", "added", "removed", "changed", "unchanged"] })
        #expect(summary.first?["unchanged"] == 5 && summary.first?["changed"] == 0)
    }

    @Test("an edited rule set: --fail-on-change exits 1, the changes name each run with both outcomes, --rule and --user narrow them")
    func editedRules() async throws {
        let setup = try await Self.setup()
        defer { try? FileManager.default.removeItem(at: setup.dir) }
        let edited = setup.dir.appendingPathComponent("edited")
        try setup.writeRules(
            [
                "cart.yaml": Self.cart.replacingOccurrences(of: "gte: 20", with: "gte: 40"),
                "winback.yaml": "id: winback\nwhen: { event: Cart Abandoned }\nsend: { campaign_id: camp-wb }\n",
            ], into: edited)

        let failing = try await setup.replay(["--since", "1h", "--fail-on-change", "--json"], rules: edited)
        #expect(failing.status == 1, "\(failing.stderr)")
        let json = try JSONParser.parse(failing.stdout)
        func summary(_ rule: String) -> JSONValue? { json["summary"]?.arrayValue?.first { $0["rule_id"] == .string(rule) } }
        #expect(summary("cart")?["changed"] == 2 && summary("cart")?["unchanged"] == 3)
        #expect(summary("welcome")?["removed"] == 1)
        #expect(summary("winback")?["added"] == 5)
        let changes = try #require(json["changes"]?.arrayValue)
        let c1 = try #require(changes.first { $0["event_id"] == "c-1" && $0["rule_id"] == "cart" })
        #expect(c1["user"] == "u-1")
        #expect(c1["before"]?["status"] == "pending" && c1["after"]?["status"] == "not_matched")
        #expect(c1["before"]?.objectValue.map { Set($0.keys) } == ["status", "send_at", "schedule", "request"])
        #expect(c1["before"]?["request"]?["campaign_id"] == "camp-cart" && c1["before"]?["send_at"]?.stringValue != nil)
        #expect(c1["after"]?["request"] == .null && c1["after"]?["send_at"] == .null)
        #expect(changes.first { $0["rule_id"] == "welcome" }?["after"] == .null)
        #expect(changes.first { $0["rule_id"] == "winback" }?["before"] == .null)

        // Without --fail-on-change: exit 0, and the report in words.
        let human = try await setup.replay(["--since", "1h"], rules: edited)
        #expect(human.status == 0)
        #expect(human.stdout.contains("cart: 5 runs: 0 added, 0 removed, 2 changed, 3 unchanged"), "\(human.stdout)")
        #expect(human.stdout.contains("status pending -> not_matched: 2"), "\(human.stdout)")
        #expect(human.stdout.contains("e.g. user u-1, 'Cart Abandoned' c-1"), "\(human.stdout)")
        #expect(human.stdout.contains("welcome: 1 runs: 0 added, 1 removed"), "\(human.stdout)")

        let oneRule = try JSONParser.parse(try await setup.replay(["--since", "1h", "--json", "--rule", "cart"], rules: edited).stdout)
        #expect(oneRule["summary"]?.arrayValue?.map { $0["rule_id"] ?? .null } == ["cart"])
        let oneUser = try JSONParser.parse(try await setup.replay(["--since", "1h", "--json", "--user", "u-2"], rules: edited).stdout)
        #expect(oneUser["changes"]?.arrayValue?.allSatisfy { $0["user"] == "u-2" } == true)
        #expect(oneUser["changes"]?.arrayValue?.count == 2)  // cart 35 -> not_matched, winback added
    }

    @Test("windows: a past window replays nothing; contradictory or unreadable windows are usage errors")
    func windows() async throws {
        let setup = try await Self.setup()
        defer { try? FileManager.default.removeItem(at: setup.dir) }
        let past = try await setup.replay(["--from", "2020-01-01T00:00:00Z", "--to", "2020-01-02T00:00:00Z"])
        #expect(past.status == 0 && past.stdout.contains("no decided event in the window"), "\(past.stdout)")
        let recent = try await setup.replay(["--from", "1h", "--to", Timestamp.formatUTC(Date().addingTimeInterval(60)), "--json"])
        #expect(try JSONParser.parse(recent.stdout)["summary"]?.arrayValue?.count == 2, "\(recent.stderr)")

        let backwards = try await setup.replay(["--from", "2026-11-02T00:00:00Z", "--to", "2026-11-01T00:00:00Z"])
        #expect(backwards.status == 2 && backwards.stderr.contains("is not before --to"), "\(backwards.stderr)")
        let both = try await setup.replay(["--since", "7d", "--from", "2026-11-01T00:00:00Z"])
        #expect(both.status == 2 && both.stderr.contains("not both"), "\(both.stderr)")
        let garbled = try await setup.replay(["--since", "last week"])
        #expect(garbled.status == 2 && garbled.stderr.contains("--since 'last week' is neither an ISO 8601 time"), "\(garbled.stderr)")
    }

    @Test("a rules folder with errors is refused with file:line:col errors, and so are an unknown --rule and a missing database")
    func badInput() async throws {
        let setup = try await Self.setup()
        defer { try? FileManager.default.removeItem(at: setup.dir) }
        let broken = setup.dir.appendingPathComponent("broken")
        try setup.writeRules(["cart.yaml": Self.cart + "\nmode: dry_run\n"], into: broken)
        let result = try await setup.replay(["--since", "1h"], rules: broken)
        #expect(result.status == 1)
        #expect(result.stderr.contains("cart.yaml:7:7: error: mode: 'dry_run' is not one of live, shadow; did you mean 'shadow'?"), "\(result.stderr)")
        #expect(result.stderr.contains("nothing was replayed"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)

        let unknown = try await setup.replay(["--since", "1h", "--rule", "crat"])
        #expect(unknown.status == 1 && unknown.stderr.contains("--rule crat: no rule with that id") && unknown.stderr.contains("did you mean 'cart'?"), "\(unknown.stderr)")

        let missing = try await CLIHarness.run(["replay", "--database", setup.dir.appendingPathComponent("none.db").path, "--rules", setup.rules.path], cwd: setup.dir)
        #expect(missing.status == 1 && missing.stderr.contains("no database at"), "\(missing.stderr)")
    }

    @Test("a shadow rule beside a live one: the live one reaches the sandbox, the shadow one only its run; replay beside serve sends nothing")
    func shadowBesideLive() async throws {
        let sandbox = try SandboxProcess()
        let configFile = FileManager.default.temporaryDirectory.appendingPathComponent("flint-\(UUID().uuidString).yaml")
        try "braze:\n  coalesce_window: 50ms\n".write(to: configFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: configFile) }
        let shadow = Self.cart.replacingOccurrences(of: "id: cart", with: "id: cart-shadow\nmode: shadow")
            .replacingOccurrences(of: "camp-cart", with: "camp-shadow")
        let serve = try await ServeHarness(
            rules: ["cart.yaml": Self.cart, "shadow.yaml": shadow],
            environment: ["BRAZE_REST_ENDPOINT": sandbox.base, "BRAZE_API_KEY": "sandbox-key", "FLINT_CONFIG": configFile.path])
        defer {
            serve.terminate()
            serve.remove()
        }
        let ts = Timestamp.formatUTC(Date())
        let body = #"{"event":"Cart Abandoned","messageId":"m-1","userId":"u-42","timestamp":"\#(ts)","properties":{"value":59}}"#
        #expect(try await serve.request("POST", "/v1/events", body: body).status == 202)

        var runs: [JSONValue] = []
        let settled = try await ServeHarness.eventually(30) {
            let r = try await CLIHarness.run(["runs", "--json"] + serve.ledgerArgs, cwd: serve.dir)
            runs = (try? JSONParser.parse(r.stdout).arrayValue) ?? []
            return runs.count == 2 && runs.contains { $0["rule_id"] == "cart" && $0["status"] == "scheduled" }
        }
        #expect(settled, "\(runs)")
        let shadowRun = try #require(runs.first { $0["rule_id"] == "cart-shadow" })
        #expect(shadowRun["status"] == "shadow")
        #expect(shadowRun["request"]?["campaign_id"] == "camp-shadow")
        #expect(shadowRun["request"]?["recipients"]?.arrayValue?.first?["trigger_properties"]?["value"] == 59)
        let calls = try await sandbox.get("/_sandbox/calls?path=/campaigns/trigger/schedule/create").arrayValue ?? []
        #expect(calls.count == 1 && calls.first?["body"]?["campaign_id"] == "camp-cart", "\(calls)")
        let outbox = try await CLIHarness.run(["outbox", "--all", "--json"] + serve.ledgerArgs, cwd: serve.dir)
        #expect((try JSONParser.parse(outbox.stdout).arrayValue ?? []).count == 1, "\(outbox.stdout)")

        let listed = try await CLIHarness.run(["runs", "--status", "shadow", "--json"] + serve.ledgerArgs, cwd: serve.dir)
        #expect((try JSONParser.parse(listed.stdout).arrayValue ?? []).map { $0["rule_id"] ?? .null } == ["cart-shadow"])
        let why = try await CLIHarness.run(["why", "--user", "u-42"] + serve.ledgerArgs, cwd: serve.dir)
        #expect(why.stdout.contains("(cart-shadow, shadow)") && why.stdout.contains("shadow: would be sent to Braze"), "\(why.stdout)")
        #expect(why.stdout.contains("camp-shadow"), "\(why.stdout)")
        let status = try await CLIHarness.run(["status"] + serve.ledgerArgs, cwd: serve.dir)
        #expect(status.stdout.contains("shadow 1"), "\(status.stdout)")

        // flint replay reads the live database while serve runs: nothing changes, nothing is sent.
        let callsBefore = (try await sandbox.get("/_sandbox/calls").arrayValue ?? []).count
        let replay = try await CLIHarness.run(
            ["replay", "--since", "1h", "--fail-on-change"] + serve.ledgerArgs, cwd: serve.dir)
        #expect(replay.status == 0, "\(replay.stdout)\n\(replay.stderr)")
        #expect(replay.stdout.contains("cart-shadow: 1 runs, all unchanged"), "\(replay.stdout)")
        #expect((try await sandbox.get("/_sandbox/calls").arrayValue ?? []).count == callsBefore)
        #expect((try await sandbox.get("/_sandbox/calls?path=/campaigns/trigger/schedule/create").arrayValue ?? []).count == 1)
        await #expect(serve.stop() == 0)
    }
}
