@testable import FlintConsole
import FlintCore
import FlintPluginAPI
import FlintStore
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The console's routes against a real SQLite store, through Hummingbird's test client.
@Suite("Console routes")
struct ConsoleRouterTests {
    static let token = "console-test-token-1"
    static let hostile = #"<script>alert('x')</script>"><img src=x onerror=alert(1)>"#

    /// A store with one event whose properties carry script, and 3 runs of it.
    static func store() async throws -> (SQLiteStateStore, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flint-console-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let store = try SQLiteStateStore(path: dir.appendingPathComponent("flint.db").path)
        let t0 = Date(timeIntervalSince1970: 1_780_000_000)
        try await store.write { tx in
            for i in 0..<3 {
                let id = "m-\(i)"
                let event = Event(
                    type: .track, name: "Cart Abandoned", messageId: id, userId: "u-\(Self.hostile)", anonymousId: nil, timestamp: t0,
                    raw: [
                        "type": "track", "event": "Cart Abandoned", "messageId": .string(id), "userId": .string("u-\(Self.hostile)"),
                        "timestamp": .string(Timestamp.formatUTC(t0)), "properties": ["note": .string(Self.hostile)],
                    ])
                guard let seq = try tx.insertEvent(event, source: "test", receivedAt: t0.addingTimeInterval(Double(i))) else { continue }
                _ = try tx.insertRun(
                    NewRun(
                        eventSeq: seq, eventId: id, ruleId: "cart", ruleVersion: "v1", user: "u-\(Self.hostile)", status: .failed,
                        reason: "failed: \(Self.hostile)", action: "braze", sendAt: nil, consumedAt: nil, createdAt: t0.addingTimeInterval(Double(i))))
            }
        }
        return (store, dir)
    }

    static func console(_ store: SQLiteStateStore, tokens: [String]) -> Console {
        Console(
            store: store, settings: ConsoleSettings(host: "127.0.0.1", port: 0, tokens: tokens, companyZone: "UTC"),
            providers: ConsoleProviders(
                status: { ["attention": [], "ok": true] },
                why: { _, _, _, _ in WhyAnswer(json: [], message: "no event from this user") },
                rules: { RulesAnswer(rules: [], errors: []) }))
    }

    static func checkHeaders(_ response: TestResponse, _ what: String) {
        #expect(response.headers[.contentSecurityPolicy] == ConsoleMiddleware.csp, "\(what)")
        #expect(response.headers[.xContentTypeOptions] == "nosniff", "\(what)")
        #expect(response.headers[.referrerPolicy] == "no-referrer", "\(what)")
    }

