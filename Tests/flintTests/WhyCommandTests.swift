import FlintPluginAPI
import Foundation
import GRDB
import Testing

/// `flint why` through the real binary, over a ledger `flint ingest` built: every run named with its
/// status word, a retry command that works, and a "no runs" message that is true in every case.
@Suite("flint why (the real binary)")
struct WhyCommandTests {
    static let rules = """
        rules:
          - id: cart-abandoned
            when: { event: Cart Abandoned, if: { properties.cart_value: { gte: 20 } } }
            send: { campaign_id: c-1 }
            schedule: { after: 2h }
          - id: order-shipped
            when: { event: Order Shipped }
            send: { campaign_id: c-2 }
          - id: order-shipped-sms
            when: { event: Order Shipped }
            send: { campaign_id: c-3 }
          - id: winback-cancelled
            when: { event: Subscription Cancelled }
            send: { campaign_id: c-4 }
        """

    static let events = [
        // Run 1, not_matched: no outbox row, so outbox ids lag run ids from here on.
        #"{"event":"Cart Abandoned","messageId":"m-small","userId":"u-0","properties":{"cart_value":5}}"#,
        #"{"event":"Cart Abandoned","messageId":"m-cart","userId":"u-1","properties":{"cart_value":50}}"#,
        #"{"event":"Order Shipped","messageId":"od-1","userId":"u-2"}"#,
        #"{"type":"identify","messageId":"i-1","userId":"u-3","traits":{"plan":"pro"}}"#,
        #"{"type":"identify","messageId":"i-2","userId":"u-3","traits":{"plan":"team"}}"#,
        #"{"event":"Page Viewed","messageId":"pv-1","userId":"u-4"}"#,
        #"{"event":"Page Viewed","messageId":"pv-2","userId":"u-4"}"#,
    ].joined(separator: "\n")

    struct Workspace {
        var dir: URL
        var args: [String]
        var database: String

        func why(_ arguments: [String]) async throws -> CLIHarness.Result {
            try await CLIHarness.run(["why"] + arguments + args, cwd: dir)
        }
    }

