import FlintPluginAPI
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `flint status` against a real `flint serve`: serve up or not, a credentials pause with its reason,
/// and `--check` for cron and monitoring.
@Suite("flint status", .serialized)
struct StatusTests {
    static let rules = [
        "ship.yaml": """
        id: ship
        when: { event: Order Shipped }
        send: { campaign_id: camp-ship }
        schedule: { after: 1h }
        """
    ]

    func status(_ serve: ServeHarness, _ extra: [String] = []) async throws -> CLIHarness.Result {
        try await CLIHarness.run(["status"] + serve.ledgerArgs + extra, cwd: serve.dir)
    }

    func statusJSON(_ serve: ServeHarness) async throws -> JSONValue {
        try await JSONParser.parse(try status(serve, ["--json"]).stdout)
    }

    @Test("with Braze answering 401, status says dispatching is paused and why, braze shows paused, and --check exits 1")
    func pausedByRefusedCredentials() async throws {
        let sandbox = try SandboxProcess()
        try await sandbox.post("/_sandbox/faults", #"{"kind":"status","status":401,"count":"always","path":"/campaigns/trigger/schedule/create"}"#)
        let serve = try await ServeHarness(rules: Self.rules, environment: ["BRAZE_REST_ENDPOINT": sandbox.base, "BRAZE_API_KEY": "sandbox-key"])
        defer { serve.remove() }
        let posted = try await serve.request("POST", "/v1/events", body: #"{"event":"Order Shipped","userId":"u-1"}"#)
        #expect(posted.status == 202)

        var json: JSONValue = .null
        let paused = try await ServeHarness.eventually(30) {
            json = try await statusJSON(serve)
            return json["dispatch"]?["paused"] == true
        }
        #expect(paused, "status never said paused: \(json)\n\(serve.log)")
        #expect(json["dispatch"]?["action"] == "braze")
        #expect(json["dispatch"]?["reason"]?.stringValue?.contains("401") == true)
        #expect(json["dispatch"]?["since"]?.stringValue != nil && json["dispatch"]?["next_probe_at"]?.stringValue != nil)
        #expect(json["serve"]?["running"] == true)
        #expect(json["outbox"]?["pending"] == 1)
        #expect(json["ok"] == false)

        let human = try await status(serve)
        #expect(human.stdout.contains("PAUSED since"), "\(human.stdout)")
        #expect(human.stdout.contains("401"))
        await #expect(try status(serve, ["--check"]).status == 1)

        var braze: JSONValue = .null
        let shown = try await ServeHarness.eventually(10) {
            let plugins = try await CLIHarness.run(["plugins", "--json"] + serve.ledgerArgs, cwd: serve.dir)
            braze = (try JSONParser.parse(plugins.stdout).arrayValue ?? []).first { $0["name"] == "braze" } ?? .null
            return braze["state"] == "paused"
        }
        #expect(shown, "braze row: \(braze)")
        #expect(braze["last_error"]?.stringValue?.contains("401") == true)
        await #expect(serve.stop() == 0)
    }

    @Test("with everything healthy --check exits 0; once serve stops, status says it is not running and --check exits 1")
    func healthyThenStopped() async throws {
        let serve = try await ServeHarness(rules: Self.rules)
        defer { serve.remove() }
        var result = CLIHarness.Result(status: -1, stdout: "", stderr: "")
        let healthy = try await ServeHarness.eventually(15) {
            result = try await status(serve, ["--check"])
            // The bound port reaches the heartbeat within a beat of the banner.
            return result.status == 0 && result.stdout.contains(":\(serve.port)")
        }
        #expect(healthy, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("serve      running since"))
        #expect(result.stdout.contains(":\(serve.port)"))
        #expect(result.stdout.contains("nothing needs attention"))

        await #expect(serve.stop() == 0)
        let stopped = try await status(serve, ["--check"])
        #expect(stopped.status == 1)
        #expect(stopped.stdout.contains("NOT RUNNING (stopped"), "\(stopped.stdout)")
        let json = try await statusJSON(serve)
        #expect(json["serve"]?["running"] == false)
        #expect(json["serve"]?["stopped_at"]?.stringValue != nil)
    }

    @Test("a serve that was killed shows as not running once its heartbeat is stale")
    func killedServe() async throws {
        let serve = try await ServeHarness(rules: Self.rules)
        defer { serve.remove() }
        _ = try await ServeHarness.eventually(15) { try await statusJSON(serve)["serve"]?["running"] == true }
        await serve.kill9()
        // The heartbeat goes stale after 20 s: no sleep, poll until status says so.
        var json: JSONValue = .null
        let gone = try await ServeHarness.eventually(40) {
            json = try await statusJSON(serve)
            return json["serve"]?["running"] == false
        }
        #expect(gone, "\(json)")
        #expect(json["serve"]?["stopped_at"] == .null)
        await #expect(try status(serve).stdout.contains("killed or hangs"))
    }

    @Test("dead and unknown sends are counted, not only pending ones, and make --check exit 1")
    func deadSendsNeedAPerson() async throws {
        let sandbox = try SandboxProcess()
        try await sandbox.post("/_sandbox/faults", #"{"kind":"status","status":400,"count":"always","path":"/campaigns/trigger/schedule/create"}"#)
        let serve = try await ServeHarness(rules: Self.rules, environment: ["BRAZE_REST_ENDPOINT": sandbox.base, "BRAZE_API_KEY": "sandbox-key"])
        defer { serve.remove() }
        _ = try await serve.request("POST", "/v1/events", body: #"{"event":"Order Shipped","userId":"u-2"}"#)
        var json: JSONValue = .null
        let dead = try await ServeHarness.eventually(30) {
            json = try await statusJSON(serve)
            return json["outbox"]?["dead"] == 1
        }
        #expect(dead, "\(json)")
        #expect(json["outbox"]?["oldest_dead_created_at"]?.stringValue != nil)
        #expect(json["outbox"]?["unknown"] == 0)
        #expect(json["decisions"]?["backlog"] == 0)
        let check = try await status(serve, ["--check"])
        #expect(check.status == 1)
        #expect(check.stdout.contains("1 dead send"))
        await #expect(serve.stop() == 0)
    }
}