    @Test("with a token configured, the API answers 401 without one, and every response carries the security headers")
    func apiNeedsToken() async throws {
        let (store, dir) = try await Self.store()
        defer { try? FileManager.default.removeItem(at: dir) }
        let app = Application(router: Self.console(store, tokens: [Self.token]).makeRouter())
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/runs", method: .get) { response in
                #expect(response.status == .unauthorized)
                Self.checkHeaders(response, "401")
                let body = try JSONParser.parse(String(buffer: response.body))
                #expect(body["error"]?.stringValue == "missing or invalid credentials")
                #expect(body["hint"]?.stringValue?.contains("Authorization: Bearer") == true)
            }
            try await client.execute(uri: "/api/v1/runs", method: .get, headers: [.authorization: "Bearer \(Self.token)"]) { response in
                #expect(response.status == .ok)
                Self.checkHeaders(response, "200")
                let runs = try JSONParser.parse(String(buffer: response.body))
                #expect(runs.arrayValue?.count == 3)
            }
            try await client.execute(uri: "/api/v1/nothing", method: .get, headers: [.authorization: "Bearer \(Self.token)"]) { response in
                #expect(response.status == .notFound)
                Self.checkHeaders(response, "404")
                #expect(String(buffer: response.body).contains("\"hint\""))
            }
            try await client.execute(uri: "/api/v1/runs?status=bogus", method: .get, headers: [.authorization: "Bearer \(Self.token)"]) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("status 'bogus' is not one of"))
            }
            try await client.execute(uri: "/api/v1/runs/999", method: .get, headers: [.authorization: "Bearer \(Self.token)"]) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains("no run 999"))
            }
        }
    }

    @Test("the login form sets an HttpOnly, SameSite=Strict cookie that is not the token, and the pages open with it")
    func login() async throws {
        let (store, dir) = try await Self.store()
        defer { try? FileManager.default.removeItem(at: dir) }
        let app = Application(router: Self.console(store, tokens: [Self.token]).makeRouter())
        try await app.test(.router) { client in
            try await client.execute(uri: "/ui/runs?status=failed", method: .get) { response in
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "/ui/login?next=%2Fui%2Fruns%3Fstatus%3Dfailed")
                Self.checkHeaders(response, "redirect")
            }
            try await client.execute(uri: "/ui/login", method: .get) { response in
                #expect(response.status == .ok)
                #expect(!String(buffer: response.body).contains(Self.token))
            }
            try await client.execute(
                uri: "/ui/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "token=wrong&next=%2Fui%2Fruns")
            ) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.setCookie] == nil)
            }
            var cookie = ""
            try await client.execute(
                uri: "/ui/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "token=\(Self.token)&next=%2Fui%2Fruns")
            ) { response in
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "/ui/runs")
                let set = response.headers[.setCookie] ?? ""
                #expect(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"))
                #expect(!set.contains(Self.token))
                cookie = String(set.prefix { $0 != ";" })
            }
            try await client.execute(uri: "/ui/runs", method: .get, headers: [.cookie: cookie]) { response in
                #expect(response.status == .ok)
                Self.checkHeaders(response, "page")
                #expect(!String(buffer: response.body).contains(Self.token))
            }
            try await client.execute(uri: "/api/v1/runs", method: .get, headers: [.cookie: cookie]) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test("values from events are text on every page: no script or broken-out attribute reaches the markup")
    func escapedPages() async throws {
        let (store, dir) = try await Self.store()
        defer { try? FileManager.default.removeItem(at: dir) }
        let app = Application(router: Self.console(store, tokens: []).makeRouter())
        try await app.test(.router) { client in
            for uri in ["/ui/runs", "/ui/runs/1", "/ui/events/m-0", "/ui/users?user=" + urlEncode("u-\(Self.hostile)"), "/ui/", "/ui/rules", "/ui/sends"] {
                try await client.execute(uri: uri, method: .get) { response in
                    let html = String(buffer: response.body)
                    #expect(response.status == .ok, "\(uri): \(html.prefix(300))")
                    Self.checkHeaders(response, uri)
                    #expect(!html.contains("<script>alert"), "\(uri)")
                    #expect(!html.contains("<img src=x"), "\(uri)")
                    #expect(!html.contains(" style="), "\(uri)")
                    #expect(html.components(separatedBy: "<script").count == 2, "\(uri): only the one app.js tag")
                }
            }
            try await client.execute(uri: "/ui/events/m-0", method: .get) { response in
                #expect(String(buffer: response.body).contains("&lt;script&gt;alert"))
            }
        }
    }

    @Test("the runs listing pages like the CLI's: a Link header names the older and newer pages")
    func paging() async throws {
        let (store, dir) = try await Self.store()
        defer { try? FileManager.default.removeItem(at: dir) }
        let app = Application(router: Self.console(store, tokens: []).makeRouter())
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/runs?limit=1&rule=cart", method: .get) { response in
                let runs = try JSONParser.parse(String(buffer: response.body))
                #expect(runs.arrayValue?.first?["id"]?.numberValue == 3)
                #expect(response.headers[.link] == "</api/v1/runs?limit=1&rule=cart&before=3>; rel=\"next\"")
            }
            try await client.execute(uri: "/api/v1/runs?limit=1&before=3", method: .get) { response in
                #expect(response.headers[.link] == "</api/v1/runs?limit=1&before=2>; rel=\"next\", </api/v1/runs?limit=1&after=2>; rel=\"prev\"")
            }
        }
    }

    @Test("the console's counts read indexes alone: no table scan, no sort (migration v9-console)")
    func countsUseIndexes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flint-console-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("flint.db").path
        _ = try SQLiteStateStore(path: path)
        let queue = try DatabaseQueue(path: path)
        let plans = [
            "SELECT substr(key, 1, instr(key, '|') - 1), zone, CAST(send_at / 900 AS INTEGER), count(*) FROM outbox "
                + "WHERE state = 'sent' AND CAST(send_at / 900 AS INTEGER) >= 1 AND CAST(send_at / 900 AS INTEGER) < 9 GROUP BY 3, 2, 1",
            "SELECT count(*) FROM runs WHERE rule_id = 'r' AND status = 'failed' AND created_at >= 1",
            "SELECT count(*) FROM runs WHERE status = 'failed' AND created_at >= 1",
        ]
        for sql in plans {
            let plan = try queue.read { db in try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String } }
            #expect(plan.contains { $0.contains("INDEX") }, "\(sql): \(plan)")
            #expect(!plan.contains { $0.contains("TEMP B-TREE") || ($0.hasPrefix("SCAN") && !$0.contains("INDEX")) }, "\(sql): \(plan)")
        }
    }

    @Test("the rules page lists a refused reload's errors and the folder's, escaped, and each rule with its file")
    func ruleErrors() async throws {
        let (store, dir) = try await Self.store()
        defer { try? FileManager.default.removeItem(at: dir) }
        let console = Console(
            store: store, settings: ConsoleSettings(host: "127.0.0.1", port: 0, tokens: [], companyZone: "UTC"),
            providers: ConsoleProviders(
                status: {
                    [
                        "attention": ["flint serve refused the last rules reload (1 error(s)); it runs the last good set"],
                        "rules": ["refused_reload_errors": ["rules/cart.yaml:3:9: error: when.event: expected a <string>"], "refused_reload_since": "2026-12-08T00:00:00Z"],
                    ]
                },
                why: { _, _, _, _ in WhyAnswer(json: [], error: "error: no rule 'nope'") },
                rules: {
                    RulesAnswer(
                        rules: [ConsoleRule(id: "cart", summary: ["id": "cart", "file": "rules/cart.yaml", "line": 1, "version": "v1"], quietHours: nil)],
                        errors: ["rules/cart.yaml:3:9: error: when.event: expected a <string>"])
                }))
        let app = Application(router: console.makeRouter())
        try await app.test(.router) { client in
            try await client.execute(uri: "/ui/rules", method: .get) { response in
                let html = String(buffer: response.body)
                #expect(html.contains("flint serve refused the last reload of the rules folder (since 2026-12-08T00:00:00Z)"))
                #expect(html.components(separatedBy: "rules/cart.yaml:3:9: error: when.event: expected a &lt;string&gt;").count == 3)
                #expect(html.contains("id=\"rule-cart\"") && html.contains("rules/cart.yaml:1"))
            }
            try await client.execute(uri: "/ui/", method: .get) { response in
                #expect(String(buffer: response.body).contains("Needs attention"))
            }
            try await client.execute(uri: "/api/v1/why?user=u-1&rule=nope", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains("no rule 'nope'"))
            }
            try await client.execute(uri: "/api/v1/why", method: .get) { response in
                #expect(response.status == .badRequest)
            }
        }
    }
}
