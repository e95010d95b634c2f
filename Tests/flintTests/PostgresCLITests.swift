import FlintPluginAPI
import FlintTesting
import Foundation
import Testing

/// The CLI on a PostgreSQL database (`--database postgres://...`): ingest, runs, status, with the
/// password kept out of every output; a server that is away or refuses the password is one clear line.
@Suite(
    "flint on PostgreSQL (the real binary)",
    .enabled(if: PostgresTestCluster.skipReason == nil, Comment(rawValue: PostgresTestCluster.skipReason ?? "")))
struct PostgresCLITests {
    static let rules = """
        rules:
          - id: cart
            when: { event: Cart Abandoned, if: { properties.cart_value: { gte: 20 } } }
            send: { campaign_id: c-1 }
            schedule: { after: 2h }
        """

    static let events = [
        #"{"event":"Cart Abandoned","messageId":"e-small","userId":"u-1","properties":{"cart_value":12.5}}"#,
        #"{"event":"Cart Abandoned","messageId":"e-planned","userId":"u-2","properties":{"cart_value":59.5}}"#,
    ].joined(separator: "\n")

    struct Workspace {
        var dir: URL
        var url: String
        var args: [String]
    }

    func workspace(url given: String? = nil) async throws -> Workspace {
        let dir = try CLIHarness.temporaryDirectory()
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("rules"), withIntermediateDirectories: true)
        try Self.rules.write(to: dir.appendingPathComponent("rules/r.yaml"), atomically: true, encoding: .utf8)
        try Self.events.write(to: dir.appendingPathComponent("events.ndjson"), atomically: true, encoding: .utf8)
        let url: String
        if let given { url = given } else { url = try await PostgresTestCluster.shared().makeDatabase() }
        return Workspace(dir: dir, url: url, args: ["--database", url, "--rules", dir.appendingPathComponent("rules").path])
    }

    /// The password as typed and as the URL carries it (percent-encoded): neither may be printed.
    func expectNoPassword(_ result: CLIHarness.Result, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let cluster = try PostgresTestCluster.shared()
        let encoded = try #require(URLComponents(string: try workspaceURL(cluster))?.percentEncodedPassword)
        for secret in [cluster.password, encoded] {
            #expect(!result.stdout.contains(secret), "stdout shows the password: \(result.stdout)", sourceLocation: sourceLocation)
            #expect(!result.stderr.contains(secret), "stderr shows the password: \(result.stderr)", sourceLocation: sourceLocation)
        }
    }

    func workspaceURL(_ cluster: PostgresTestCluster) throws -> String { cluster.url(database: "postgres") }

    @Test("ingest, then runs --json and status on a postgres:// URL with a password: the runs are there, the password is printed nowhere")
    func ingestRunsStatus() async throws {
        let w = try await workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }

        let ingest = try await CLIHarness.run(["ingest"] + w.args + ["events.ndjson"], cwd: w.dir)
        #expect(ingest.status == 0, "\(ingest.stderr)")
        #expect(ingest.stdout.contains("events.ndjson: 2 accepted, 0 duplicates, 0 rejected"), "\(ingest.stdout)")
        try expectNoPassword(ingest)

        let runs = try await CLIHarness.run(["runs", "--json"] + w.args, cwd: w.dir)
        #expect(runs.status == 0, "\(runs.stderr)")
        let listed = try JSONParser.parse(runs.stdout).arrayValue ?? []
        #expect(Set(listed.compactMap { $0["event_id"]?.stringValue }) == ["e-small", "e-planned"])
        #expect(listed.first { $0["event_id"] == "e-planned" }?["status"] == "pending")
        #expect(listed.first { $0["event_id"] == "e-small" }?["status"] == "not_matched")
        try expectNoPassword(runs)

        let status = try await CLIHarness.run(["status"] + w.args, cwd: w.dir)
        #expect(status.stdout.contains("postgres://flint:***@127.0.0.1") || status.stdout.contains("postgres://flint@127.0.0.1"), "\(status.stdout)")
        try expectNoPassword(status)
        let json = try await CLIHarness.run(["status", "--json"] + w.args, cwd: w.dir)
        let parsed = try JSONParser.parse(json.stdout)
        #expect(parsed["events"] == 2, "\(json.stdout)")
        try expectNoPassword(json)

        // Ingesting the same file again: duplicates, nothing new.
        let again = try await CLIHarness.run(["ingest"] + w.args + ["events.ndjson"], cwd: w.dir)
        #expect(again.stdout.contains("0 accepted, 2 duplicates"), "\(again.stdout)")
        // Nothing was taken for a file path: no folder named after the URL.
        #expect(try FileManager.default.contentsOfDirectory(atPath: w.dir.path).sorted() == ["events.ndjson", "rules"])
    }

    @Test("two processes opening a new PostgreSQL database at once: one migrates under the advisory lock, both ingest")
    func concurrentMigration() async throws {
        let w = try await workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }
        try #"{"event":"Cart Abandoned","messageId":"e-other","userId":"u-9","properties":{"cart_value":99}}"#
            .write(to: w.dir.appendingPathComponent("other.ndjson"), atomically: true, encoding: .utf8)
        async let first = CLIHarness.run(["ingest"] + w.args + ["events.ndjson"], cwd: w.dir)
        async let second = CLIHarness.run(["ingest"] + w.args + ["other.ndjson"], cwd: w.dir)
        let (a, b) = try await (first, second)
        #expect(a.status == 0, "\(a.stderr)")
        #expect(b.status == 0, "\(b.stderr)")
        let json = try await CLIHarness.run(["status", "--json"] + w.args, cwd: w.dir)
        #expect(try JSONParser.parse(json.stdout)["events"] == 3, "\(json.stdout)")
    }

    @Test("a wrong password: one line naming host, port and database, never the password, and exit 1")
    func wrongPassword() async throws {
        let cluster = try await PostgresTestCluster.shared()
        let url = try await cluster.makeDatabase()
        let wrong = url.replacingOccurrences(of: try #require(URLComponents(string: url)?.percentEncodedPassword), with: "not-the-s3cret")
        let w = try await workspace(url: wrong)
        defer { try? FileManager.default.removeItem(at: w.dir) }
        for command in [["runs"], ["ingest", "events.ndjson"], ["status"]] {
            let r = try await CLIHarness.run([command[0]] + w.args + command.dropFirst(), cwd: w.dir)
            #expect(r.status != 0)
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(r.stderr)")
            #expect(r.stderr.contains("127.0.0.1:\(cluster.port)") && r.stderr.contains("refused user flint"), "\(r.stderr)")
            #expect(!r.stderr.contains("not-the-s3cret") && !r.stdout.contains("not-the-s3cret"), "\(r.stderr)")
        }
    }

    @Test("no server at the URL's port: one line naming where it looked and what to check")
    func serverAway() async throws {
        let port = PostgresTestCluster.freePort()
        let w = try await workspace(url: "postgres://flint:hunter2@127.0.0.1:\(port)/flint?sslmode=disable")
        defer { try? FileManager.default.removeItem(at: w.dir) }
        let r = try await CLIHarness.run(["runs"] + w.args, cwd: w.dir)
        #expect(r.status == 1)
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(r.stderr.contains("cannot reach PostgreSQL at 127.0.0.1:\(port), database flint"), "\(r.stderr)")
        #expect(!r.stderr.contains("hunter2"), "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: w.dir.path).sorted() == ["events.ndjson", "rules"])
    }

    @Test("a postgres:// URL that does not parse is refused with the password hidden, never taken as a file path")
    func badURL() async throws {
        let w = try await workspace(url: "postgres://flint:hunter2@127.0.0.1:5432")
        defer { try? FileManager.default.removeItem(at: w.dir) }
        let r = try await CLIHarness.run(["ingest"] + w.args + ["events.ndjson"], cwd: w.dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("names no database"), "\(r.stderr)")
        #expect(r.stderr.contains("postgres://flint:***@127.0.0.1:5432"), "\(r.stderr)")
        #expect(!r.stderr.contains("hunter2"), "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: w.dir.path).sorted() == ["events.ndjson", "rules"])
    }
}

