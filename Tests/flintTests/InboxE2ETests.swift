import FlintPluginAPI
import Foundation
import Testing

/// The watched folder and rejected input under a real `flint serve`: what the banner promises is
/// what happens, and `flint events --rejected` points at the file line or request item.
@Suite("flint serve: the inbox's failed files and the source of rejected events (the real binary)")
struct InboxE2ETests {
    static let rules = """
        rules:
          - id: order-placed
            when: { event: Order Placed }
            send: { campaign_id: c-1 }
        """

    @Test("a file with one good and two bad lines: the good event is committed, the file is in failed/ with lines 2 and 3, rejected events name FILE:LINE")
    func failedFile() async throws {
        let serve = try await ServeHarness(rules: ["r.yaml": Self.rules])
        defer { serve.remove() }
        defer { serve.terminate() }
        let inbox = serve.inbox.path
        #expect(
            serve.bannerText.contains("files with bad lines go to \(inbox)/failed/ with NAME.errors.json, their good lines are ingested"),
            "\(serve.bannerText)")

        try """
            {"event":"Order Placed","messageId":"o-1","userId":"u-1"}
            {"event":"Order Placed","messageId":"o-2"}
            {"event":"Order Placed",

            """.write(toFile: inbox + "/orders.ndjson.tmp", atomically: false, encoding: .utf8)
        try FileManager.default.moveItem(atPath: inbox + "/orders.ndjson.tmp", toPath: inbox + "/orders.ndjson")
        try "export runs on Fridays\n".write(toFile: inbox + "/notes.txt", atomically: false, encoding: .utf8)

        let failed = await ServeHarness.eventually { FileManager.default.fileExists(atPath: inbox + "/failed/orders.ndjson") }
        #expect(failed, "orders.ndjson is in failed/; log:\n\(serve.log)")
        let report = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: inbox + "/failed/orders.ndjson.errors.json"))))
        let entries = report.arrayValue ?? []
        #expect(entries.map { $0["line"] } == [2, 3], "\(report.prettyJSON())")
        #expect(entries.first?["errors"]?.arrayValue?.first?.stringValue?.contains("userId") == true)
        #expect(entries.last?["errors"]?.arrayValue?.first?.stringValue?.hasPrefix("line 3, column") == true)

        let events = try await CLIHarness.run(["events", "--json"] + serve.ledgerArgs, cwd: serve.dir)
        let ids = (try JSONParser.parse(events.stdout).arrayValue ?? []).compactMap { $0["id"]?.stringValue }
        #expect(ids == ["o-1"], "the good line is committed: \(events.stdout)")

        let rejected = try await CLIHarness.run(["events", "--rejected"] + serve.ledgerArgs, cwd: serve.dir)
        #expect(rejected.status == 0)
        #expect(rejected.stdout.contains("\(inbox)/orders.ndjson:2 "), "\(rejected.stdout)")
        #expect(rejected.stdout.contains("\(inbox)/orders.ndjson:3 "), "\(rejected.stdout)")
        let json = try JSONParser.parse(try await CLIHarness.run(["events", "--rejected", "--json"] + serve.ledgerArgs, cwd: serve.dir).stdout)
        let origins = (json.arrayValue ?? []).compactMap { $0["origin"] }
        #expect(Set(origins) == [["file": .string(inbox + "/orders.ndjson"), "line": 2], ["file": .string(inbox + "/orders.ndjson"), "line": 3]])
        #expect((json.arrayValue ?? []).allSatisfy { $0["source"] == "inbox" && $0["index"] != nil })

        let logged = await ServeHarness.eventually { serve.log.contains("notes.txt") }
        #expect(logged, "notes.txt is reported; log:\n\(serve.log)")
        let notes = serve.log.split(separator: "\n").filter { $0.contains("notes.txt") }
        #expect(notes.count == 1, "\(notes)")
        #expect(notes.first?.contains("is not read") == true, "\(notes)")
        #expect(FileManager.default.fileExists(atPath: inbox + "/notes.txt"))
    }

    @Test("an HTTP item rejected in /v1/batch is shown as POST /v1/batch #INDEX, the 0-based index of the reply; NDJSON sent as JSON gets a hint")
    func httpRejected() async throws {
        let serve = try await ServeHarness(rules: ["r.yaml": Self.rules])
        defer { serve.remove() }
        defer { serve.terminate() }
        let batch = try await serve.request(
            "POST", "/v1/batch",
            body: #"{"batch":[{"type":"track","event":"Order Placed","userId":"u-1"},{"type":"track","event":"Order Placed","userId":"u-2"},{"type":"track","event":"Order Placed"}]}"#)
        #expect(batch.status == 200)
        #expect(batch.body.contains(#""index":2"#), "\(batch.body)")

        let rejected = try await CLIHarness.run(["events", "--rejected"] + serve.ledgerArgs, cwd: serve.dir)
        #expect(rejected.stdout.contains("POST /v1/batch #2 "), "\(rejected.stdout)")
        #expect(rejected.stdout.contains("#N is the 0-based index in the request"), "\(rejected.stdout)")
        let json = try JSONParser.parse(try await CLIHarness.run(["events", "--rejected", "--json"] + serve.ledgerArgs, cwd: serve.dir).stdout)
        #expect(json.arrayValue?.first?["origin"] == ["endpoint": "/v1/batch", "index": 2])
        #expect(json.arrayValue?.first?["index"] == 2)

        let ndjson = try await serve.request(
            "POST", "/v1/events", body: #"{"event":"Order Placed","userId":"u-1"}"# + "\n" + #"{"event":"Order Placed","userId":"u-2"}"#)
        #expect(ndjson.status == 400)
        #expect(ndjson.body.contains("this looks like NDJSON (one event per line): send it with Content-Type: application/x-ndjson"), "\(ndjson.body)")
    }
}
