import FlintPluginAPI
import Foundation
import GRDB
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Accept, then decide, through the real `flint serve` (docs/architecture.md, The pipeline): a 202
/// means the event is in the log; deciding follows it, survives SIGKILL, and is bounded.
@Suite("The pipeline through flint serve", .serialized)
struct PipelineE2ETests {
    /// Three rules matching every event, as the benchmark has.
    static let rules = [
        "a.yaml": "id: a\nwhen: { event: Cart Abandoned }\nsend: { campaign_id: c-a }\nschedule: { after: 1h }\n",
        "b.yaml": "id: b\nwhen: { event: Cart Abandoned }\nsend: { campaign_id: c-b }\nschedule: { after: 2h }\n",
        "c.yaml": "id: c\nwhen: { event: Cart Abandoned }\nsend: { campaign_id: c-c }\nschedule: { after: 3h }\n",
    ]

    static func event(_ i: Int) -> String {
        #"{"type":"track","event":"Cart Abandoned","messageId":"k-\#(i)","userId":"u-\#(i)","properties":{"value":30}}"#
    }

    /// (events, runs, max runs per (event, rule), decided position) read straight from the file.
    static func ledger(_ path: String) throws -> (events: Int, runs: Int, maxPerDecision: Int, decided: Int64) {
        var config = Configuration()
        config.readonly = true
        let db = try DatabaseQueue(path: path, configuration: config)
        return try db.read { db in
            let events = try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0
            let runs = try Int.fetchOne(db, sql: "SELECT count(*) FROM runs") ?? 0
            let most = try Int.fetchOne(db, sql: "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM runs GROUP BY event_seq, rule_id)") ?? 0
            let decided = try Int64.fetchOne(db, sql: "SELECT decided_through FROM decide_position") ?? 0
            return (events, runs, most, decided)
        }
    }

    @Test("SIGKILL between accept and decide: after a restart every acknowledged event is decided exactly once")
    func killBetweenAcceptAndDecide() async throws {
        // Deciding held back, so every 202 is an accepted, undecided event when the kill comes.
        let first = try await ServeHarness(rules: Self.rules, environment: ["FLINT_DECIDE": "off"])
        defer { first.remove() }
        var acknowledged = 0
        for i in 0..<60 {
            let r = try await first.request("POST", "/v1/events", body: Self.event(i))
            if r.status == 202 { acknowledged += 1 }
        }
        #expect(acknowledged == 60)
        let batch = "{\"batch\":[" + (60..<100).map { Self.event($0) }.joined(separator: ",") + "]}"
        #expect(try await first.request("POST", "/v1/batch", body: batch).status == 200)
        var before = try Self.ledger(first.database)
        #expect(before.events == 100 && before.runs == 0 && before.decided == 0)
        let status = try await CLIHarness.run(["status"] + first.ledgerArgs, cwd: first.dir)
        #expect(status.stdout.contains("100 accepted, not decided yet"), "\(status.stdout)")
        await first.kill9()

        // When serve starts again normally on the same files
        let second = try await ServeHarness(rules: Self.rules, reuse: first.dir)
        let decided = try await ServeHarness.eventually(20) { try Self.ledger(second.database).decided == 100 }
        #expect(decided)
        before = try Self.ledger(second.database)
        #expect(before.runs == 300)
        #expect(before.maxPerDecision == 1)
        let after = try await CLIHarness.run(["status", "--json"] + second.ledgerArgs, cwd: second.dir)
        #expect(try JSONParser.parse(after.stdout)["decisions"]?["backlog"] == 0, "\(after.stdout)")
        let metrics = try await second.request("GET", "/metrics")
        #expect(metrics.body.contains("flint_decide_backlog_events 0"), "\(metrics.body)")
        #expect(metrics.body.contains("flint_decide_batch_size"))
        await #expect(second.stop() == 0)
    }

    @Test("past the undecided bound (flint.yaml accept:) the webhook answers 503 with Retry-After on every endpoint; deciding frees it")
    func boundedAccept() async throws {
        let serve = try await ServeHarness(
            rules: Self.rules, config: "accept:\n  max_undecided_events: 3\n  retry_after: 7s\n", environment: ["FLINT_DECIDE": "off"])
        defer { serve.remove() }
        for i in 0..<3 { #expect(try await serve.request("POST", "/v1/events", body: Self.event(i)).status == 202) }
        let identify = #"{"type":"identify","userId":"u-1","messageId":"id-1","traits":{"plan":"pro"}}"#
        for (path, body) in [
            ("/v1/events", Self.event(3)), ("/v1/track", Self.event(3)), ("/v1/identify", identify),
            ("/v1/batch", "{\"batch\":[\(Self.event(3))]}"),
        ] {
            let refused = try await serve.request("POST", path, body: body)
            #expect(refused.status == 503, "\(path): \(refused.status) \(refused.body)")
            #expect(refused.headers["retry-after"] == "7", "\(path)")
            #expect(refused.body.contains("not decided yet"), "\(path): \(refused.body)")
        }
        #expect(try Self.ledger(serve.database).events == 3)
        _ = await serve.stop()

        // Started with deciding on (the bound from the environment now), the backlog clears and
        // events are taken again.
        let again = try await ServeHarness(rules: Self.rules, environment: ["FLINT_MAX_UNDECIDED": "3"], reuse: serve.dir)
        #expect(try await ServeHarness.eventually(20) { try Self.ledger(again.database).decided == 3 })
        #expect(try await again.request("POST", "/v1/events", body: Self.event(3)).status == 202)
        #expect(try await ServeHarness.eventually(20) { try Self.ledger(again.database).runs == 12 })
        await #expect(again.stop() == 0)
    }

    @Test("flint ingest returns once its events are decided")
    func ingestReturnsDecided() async throws {
        let dir = try CLIHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let rules = dir.appendingPathComponent("rules")
        try FileManager.default.createDirectory(at: rules, withIntermediateDirectories: true)
        for (name, text) in Self.rules { try text.write(to: rules.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        let file = dir.appendingPathComponent("events.ndjson")
        try (0..<2500).map { Self.event($0) }.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        let database = dir.appendingPathComponent("flint.db").path
        let r = try await CLIHarness.run(["ingest", file.path, "--database", database, "--rules", rules.path], cwd: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let ledger = try Self.ledger(database)
        #expect(ledger.events == 2500 && ledger.decided == 2500 && ledger.runs == 7500 && ledger.maxPerDecision == 1)
    }
}
