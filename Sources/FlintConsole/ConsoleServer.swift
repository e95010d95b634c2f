import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The console: pages under `/ui/` and the JSON API under `/api/v1/` (docs/api.md, docs/console.md),
/// on a listener of its own. Read-only: it reads the store through reader connections and never
/// writes.
public struct Console: Sendable {
    public let store: SQLiteStateStore
    public let settings: ConsoleSettings
    public let providers: ConsoleProviders
    public let auth: ConsoleAuth
    let now: @Sendable () -> Date

    public init(store: SQLiteStateStore, settings: ConsoleSettings, providers: ConsoleProviders, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.settings = settings
        self.providers = providers
        self.auth = ConsoleAuth(tokens: settings.tokens)
        self.now = now
    }

    /// The listener, as a service for `flint serve`'s group: it stops accepting on graceful shutdown
    /// and answers what is in flight. `onListening` gets the bound `host:port`.
    public func makeApplication(logger: Logger, onListening: @escaping @Sendable (String) -> Void = { _ in }) -> some ApplicationProtocol {
        let host = settings.host
        let port = settings.port
        return Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(host, port: port), serverName: "flint-console"),
            onServerRunning: { channel in
                let address = channel.localAddress.flatMap { a in a.port.map { "\(a.ipAddress ?? host):\($0)" } } ?? "\(host):\(port)"
                onListening(address)
            },
            logger: logger)
    }

    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.middlewares.add(ConsoleMiddleware(auth: auth))
        addAPIRoutes(to: router)
        addPageRoutes(to: router)
        return router
    }

    // MARK: The API

    func addAPIRoutes(to router: Router<BasicRequestContext>) {
        let api = router.group("api/v1")
        api.get("status") { _, _ in try await Self.json(self.providers.status()) }
        api.get("runs") { request, _ in
            let q = FormData.parse(request.uri.query)
            let query = try self.runQuery(q)
            let page = try await self.runsPage(query)
            var response = Self.json(.array(page.rows.map(\.json)))
            Self.addLinks(&response, path: "/api/v1/runs", query: q, page: page, id: \.id)
            return response
        }
        api.get("runs/{id}") { _, context in
            guard let id = context.parameters.get("id", as: Int64.self) else {
                throw ConsoleError.badRequest("the run id must be a number", hint: "GET /api/v1/runs lists runs with their ids")
            }
            guard let run = try await self.store.run(id: id) else {
                throw ConsoleError.notFound("no run \(id)", hint: "GET /api/v1/runs lists runs with their ids")
            }
            return Self.json(run.json)
        }
        api.get("events") { request, _ in
            let q = FormData.parse(request.uri.query)
            let query = try self.eventQuery(q)
            if q["rejected"] == "true" || q["rejected"] == "1" {
                return Self.json(.array(try await self.store.rejected(query).map(\.json)))
            }
            let page = try await ConsolePage.load(limit: query.limit, before: query.before, after: query.after, id: \EventRecord.seq) { limit, before, after in
                var e = query
                (e.limit, e.before, e.after) = (limit, before, after)
                return try await self.store.events(e)
            }
            var response = Self.json(.array(page.rows.map(\.json)))
            Self.addLinks(&response, path: "/api/v1/events", query: q, page: page, id: \.seq)
            return response
        }
        api.get("events/{id}") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let event = try await self.store.event(id: id) else {
                throw ConsoleError.notFound("no event \(id)", hint: "GET /api/v1/events lists events with their ids")
            }
            let runs = try await self.store.runs(RunQuery(event: event.messageId, limit: 1000, traces: true))
            var o = event.json.objectValue ?? [:]
            o["runs"] = .array(runs.map(\.json))
            return Self.json(.object(o))
        }
        api.get("why") { request, _ in
            let q = FormData.parse(request.uri.query)
            guard let user = q["user"], !user.isEmpty else {
                throw ConsoleError.badRequest("the user parameter is required", hint: "GET /api/v1/why?user=u-42")
            }
            let limit = try Self.int(q, "limit", default: 20, range: 1...1000)
            let answer = try await self.providers.why(user, q["rule"].nonEmpty, q["event"].nonEmpty, limit)
            if let error = answer.error { throw ConsoleError.notFound(error, hint: "GET /api/v1/rules lists the rules") }
            var response = Self.json(answer.json)
            if let message = answer.message { response.headers[Self.explanationField] = Self.headerSafe(message) }
            return response
        }
        api.get("rules") { _, _ in try await Self.json(self.providers.rules().json) }
        api.get("sends") { request, _ in
            let q = FormData.parse(request.uri.query)
            let landing = try await self.landing(q)
            return Self.json(landing.json)
        }
        api.get("**") { request, _ -> Response in
            throw ConsoleError.notFound(
                "no endpoint \(request.uri.path)", hint: "the API's endpoints: /api/v1/status, runs, runs/ID, events, events/ID, why, rules, sends (docs/api.md)")
        }
    }

    static let explanationField = HTTPField.Name("X-Flint-Explanation")!

    /// A header value: one line of printable ASCII (other characters as `?`).
    static func headerSafe(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value >= 0x20 && $0.value < 0x7F ? $0 : "?" }))
    }

    /// The CLI's bytes: pretty JSON and a newline, as `Terminal.out` prints it.
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: value.prettyJSON() + "\n")))
    }

    /// `Link: <...&before=ID>; rel="next", <...&after=ID>; rel="prev"` when more rows lie beyond the page.
    static func addLinks<Row>(_ response: inout Response, path: String, query: [String: String], page: ConsolePage<Row>, id: (Row) -> Int64) {
        var links: [String] = []
        let base = query.filter { $0.key != "before" && $0.key != "after" }.sorted { $0.key < $1.key }.map { ($0.key, Optional($0.value)) }
        if page.moreOlder, let last = page.rows.last { links.append("<\(link(path, base + [("before", String(id(last)))]))>; rel=\"next\"") }
        if page.moreNewer, let first = page.rows.first { links.append("<\(link(path, base + [("after", String(id(first)))]))>; rel=\"prev\"") }
        if !links.isEmpty { response.headers[.link] = links.joined(separator: ", ") }
    }

    // MARK: Parameters

    static func int(_ q: [String: String], _ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = q[name], !text.isEmpty else { return value }
        guard let n = Int(text), range.contains(n) else {
            throw ConsoleError.badRequest("\(name) '\(text)' is not a whole number from \(range.lowerBound) to \(range.upperBound)", hint: "e.g. \(name)=\(value)")
        }
        return n
    }

    static func id(_ q: [String: String], _ name: String) throws -> Int64? {
        guard let text = q[name], !text.isEmpty else { return nil }
        guard let n = Int64(text) else {
            throw ConsoleError.badRequest("\(name) '\(text)' is not an id", hint: "\(name) takes the id of a row of the listing (the Link header names it)")
        }
        return n
    }

    /// `2h`, `30m`, `7d` before now, or an ISO 8601 instant (as `--since` takes it).
    func since(_ q: [String: String]) throws -> Date? {
        guard let text = q["since"], !text.isEmpty else { return nil }
        if let seconds = DurationText.seconds(text) { return now().addingTimeInterval(-TimeInterval(seconds)) }
        if let date = Timestamp.parse(text) { return date }
        throw ConsoleError.badRequest("since '\(text)' is neither a duration (2h, 30m, 7d) nor an ISO 8601 time", hint: "e.g. since=2h")
    }

    func runQuery(_ q: [String: String]) throws -> RunQuery {
        var status: RunStatus?
        if let text = q["status"], !text.isEmpty {
            guard let s = RunStatus(rawValue: text) else {
                throw ConsoleError.badRequest(
                    "status '\(text)' is not one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", "))", hint: "e.g. status=failed")
            }
            status = s
        }
        let before = try Self.id(q, "before"), after = try Self.id(q, "after")
        if before != nil, after != nil { throw ConsoleError.badRequest("give before or after, not both", hint: "one page at a time") }
        return RunQuery(
            rule: q["rule"].nonEmpty, status: status, user: q["user"].nonEmpty, event: q["event"].nonEmpty, since: try since(q),
            limit: try Self.int(q, "limit", default: 50, range: 1...1000), before: before, after: after, traces: true)
    }

    func eventQuery(_ q: [String: String]) throws -> EventQuery {
        let before = try Self.id(q, "before"), after = try Self.id(q, "after")
        if before != nil, after != nil { throw ConsoleError.badRequest("give before or after, not both", hint: "one page at a time") }
        return EventQuery(
            name: q["name"].nonEmpty, user: q["user"].nonEmpty, since: try since(q), limit: try Self.int(q, "limit", default: 50, range: 1...1000),
            before: before, after: after)
    }

    /// One page of runs, with whether more lie beyond it (as the CLI's listing pages).
    func runsPage(_ query: RunQuery) async throws -> ConsolePage<RunRecord> {
        try await ConsolePage.load(limit: query.limit, before: query.before, after: query.after, id: \RunRecord.id) { limit, before, after in
            var q = query
            (q.limit, q.before, q.after) = (limit, before, after)
            return try await self.store.runs(q)
        }
    }

    static func zone(_ q: [String: String]) throws -> TimeZone {
        guard let name = q["zone"], !name.isEmpty else { return TimeZone(identifier: "UTC")! }
        guard let zone = ZoneName.resolve(name == "Z" ? "UTC" : name) else {
            let near = ZoneName.suggestions(for: name)
            throw ConsoleError.badRequest(
                "zone '\(name)' is not an IANA time zone", hint: near.isEmpty ? "e.g. zone=America/Los_Angeles" : "did you mean \(near.joined(separator: ", "))?")
        }
        return zone
    }
}

