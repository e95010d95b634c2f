import FlintPluginAPI
import Foundation
import GRDB
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Exec plugins through a real `flint serve`: real child processes (Python), real pipes, the real
/// SQLite file, and the CLI a user would run.
@Suite("Exec plugins, end to end", .serialized)
struct PluginE2ETests {
    static let examples = CLIHarness.root.appendingPathComponent("Plugins/Examples")
    static let fixtures = CLIHarness.root.appendingPathComponent("Tests/Fixtures/plugins")

    static func count(_ database: String, _ sql: String) throws -> Int {
        var configuration = GRDB.Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: database, configuration: configuration)
        return try queue.read { try Int.fetchOne($0, sql: sql) ?? -1 }
    }

    static func plugins(_ serve: ServeHarness) async throws -> [String: JSONValue] {
        let result = try await CLIHarness.run(["plugins", "--json"] + serve.ledgerArgs, cwd: serve.dir)
        var byName: [String: JSONValue] = [:]
        for p in try JSONParser.parse(result.stdout).arrayValue ?? [] {
            if let name = p["name"]?.stringValue { byName[name] = p }
        }
        return byName
    }

    static func runs(_ serve: ServeHarness, _ extra: [String] = []) async throws -> [JSONValue] {
        let result = try await CLIHarness.run(["runs", "--json", "--limit", "1000"] + extra + serve.ledgerArgs, cwd: serve.dir)
        return try JSONParser.parse(result.stdout).arrayValue ?? []
    }

    /// The demo of docs/plugins.md: the example source follows orders.ndjson, the rule sends orders
    /// of $100 or more to the example action, which writes them to audit.jsonl.
    @Test("the example source feeds the example action through a rule, visible in flint runs")
    func exampleSourceFeedsExampleAction() async throws {
        let demo = CLIHarness.root.appendingPathComponent("examples/plugins")
        let dir = try CLIHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The demo's own files, with the commands pointing at this checkout's examples.
        let config = try String(contentsOf: demo.appendingPathComponent("flint.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "../../Plugins/Examples", with: Self.examples.path)
        try FileManager.default.copyItem(at: demo.appendingPathComponent("orders.ndjson"), to: dir.appendingPathComponent("orders.ndjson"))
        let rule = try String(contentsOf: demo.appendingPathComponent("rules/order-audit.yaml"), encoding: .utf8)
        let serve = try await ServeHarness(rules: ["order-audit.yaml": rule], config: config, reuse: dir)

        let audit = dir.appendingPathComponent("audit.jsonl")
        #expect(
            try await ServeHarness.eventually(20) {
                try await Self.runs(serve).filter { $0["status"] == "scheduled" }.count == 2
            }, "two orders of $100 or more end scheduled; log:\n\(serve.log)")
        let runs = try await Self.runs(serve)
        #expect(runs.count == 3)
        #expect(runs.first { $0["event_id"] == "ord-1002" }?["status"] == "not_matched")

        // The action got the rendered send.with, and the planned schedule beside it.
        let lines = try String(contentsOf: audit, encoding: .utf8).split(separator: "\n").map { try JSONParser.parse(String($0)) }
        #expect(lines.count == 2)
        let first = try #require(lines.first { $0["request"]?["order_id"] == "1001" })
        #expect(first["request"] == ["order_id": "1001", "user": "u-42", "total": 129.5, "summary": "u-42 placed order 1001 for 129.5 EUR"])
        // The demo's events carry no timestamp (they happen when read), so the schedule is the run's own.
        let run1001 = try #require(runs.first { $0["event_id"] == "ord-1001" })
        #expect(first["schedule"] != nil && first["schedule"] == run1001["schedule"])

        // A line appended later is followed.
        let handle = try FileHandle(forWritingTo: dir.appendingPathComponent("orders.ndjson"))
        try handle.seekToEnd()
        try handle.write(
            contentsOf: Data(
                #"{"type":"track","event":"Order Placed","messageId":"ord-1004","userId":"u-5","properties":{"order_id":"1004","total":250}}"#
                    .utf8 + [0x0A]))
        try handle.close()
        #expect(try await ServeHarness.eventually(20) { try await Self.runs(serve).filter { $0["status"] == "scheduled" }.count == 3 })

        // flint plugins reads what serve saves a moment after each change.
        #expect(
            try await ServeHarness.eventually(10) {
                let p = try await Self.plugins(serve)
                return p["orders"]?["handled"] == 4 && p["audit-log"]?["handled"] == 3
            })
        let plugins = try await Self.plugins(serve)
        #expect(plugins["orders"]?["state"] == "running")
        #expect(plugins["audit-log"]?["state"] == "running")
        #expect(plugins["webhook"]?["origin"] == "built-in")
        // The plugins' stderr reaches Flint's log with their names.
        #expect(serve.log.contains("plugin.name=orders") && serve.log.contains("ndjson_source: following"))

        await #expect(serve.stop() == 0)
        // After a stop, the statuses say so.
        #expect(try await Self.plugins(serve)["orders"]?["state"] == "stopped")
    }

    /// Flint is killed after committing events and before acknowledging them: the plugin resends
    /// them when both start again, and each event is processed exactly once.
    @Test("killing Flint before its ack makes the plugin resend; nothing is processed twice")
    func unackedEventsAreResentAndDeduplicated() async throws {
        let dir = try CLIHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let count = 3000
        let hold = dir.appendingPathComponent("hold")
        let acked = dir.appendingPathComponent("acked.txt")
        let starts = dir.appendingPathComponent("starts.txt")
        let pidFile = dir.appendingPathComponent("plugin.pid")
        try Data().write(to: hold)
        let config = """
            plugins:
              - name: held
                kind: source
                command: [python3, \(Self.fixtures.path)/held_source.py]
                env:
                  COUNT: "\(count)"
                  HOLD_FILE: \(hold.path)
                  ACKED_FILE: \(acked.path)
                  STARTS_FILE: \(starts.path)
                  PID_FILE: \(pidFile.path)
            """
        // Every event makes one run (not_matched): two runs for one event would show a double.
        let rule = """
            id: held
            when:
              event: Held
              if:
                properties.n: { lt: 0 }
            send:
              campaign_id: c-1
            """
        var serve = try await ServeHarness(rules: ["held.yaml": rule], config: config, reuse: dir)
        let database = serve.database
        #expect(
            try await ServeHarness.eventually(60) { try Self.count(database, "SELECT count(*) FROM events") == count },
            "all events committed; log:\n\(serve.log)")
        await serve.kill9()

        // The plugin now reads the acks that reached its pipe before Flint died, then its stdin ends.
        let pid = try #require(Int32(String(contentsOf: pidFile, encoding: .utf8)))
        try FileManager.default.removeItem(at: hold)
        let exited = await ServeHarness.eventually(20) { kill(pid, 0) != 0 }
        #expect(exited, "the plugin exits when Flint's end of its stdin closes")
        let ackedFirst = Set(try String(contentsOf: acked, encoding: .utf8).split(separator: "\n"))
        #expect(ackedFirst.count < count, "some committed events were not acknowledged when Flint died")

        serve = try await ServeHarness(rules: ["held.yaml": rule], config: config, reuse: dir)
        #expect(
            try await ServeHarness.eventually(60) {
                Set(try String(contentsOf: acked, encoding: .utf8).split(separator: "\n")).count == count
            }, "every event is acknowledged in the end; log:\n\(serve.log)")
        let startLines = try String(contentsOf: starts, encoding: .utf8).split(separator: "\n")
        #expect(startLines.count == 2)
        #expect(startLines.last == "sent \(count - ackedFirst.count)", "the plugin resent exactly what was not acknowledged")

        #expect(try Self.count(database, "SELECT count(*) FROM events") == count)
        #expect(try Self.count(database, "SELECT count(*) FROM runs") == count)
        #expect(try Self.count(database, "SELECT count(*) FROM (SELECT event_seq FROM runs GROUP BY event_seq HAVING count(*) > 1)") == 0)
        let metrics = try await serve.request("GET", "/metrics").body
        let duplicates = metrics.split(separator: "\n").first { $0.hasPrefix("flint_plugin_events_total") && $0.contains("duplicate") && $0.contains("held") }
        #expect(duplicates.flatMap { Int($0.split(separator: " ").last ?? "") } == count - ackedFirst.count, "the resent events were all duplicates")
        await #expect(serve.stop() == 0)
    }

    /// The example action, told to fail: retryable failures are retried until they pass; a failure
    /// that is not retryable fails the run with the plugin's message.
    @Test("an exec action's retryable failures are retried; the others fail the run")
    func actionRetriesAndFailures() async throws {
        let config = """
            plugins:
              - name: notify
                kind: action
                command: [python3, \(Self.examples.path)/file_action.py]
                env: { OUTPUT_FILE: sent.jsonl }
                timeout: 5s
            """
        let rule = """
            id: notify
            when:
              event: Notify
            send:
              action: notify
              with:
                text: "{{ properties.text }}"
                fail_times: "{{ properties.fail_times }}"
                fail: "{{ properties.fail }}"
            """
        let serve = try await ServeHarness(rules: ["notify.yaml": rule], config: config)
        defer { serve.remove() }
        #expect(try await ServeHarness.eventually(20) { try await Self.plugins(serve)["notify"]?["state"] == "running" })
        let batch = """
            {"batch":[
              {"type":"track","event":"Notify","messageId":"n-flaky","userId":"u-1","properties":{"text":"flaky","fail_times":2}},
              {"type":"track","event":"Notify","messageId":"n-refused","userId":"u-2","properties":{"text":"refused","fail":"permanent"}}
            ]}
            """
        #expect(try await serve.request("POST", "/v1/batch", body: batch).status == 200, "Segment's batch endpoint answers 200")
        #expect(
            try await ServeHarness.eventually(30) {
                let runs = try await Self.runs(serve)
                return runs.first { $0["event_id"] == "n-flaky" }?["status"] == "scheduled" && runs.first { $0["event_id"] == "n-refused" }?["status"] == "failed"
            }, "log:\n\(serve.log)")
        let runs = try await Self.runs(serve)
        let refused = try #require(runs.first { $0["event_id"] == "n-refused" })
        #expect(refused["reason"]?.stringValue?.contains("refused: the request asks to fail") == true)
        // Two simulated outages, then the third attempt wrote it, once.
        let outbox = try JSONParser.parse(try await CLIHarness.run(["outbox", "--all", "--json"] + serve.ledgerArgs, cwd: serve.dir).stdout).arrayValue ?? []
        let flaky = try #require(outbox.first { $0["run_id"] == runs.first { $0["event_id"] == "n-flaky" }?["id"] })
        #expect(flaky["attempts"] == 3)
        #expect(flaky["state"] == "sent")
        let written = try String(contentsOf: serve.dir.appendingPathComponent("sent.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(written.count == 1)
        #expect(written.first?.contains(#""text":"flaky""#) == true)
        await #expect(serve.stop() == 0)
    }

    /// Plugins that crash in a loop, never say hello, speak another protocol, exit at once, print
    /// garbage, or take a send and never answer: Flint stays up, backs off, and says so.
    @Test("misbehaving plugins never take Flint down; flint plugins and /readyz report them")
    func misbehavingPluginsAreContained() async throws {
        let script = Self.fixtures.appendingPathComponent("misbehaving.py").path
        // Only the plugins that test a timeout have a short one: on a loaded machine Python can take
        // over a second to start, and the others must not fail their hello for that.
        func plugin(_ name: String, _ kind: String, _ mode: String, timeout: String = "15s") -> String {
            """
              - name: \(name)
                kind: \(kind)
                command: [python3, \(script), \(mode)]
                timeout: \(timeout)
                max_backoff: 1s
            """
        }
        let config =
            "plugins:\n"
            + [
                plugin("crasher", "source", "crash-loop"), plugin("mute", "source", "no-hello", timeout: "1s"), plugin("quitter", "source", "exit-at-once"),
                plugin("alien", "source", "wrong-protocol"), plugin("chatty", "source", "garbage-source"), plugin("stuck", "action", "hang-action", timeout: "3s"),
            ].joined(separator: "\n")
        let rules = [
            "stuck.yaml": """
            id: stuck
            when:
              event: Stuck
            send:
              action: stuck
              with: { user: "{{ userId }}" }
            """,
            "survived.yaml": """
            id: survived
            when:
              event: Garbage Survived
            send:
              campaign_id: c-1
            """,
        ]
        let serve = try await ServeHarness(rules: rules, config: config)
        defer { serve.remove() }

        // The stuck action takes a send and never answers: the run ends unknown, never resent.
        #expect(try await ServeHarness.eventually(20) { try await Self.plugins(serve)["stuck"]?["state"] == "running" })
        let event = #"{"type":"track","event":"Stuck","messageId":"s-1","userId":"u-9"}"#
        #expect(try await serve.request("POST", "/v1/track", body: event).status == 200)

        #expect(
            try await ServeHarness.eventually(40) {
                let p = try await Self.plugins(serve)
                let stuckRun = try await Self.runs(serve).first { $0["event_id"] == "s-1" }
                return (p["crasher"]?["restarts"]?.numberValue ?? 0) >= 2 && (p["quitter"]?["restarts"]?.numberValue ?? 0) >= 2
                    && (p["mute"]?["restarts"]?.numberValue ?? 0) >= 1 && (p["alien"]?["restarts"]?.numberValue ?? 0) >= 1
                    && (p["stuck"]?["restarts"]?.numberValue ?? 0) >= 1 && (p["chatty"]?["garbage_lines"]?.numberValue ?? 0) >= 4
                    && stuckRun?["status"] == "unknown"
            }, "log:\n\(serve.log)")

        let p = try await Self.plugins(serve)
        #expect(p["crasher"]?["last_error"]?.stringValue?.contains("exited with status 1") == true)
        #expect(p["quitter"]?["last_error"]?.stringValue?.contains("exited with status 3 before saying hello") == true)
        #expect(p["mute"]?["last_error"]?.stringValue?.contains("no hello within 1s") == true)
        #expect(p["alien"]?["last_error"]?.stringValue?.contains("protocol 99") == true)
        #expect(p["stuck"]?["last_error"]?.stringValue?.contains("no result for send") == true, "\(p["stuck"] ?? .null)")
        // Garbage is counted, not fatal: the plugin keeps running and its event went through.
        #expect(p["chatty"]?["state"] == "running")
        #expect(p["chatty"]?["restarts"] == 0)
        #expect(try await Self.runs(serve).contains { $0["event_id"] == "garbage-1" })
        let stuckRun = try #require(try await Self.runs(serve).first { $0["event_id"] == "s-1" })
        #expect(stuckRun["reason"]?.stringValue?.contains("not resent automatically") == true)

        // Flint itself is fine: it answers, takes events, and reports the plugins on /readyz.
        #expect(try await serve.request("GET", "/healthz").status == 200)
        #expect(try await serve.request("POST", "/v1/track", body: #"{"type":"track","event":"Other","messageId":"o-1","userId":"u-1"}"#).status == 200)
        let ready = try await serve.request("GET", "/readyz")
        #expect(ready.status == 200)
        let detail = try JSONParser.parse(ready.body)["checks"]?["plugins"]
        #expect(detail?["chatty"]?.stringValue?.hasPrefix("running") == true)
        #expect(detail?["quitter"]?.stringValue?.contains("exited with status 3") == true)
        #expect(serve.log.contains("misbehaving: giving up at once"))

        let table = try await CLIHarness.run(["plugins"] + serve.ledgerArgs, cwd: serve.dir)
        #expect(table.status == 0)
        // The quitter is in backoff or starting again, depending on the instant; its row always
        // says why it keeps restarting.
        let quitterRow = table.stdout.split(separator: "\n").first { $0.hasPrefix("quitter ") }
        #expect(quitterRow?.contains("exited with status 3") == true, "\(table.stdout)")
        // flint status sums them up in one line.
        let status = try await CLIHarness.run(["status"] + serve.ledgerArgs, cwd: serve.dir)
        let pluginsLine = status.stdout.split(separator: "\n").first { $0.hasPrefix("plugins ") }
        #expect(pluginsLine?.contains("chatty running") == true, "\(status.stdout)")
        #expect(pluginsLine?.contains("exited with status 3") == true, "\(status.stdout)")
        await #expect(serve.stop() == 0, "flint serve stops cleanly with its plugins in any state")
    }

    @Test("flint serve refuses a flint.yaml plugin entry with mistakes, every problem named; flint plugins lists them and exits 0")
    func badPluginConfiguration() async throws {
        let dir = try CLIHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try """
        plugins:
          - name: braze
            kind: sink
            command: python3 x.py
            timeout: soon
            env: { TOKEN: "${FLINT_TEST_SURELY_UNSET}" }
        """.write(to: dir.appendingPathComponent("flint.yaml"), atomically: true, encoding: .utf8)
        let result = try await CLIHarness.run(["serve", "--listen", "127.0.0.1:0"], cwd: dir)
        #expect(result.status == 1)
        let listing = try await CLIHarness.run(["plugins"], cwd: dir)
        #expect(listing.status == 0 && listing.stdout.contains("plugins[0].kind: expected source or action"), "\(listing.stdout)")
        for expected in [
            "plugins[0].name: 'braze' is the name of a built-in plugin", "plugins[0].kind: expected source or action",
            "plugins[0].command: expected a list of the program and its arguments, e.g. [python3, x.py]",
            "plugins[0].timeout: \"soon\" is not a duration", "plugins[0].env.TOKEN: ${FLINT_TEST_SURELY_UNSET} is not set",
        ] {
            #expect(result.stderr.contains(expected), "\(expected) in \(result.stderr)")
        }
    }
}