    func workspace() async throws -> Workspace {
        let dir = try CLIHarness.temporaryDirectory()
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("rules"), withIntermediateDirectories: true)
        try Self.rules.write(to: dir.appendingPathComponent("rules/r.yaml"), atomically: true, encoding: .utf8)
        try Self.events.write(to: dir.appendingPathComponent("events.ndjson"), atomically: true, encoding: .utf8)
        let database = dir.appendingPathComponent("flint.db").path
        let w = Workspace(dir: dir, args: ["--database", database, "--rules", dir.appendingPathComponent("rules").path], database: database)
        let ingest = try await CLIHarness.run(["ingest"] + w.args + ["events.ndjson"], cwd: dir)
        #expect(ingest.status == 0, "\(ingest.stdout)\(ingest.stderr)")
        return w
    }

    func runs(_ w: Workspace, _ extra: [String]) async throws -> [JSONValue] {
        let r = try await CLIHarness.run(["runs", "--json"] + w.args + extra, cwd: w.dir)
        return try JSONParser.parse(r.stdout).arrayValue ?? []
    }

    func id(_ run: JSONValue?) -> Int { Int(run?["id"]?.numberValue ?? -1) }

    @Test("each run is named with the status word flint runs --status takes")
    func statusWords() async throws {
        let w = try await workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }
        let cart = await id(try runs(w, ["--user", "u-1"]).first)
        let r = try await w.why(["--user", "u-1"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("run \(cart) (cart-abandoned, pending) for 'Cart Abandoned' (m-cart)"), "\(r.stdout)")
        #expect(r.stdout.contains("planned for "), "\(r.stdout)")
        // The first outbox row: the not_matched run before it has none, so its id is not the run's.
        #expect(r.stdout.contains("waiting in the outbox (row 1) to be sent to Braze"), "\(r.stdout)")
        let small = try await w.why(["--user", "u-0"])
        #expect(small.stdout.contains("(cart-abandoned, not_matched)"), "\(small.stdout)")
        #expect(small.stdout.contains("not sent: the condition properties.cart_value gte 20: saw 5 did not hold."), "\(small.stdout)")
    }

    @Test("--rule of another rule says which runs the user does have, not that nothing triggered a rule")
    func otherRule() async throws {
        let w = try await workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }
        let cart = await id(try runs(w, ["--user", "u-1"]).first)
        let r = try await w.why(["--user", "u-1", "--rule", "winback-cancelled"])
        #expect(r.status == 0)
        #expect(!r.stdout.contains("triggered no rule"), "\(r.stdout)")
        #expect(r.stdout.contains("no runs for user u-1 and rule winback-cancelled"), "\(r.stdout)")
        #expect(r.stdout.contains("their events made run \(cart) (cart-abandoned, pending), none of rule winback-cancelled"), "\(r.stdout)")
        #expect(r.stdout.contains("rule winback-cancelled reacts to 'Subscription Cancelled', and this user has no such event"), "\(r.stdout)")
    }

    @Test("--event shows every run the event made; filtered away by --rule or asked for another user, it says what exists")
    func byEvent() async throws {
        let w = try await workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }
        let made = try await runs(w, ["--event", "od-1"]).sorted { id($0) < id($1) }
        #expect(made.count == 2)
        let (a, b) = (id(made.first), id(made.last))

        let all = try await w.why(["--user", "u-2", "--event", "od-1"])
        #expect(all.stdout.contains("run \(a) (order-shipped, pending)"), "\(all.stdout)")
        #expect(all.stdout.contains("run \(b) (order-shipped-sms, pending)"), "\(all.stdout)")

        let other = try await w.why(["--user", "u-2", "--event", "od-1", "--rule", "winback-cancelled"])
        #expect(!other.stdout.contains("triggered no rule"), "\(other.stdout)")
        #expect(
            other.stdout.contains("event od-1 made runs \(a) (order-shipped, pending) and \(b) (order-shipped-sms, pending), none of rule winback-cancelled"),
            "\(other.stdout)")
        #expect(other.stdout.contains("reacts to 'Subscription Cancelled', not 'Order Shipped'"), "\(other.stdout)")

        let wrongUser = try await w.why(["--user", "u-1", "--event", "od-1"])
        #expect(wrongUser.stdout.contains("event od-1 is from user u-2, not u-1: flint why --user u-2 --event od-1"), "\(wrongUser.stdout)")

        let missing = try await w.why(["--user", "u-2", "--event", "od-404"])
        #expect(missing.stdout.contains("Flint has no event od-404"), "\(missing.stdout)")
    }

    @Test("no runs: no events, only identify calls, or events no rule reacts to, each said as it is")
    func noRuns() async throws {
        let w = try await workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }
        let identify = try await w.why(["--user", "u-3"])
        #expect(identify.stdout.contains("Flint has 2 identify calls from this user, no track events"), "\(identify.stdout)")
        #expect(!identify.stdout.contains("()"), "\(identify.stdout)")

        let untriggered = try await w.why(["--user", "u-4"])
        #expect(
            untriggered.stdout.contains(
                "their events (Page Viewed ×2) triggered no rule; the rules react to: Cart Abandoned, Order Shipped, Subscription Cancelled"),
            "\(untriggered.stdout)")

        let nobody = try await w.why(["--user", "u-404"])
        #expect(nobody.stdout.contains("Flint has no event from this user"), "\(nobody.stdout)")

        let json = try await w.why(["--user", "u-404", "--json"])
        #expect(json.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        #expect(json.stderr.contains("Flint has no event from this user"), "\(json.stderr)")
    }

    @Test("--rule with an unknown id is an error that lists the rules loaded and the ones the ledger knows")
    func unknownRule() async throws {
        let w = try await workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }
        // A rule the ledger knows but the folder no longer has is still accepted.
        try Self.rules.replacingOccurrences(of: "winback-cancelled", with: "winback-v2")
            .write(to: w.dir.appendingPathComponent("rules/r.yaml"), atomically: true, encoding: .utf8)
        let known = try await w.why(["--user", "u-1", "--rule", "winback-cancelled"])
        #expect(known.status == 0, "\(known.stderr)")

        let r = try await w.why(["--user", "u-1", "--rule", "cart"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("error: no rule 'cart'; did you mean cart-abandoned?"), "\(r.stderr)")
        #expect(r.stderr.contains("cart-abandoned, order-shipped, order-shipped-sms, winback-v2"), "\(r.stderr)")
        #expect(r.stderr.contains("rules the ledger has runs or versions of: cart-abandoned, order-shipped, order-shipped-sms, winback-cancelled"), "\(r.stderr)")
    }

    @Test("an unknown outcome prints the outbox retry command with the outbox row's id, and that command works")
    func retryCommand() async throws {
        let w = try await workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }
        let run = await id(try runs(w, ["--user", "u-1"]).first)
        // What the dispatcher writes after a timeout: the row and the run become unknown.
        let queue = try DatabaseQueue(path: w.database)
        let outboxId = try await queue.write { db in
            try db.execute(sql: "UPDATE outbox SET state = 'unknown', last_error = 'timeout' WHERE run_id = ?", arguments: [run])
            try db.execute(
                sql: "UPDATE runs SET status = 'unknown', reason = ? WHERE id = ?",
                arguments: ["sent, outcome unknown: no reply within 10s; not resent automatically", run])
            return try Int.fetchOne(db, sql: "SELECT id FROM outbox WHERE run_id = ?", arguments: [run])
        }
        try queue.close()
        let outbox = try #require(outboxId)
        #expect(outbox != run, "the test needs an outbox id that differs from the run id")

        let r = try await w.why(["--user", "u-1"])
        #expect(r.stdout.contains("(cart-abandoned, unknown)"), "\(r.stdout)")
        #expect(r.stdout.contains("then flint outbox retry \(outbox) if it is missing"), "\(r.stdout)")
        #expect(!r.stdout.contains("flint outbox retry \(run) "), "\(r.stdout)")
        let json = try await JSONParser.parse(try w.why(["--user", "u-1", "--json"]).stdout)
        #expect(json.arrayValue?.first?["outbox_id"] == .number(Double(outbox)))

        let retry = try await CLIHarness.run(["outbox", "retry", String(outbox)] + w.args, cwd: w.dir)
        #expect(retry.status == 0, "\(retry.stderr)")
        #expect(retry.stdout.contains("queued again: \(outbox)"), "\(retry.stdout)")
    }
}