extension Optional where Wrapped == String {
    /// nil for nil or "".
    var nonEmpty: String? {
        guard let s = self, !s.isEmpty else { return nil }
        return s
    }
}

/// One page of a listing and what lies beyond it.
struct ConsolePage<Row: Sendable>: Sendable {
    var rows: [Row]
    var moreOlder: Bool
    var moreNewer: Bool

    /// `fetch(limit, before, after)` returns newest first; one more row is fetched to know whether
    /// more exist, and one the other way when a cursor was given.
    static func load(
        limit: Int, before: Int64?, after: Int64?, id: (Row) -> Int64,
        fetch: (_ limit: Int, _ before: Int64?, _ after: Int64?) async throws -> [Row]
    ) async throws -> ConsolePage<Row> {
        var rows = try await fetch(limit + 1, before, after)
        var older = false, newer = false
        if after != nil {
            if rows.count > limit {
                newer = true
                rows.removeFirst(rows.count - limit)
            }
            if let last = rows.last { older = try await !fetch(1, id(last), nil).isEmpty }
        } else {
            if rows.count > limit {
                older = true
                rows.removeLast(rows.count - limit)
            }
            if before != nil, let first = rows.first { newer = try await !fetch(1, nil, id(first)).isEmpty }
        }
        return ConsolePage(rows: rows, moreOlder: older, moreNewer: newer)
    }
}

