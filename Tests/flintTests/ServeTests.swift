import FlintPluginAPI
import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// `flint serve` through its real socket, folder and signals.
@Suite("flint serve (the real binary)", .serialized)
struct ServeTests {
    static let cartRule = """
        id: cart
        when: { event: Cart Abandoned, if: { properties.value: { gte: 20 } } }
        send: { campaign_id: c-1, trigger_properties: { value: "{{ properties.value }}" } }
        schedule: { after: 1h }
        """

    func runs(_ serve: ServeHarness, _ extra: [String] = []) async throws -> [JSONValue] {
        let r = try await CLIHarness.run(["runs", "--json", "--limit", "100000"] + serve.ledgerArgs + extra, cwd: serve.dir)
        guard r.status == 0 else { return [] }
        return (try? JSONParser.parse(r.stdout).arrayValue ?? []) ?? []
    }

    @Test("serve says where it listens, takes an event over HTTP and a file from the inbox, and both become runs")
    func endToEnd() async throws {
        let serve = try await ServeHarness(rules: ["cart.yaml": Self.cartRule])
        defer { serve.remove() }
        #expect(serve.bannerText.contains("database  \(serve.database)"))
        #expect(serve.bannerText.contains("rules     1 from"))

        let posted = try await serve.request(
            "POST", "/v1/events", body: #"{"event":"Cart Abandoned","messageId":"h-1","userId":"u-1","properties":{"value":30}}"#)
        #expect(posted.status == 202)
        #expect(posted.body == #"{"accepted":1,"duplicates":0,"rejected":[]}"#)
        // The 202 came after the event was appended to the log; the decider follows it shortly.
        let decided = try await ServeHarness.eventually {
            try await runs(serve).contains { $0["event_id"] == "h-1" && ($0["status"] == "pending" || $0["status"] == "scheduled") }
        }
        #expect(decided)

        // A file dropped into the inbox (written elsewhere, then moved in) shows up the same way.
        let staged = serve.dir.appendingPathComponent("drop.ndjson")
        try #"{"event":"Cart Abandoned","messageId":"f-1","userId":"u-2","properties":{"value":40}}"#.write(to: staged, atomically: true, encoding: .utf8)
        try FileManager.default.moveItem(at: staged, to: serve.inbox.appendingPathComponent("drop.ndjson"))
        let arrived = try await ServeHarness.eventually { try await runs(serve).contains { $0["event_id"] == "f-1" } }
        #expect(arrived)
        #expect(FileManager.default.fileExists(atPath: serve.inbox.appendingPathComponent("processed/drop.ndjson").path))

        let health = try await serve.request("GET", "/healthz")
        #expect(health.status == 200)
        let ready = try await serve.request("GET", "/readyz")
        #expect(ready.status == 200)
        #expect(ready.body.contains(#""ready":true"#))
        let metrics = try await serve.request("GET", "/metrics")
        #expect(metrics.body.contains(#"flint_events_accepted_total{source="webhook"} 1"#), "\(metrics.body)")
        #expect(metrics.body.contains(#"flint_events_accepted_total{source="inbox"} 1"#))
        #expect(metrics.body.contains(#"flint_runs_total{status="pending"} 2"#))
        #expect(metrics.body.contains("flint_ingest_latency_seconds_bucket"))
        await #expect(serve.stop() == 0)
    }

    @Test("a good rules change is picked up; a broken one is refused, reported, and the old rules keep matching")
    func reload() async throws {
        let serve = try await ServeHarness(rules: ["cart.yaml": Self.cartRule])
        defer { serve.remove() }
        // Given a new rule file
        try """
            id: welcome
            when: { event: Signed Up }
            send: { campaign_id: c-2 }
            """.write(to: serve.rulesDir.appendingPathComponent("welcome.yaml"), atomically: true, encoding: .utf8)
        let picked = try await ServeHarness.eventually {
            _ = try await serve.request("POST", "/v1/events", body: #"{"event":"Signed Up","userId":"u-9"}"#)
            return try await runs(serve, ["--rule", "welcome"]).count > 0
        }
        #expect(picked, "the new rule was not loaded")

        // When the cart rule is broken
        try Self.cartRule.replacingOccurrences(of: "gte: 20", with: "greater: 20")
            .write(to: serve.rulesDir.appendingPathComponent("cart.yaml"), atomically: true, encoding: .utf8)
        let refused = try await ServeHarness.eventually {
            try await serve.request("GET", "/readyz").body.contains("unknown operator 'greater'")
        }
        #expect(refused, "the broken set was not reported on /readyz")
        // Then the old cart rule still matches
        let posted = try await serve.request("POST", "/v1/events", body: #"{"event":"Cart Abandoned","messageId":"after-break","userId":"u-3","properties":{"value":25}}"#)
        #expect(posted.status == 202)
        let run = try await #require(try runs(serve, ["--event", "after-break"]).first)
        #expect(run["status"] == "pending" || run["status"] == "scheduled")
        #expect(run["rule_id"] == "cart")
        let status = try await CLIHarness.run(["status"] + serve.ledgerArgs, cwd: serve.dir)
        #expect(status.stdout.contains("errors (flint rules check "), "\(status.stdout)")
        #expect(status.stdout.contains("needs attention:"), "\(status.stdout)")
        await #expect(serve.stop() == 0)
    }

    @Test("SIGTERM under load: every event that got a 202 is in the database afterwards, and serve exits 0")
    func gracefulShutdown() async throws {
        let serve = try await ServeHarness(rules: ["cart.yaml": Self.cartRule])
        defer { serve.remove() }
        let acknowledged = AckLog()
        // Given 8 clients posting as fast as they can
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<8 {
                group.addTask {
                    for i in 0..<2000 {
                        let id = "load-\(client)-\(i)"
                        let body = #"{"event":"Cart Abandoned","messageId":"\#(id)","userId":"u-\#(i % 50)","properties":{"value":30}}"#
                        guard let r = try? await serve.request("POST", "/v1/events", body: body) else { return }
                        if r.status == 202 { acknowledged.add(id) } else { return }
                    }
                }
            }
            // When SIGTERM arrives mid-load
            group.addTask {
                _ = await ServeHarness.eventually(30) { acknowledged.count >= 300 }
                kill(serve.process.processIdentifier, SIGTERM)
            }
            try await group.waitForAll()
        }
        await serve.process.exited()
        #expect(serve.process.terminationStatus == 0)
        // Then every acknowledged event is durable
        let ids = try await CLIHarness.run(["events", "--json", "--limit", "100000"] + serve.ledgerArgs, cwd: serve.dir)
        let stored = Set((try JSONParser.parse(ids.stdout).arrayValue ?? []).compactMap { $0["id"]?.stringValue })
        let acked = acknowledged.all
        #expect(acked.count >= 300)
        let missing = acked.subtracting(stored)
        #expect(missing.isEmpty, "\(missing.count) acknowledged events are missing, e.g. \(missing.prefix(3))")
    }

    @Test("Segment's own Python SDK, pointed at flint serve with the token as write key, is accepted and its calls become runs",
        .enabled(if: FileManager.default.isExecutableFile(atPath: ServeTests.python), "needs .venv with segment-analytics-python (bash .ci/run makes it)"))
    func segmentSDK() async throws {
        let serve = try await ServeHarness(
            rules: ["cart.yaml": Self.cartRule, "profile.yaml": "id: ten\nwhen: { event: Trial Started }\nsend: { campaign_id: c-3 }\nschedule: { at: \"10:00\" }\n"],
            environment: ["FLINT_WEBHOOK_TOKEN": "wk-test-123"])
        defer { serve.remove() }
        let script = """
            import segment.analytics as analytics
            analytics.write_key = 'wk-test-123'
            analytics.host = '\(serve.base)'
            analytics.sync_mode = True
            errors = []
            analytics.on_error = lambda e, batch: errors.append(str(e))
            analytics.identify('u-py', {'plan': 'pro'}, context={'timezone': 'Asia/Tokyo'})
            analytics.track('u-py', 'Cart Abandoned', {'value': 59.5})
            analytics.track('u-py', 'Trial Started', {})
            analytics.flush()
            assert not errors, errors
            # Without the write key, the same call is refused.
            import urllib.request, urllib.error
            try:
                urllib.request.urlopen(urllib.request.Request('\(serve.base)/v1/track', data=b'{"event":"Cart Abandoned","userId":"u-x"}', headers={'Content-Type': 'application/json'}))
                raise SystemExit('an unauthenticated call was accepted')
            except urllib.error.HTTPError as e:
                assert e.code == 401, e.code
            print('sent')
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python)
        process.arguments = ["-c", script]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        await process.exited()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(text)")
        let cart = try await #require(try runs(serve, ["--rule", "cart"]).first)
        #expect(cart["status"] == "pending" || cart["status"] == "scheduled")
        #expect(cart["request"]?["recipients"] == [["external_user_id": "u-py", "trigger_properties": ["value": 59.5]]])
        // The identify call's zone applies to the later track call: 10:00 in Tokyo.
        let ten = try await #require(try runs(serve, ["--rule", "ten"]).first)
        #expect(ten["trace"]?["zone"] == "Asia/Tokyo")
        await #expect(serve.stop() == 0)
    }

    static var python: String { CLIHarness.root.appendingPathComponent(".venv/bin/python").path }
}

final class AckLog: @unchecked Sendable {
    private let lock = NSLock()
    private var ids = Set<String>()
    func add(_ id: String) { lock.lock(); ids.insert(id); lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return ids.count }
    var all: Set<String> { lock.lock(); defer { lock.unlock() }; return ids }
}