/// `flint serve` on PostgreSQL, with the server going away and coming back.
@Suite(
    "flint serve on PostgreSQL (the real binary)",
    .enabled(if: PostgresTestCluster.skipReason == nil, Comment(rawValue: PostgresTestCluster.skipReason ?? "")))
struct PostgresServeTests {
    static let rules = [
        "ship.yaml": """
        id: ship
        when: { event: Order Shipped }
        send: { campaign_id: camp-ship }
        schedule: { after: 1h }
        """
    ]

    @Test("serve on PostgreSQL schedules through the sandbox; while the database is away it answers 503 and /readyz says where, then takes events again")
    func databaseAway() async throws {
        // A cluster of its own: this test stops it.
        let cluster = try await PostgresTestCluster.makePrivate()
        let url = try await cluster.makeDatabase()
        let serve = try await ServeHarness(rules: Self.rules, database: url)
        defer { serve.remove() }

        let first = try await serve.request("POST", "/v1/events", body: #"{"event":"Order Shipped","messageId":"s-1","userId":"u-1"}"#)
        #expect(first.status == 202)
        let scheduled = try await ServeHarness.eventually(20) {
            let runs = try await CLIHarness.run(["runs", "--json"] + serve.ledgerArgs, cwd: serve.dir)
            return (try JSONParser.parse(runs.stdout).arrayValue ?? []).first?["status"] == "scheduled"
        }
        #expect(scheduled, "the run was sent to the sandbox and scheduled")

        // When the database goes away
        try await cluster.stop()
        let refused = try await ServeHarness.eventually(20) {
            try await serve.request("POST", "/v1/events", body: #"{"event":"Order Shipped","messageId":"s-2","userId":"u-2"}"#).status == 503
        }
        #expect(refused, "accepting answers 503 while nothing can be stored")
        let ready = try await serve.request("GET", "/readyz")
        #expect(ready.status == 503)
        #expect(ready.body.contains("127.0.0.1:\(cluster.port)"), "\(ready.body)")

        // Then it comes back, and so does serve
        try await cluster.start()
        let accepted = try await ServeHarness.eventually(20) {
            try await serve.request("POST", "/v1/events", body: #"{"event":"Order Shipped","messageId":"s-3","userId":"u-3"}"#).status == 202
        }
        #expect(accepted)
        let status = try await CLIHarness.run(["status", "--json"] + serve.ledgerArgs, cwd: serve.dir)
        #expect(try JSONParser.parse(status.stdout)["events"] == 2, "\(status.stdout)")

        let encoded = try #require(URLComponents(string: url)?.percentEncodedPassword)
        for text in [serve.bannerText, serve.log, ready.body, status.stdout, status.stderr] {
            #expect(!text.contains(cluster.password) && !text.contains(encoded), "the password is printed: \(text)")
        }
        #expect(await serve.stop() == 0)
    }
}