/// An error a request gets: JSON `{"error", "hint"}` from the API, a page from the console.
struct ConsoleError: Error {
    var status: HTTPResponse.Status
    var message: String
    var hint: String

    static func badRequest(_ message: String, hint: String) -> ConsoleError { ConsoleError(status: .badRequest, message: message, hint: hint) }
    static func notFound(_ message: String, hint: String) -> ConsoleError { ConsoleError(status: .notFound, message: message, hint: hint) }
}

/// Every response: the security headers; errors as JSON (API) or a page (console); credentials
/// checked before anything is read.
struct ConsoleMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let auth: ConsoleAuth

    static let csp =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    static let open: Set<String> = ["/ui/login", "/ui/app.css", "/ui/app.js", "/ui/favicon.svg", "/favicon.ico"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        let isAPI = path.hasPrefix("/api/")
        var response: Response
        if !Self.open.contains(path), !auth.allows(authorization: request.headers[.authorization], cookieHeader: request.headers[.cookie]) {
            if isAPI {
                response = Self.error(
                    .unauthorized, "missing or invalid credentials",
                    hint: "send \"Authorization: Bearer <token>\" with one of webhook.tokens (FLINT_WEBHOOK_TOKEN), or log in at /ui/login", api: true)
                response.headers[.wwwAuthenticate] = "Bearer"
            } else {
                let target = request.method == .get && path.hasPrefix("/ui") ? path + (request.uri.query.map { "?" + $0 } ?? "") : "/ui/"
                response = Response(status: .seeOther, headers: [.location: link("/ui/login", [("next", target)])])
            }
        } else {
            do {
                response = try await next(request, context)
            } catch let error as ConsoleError {
                response = Self.error(error.status, error.message, hint: error.hint, api: isAPI)
            } catch let error as HTTPError where error.status == .notFound {
                response = Self.error(.notFound, "no page \(path)", hint: isAPI ? "see docs/api.md" : "start at /ui/", api: isAPI)
            } catch let error as HTTPError {
                response = Self.error(error.status, error.body ?? error.status.reasonPhrase, hint: "see docs/api.md", api: isAPI)
            } catch {
                response = Self.error(.internalServerError, "the store could not answer: \(error)", hint: "flint status says what holds it back", api: isAPI)
            }
        }
        response.headers[.contentSecurityPolicy] = Self.csp
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "no-referrer"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, hint: String, api: Bool) -> Response {
        if api {
            let body: JSONValue = ["error": .string(message), "hint": .string(hint)]
            return Response(
                status: status, headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: body.prettyJSON() + "\n")))
        }
        let page = Layout.page(
            title: "\(status.code) \(status.reasonPhrase)", current: "",
            body: [el("section", ["class": "card"], el("h1", [:], txt(message)), el("p", ["class": "hint"], txt(hint)))])
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: page)))
    }
}

extension HTTPField.Name {
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let link = HTTPField.Name("Link")!
}
