import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The page frame: header, navigation, the stylesheet and script served by Flint itself.
enum Layout {
    static let sections: [(path: String, name: String)] = [
        ("/ui/", "Overview"), ("/ui/runs", "Runs"), ("/ui/users", "Users"), ("/ui/rules", "Rules"), ("/ui/sends", "Sends"),
    ]

    static func page(title: String, current: String, body: [Node], signOut: Bool = false) -> String {
        var nav: [Node] = sections.map { s in
            el("a", attrs: [("href", s.path), ("class", s.path == current ? "current" : nil)], children: [txt(s.name)])
        }
        if signOut {
            nav.append(
                el(
                    "form", ["method": "post", "action": "/ui/logout", "class": "signout"],
                    el("button", ["type": "submit", "class": "link"], "Sign out")))
        }
        return el(
            "html", ["lang": "en"],
            el(
                "head", [:],
                el("meta", ["charset": "utf-8"]),
                el("meta", ["name": "viewport", "content": "width=device-width, initial-scale=1"]),
                el("title", [:], txt(title + " · Flint")),
                el("link", ["rel": "stylesheet", "href": "/ui/app.css"]),
                el("link", ["rel": "icon", "href": "/ui/favicon.svg", "type": "image/svg+xml"]),
                el("script", ["src": "/ui/app.js", "defer": "defer"])),
            el(
                "body", [:],
                el("header", ["class": "top"], el("a", ["class": "brand", "href": "/ui/"], "Flint"), el("nav", [:], children: nav)),
                el("main", [:], children: body))
        ).document()
    }

    static func html(_ text: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func badge(_ status: String) -> Node { el("span", attrs: [("class", "badge st-\(status)")], children: [txt(status)]) }

    static func time(_ d: Date?) -> String { d.map { Timestamp.formatUTC($0) } ?? "-" }

    /// When a run's send goes out, as the CLI's tables say it: an instant, a wall clock in each
    /// user's zone (in_local_time), or a date on which Braze picks the hour (at_optimal_time).
    static func sendAt(_ r: RunRecord) -> String {
        if let s = r.schedule, let t = s["time"]?.stringValue {
            if s["at_optimal_time"]?.boolValue == true { return String(t.prefix(10)) + " (optimal)" }
            if s["in_local_time"]?.boolValue == true { return t + " (local)" }
        }
        return r.sendAt.map { Timestamp.formatUTC($0) } ?? "-"
    }

    static func userLink(_ user: String) -> Node { el("a", attrs: [("href", link("/ui/users", [("user", user)]))], children: [txt(user)]) }
    static func ruleLink(_ rule: String) -> Node { el("a", attrs: [("href", "/ui/rules#rule-" + urlEncode(rule))], children: [txt(rule)]) }
    static func runLink(_ id: Int64) -> Node { el("a", attrs: [("href", "/ui/runs/\(id)")], children: [txt(String(id))]) }
    static func eventLink(_ id: String, text: String? = nil) -> Node {
        el("a", attrs: [("href", "/ui/events/" + urlEncode(id))], children: [txt(text ?? id)])
    }

    /// A table; on a phone each row becomes a card whose cells are labelled with the column names
    /// (`data-label`, shown by the stylesheet).
    static func table(_ header: [String], _ rows: [[Node]], attrs: [(String, String?)] = []) -> Node {
        let tableAttrs = attrs.contains { $0.0 == "class" } ? attrs : attrs + [("class", "cards")]
        return el(
            "div", ["class": "scroll"],
            el(
                "table", attrs: tableAttrs,
                children: [
                    el("thead", [:], el("tr", [:], children: header.map { el("th", [:], txt($0)) })),
                    el(
                        "tbody", [:],
                        children: rows.map { row in
                            el(
                                "tr", [:],
                                children: row.enumerated().map { i, cell in
                                    el("td", attrs: [("data-label", i < header.count ? header[i] : "")], children: [cell])
                                })
                        }),
                ]))
    }

    static func facts(_ rows: [(String, Node)]) -> Node {
        el("dl", ["class": "facts"], children: rows.flatMap { [el("dt", [:], txt($0.0)), el("dd", [:], $0.1)] })
    }

    static func pre(_ json: JSONValue) -> Node { el("pre", ["class": "json"], txt(json.prettyJSON())) }
}

extension Console {
    func addPageRoutes(to router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in Response(status: .seeOther, headers: [.location: "/ui/"]) }
        router.get("/ui/app.css") { _, _ in Self.asset(ConsoleAssets.css, type: "text/css; charset=utf-8") }
        router.get("/ui/app.js") { _, _ in Self.asset(ConsoleAssets.js, type: "text/javascript; charset=utf-8") }
        router.get("/ui/favicon.svg") { _, _ in Self.asset(ConsoleAssets.icon, type: "image/svg+xml") }
        router.get("/favicon.ico") { _, _ in Response(status: .noContent) }
        router.get("/ui/login") { request, _ in
            let next = Self.safeNext(FormData.parse(request.uri.query)["next"])
            if !self.auth.required { return Response(status: .seeOther, headers: [.location: next]) }
            return Layout.html(self.loginPage(next: next, error: nil))
        }
        router.post("/ui/login") { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: 16 * 1024)
            let form = FormData.parse(String(buffer: body))
            let next = Self.safeNext(form["next"])
            if !self.auth.required { return Response(status: .seeOther, headers: [.location: next]) }
            guard let token = form["token"], self.auth.accepts(token: token) else {
                return Layout.html(
                    self.loginPage(next: next, error: "That token is not one of webhook.tokens (FLINT_WEBHOOK_TOKEN) on this server."),
                    status: .unauthorized)
            }
            return Response(status: .seeOther, headers: [.location: next, .setCookie: self.auth.setCookie(for: token)])
        }
        router.post("/ui/logout") { _, _ in
            Response(status: .seeOther, headers: [.location: "/ui/login", .setCookie: ConsoleAuth.clearCookie])
        }
        router.get("/ui/") { _, _ in Layout.html(try await self.overviewPage()) }
        router.get("/ui/runs") { request, _ in Layout.html(try await self.runsPage(FormData.parse(request.uri.query))) }
        router.get("/ui/runs/{id}") { _, context in
            guard let id = context.parameters.get("id", as: Int64.self) else {
                throw ConsoleError.badRequest("the run id must be a number", hint: "the runs page lists runs with their ids")
            }
            return Layout.html(try await self.runPage(id))
        }
        router.get("/ui/events/{id}") { _, context in Layout.html(try await self.eventPage(context.parameters.get("id") ?? "")) }
        router.get("/ui/users") { request, _ in Layout.html(try await self.userPage(FormData.parse(request.uri.query)["user"].nonEmpty)) }
        router.get("/ui/rules") { _, _ in Layout.html(try await self.rulesPage()) }
        router.get("/ui/sends") { request, _ in Layout.html(try await self.sendsPage(FormData.parse(request.uri.query))) }
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Only a path of this console: never another site (an open redirect).
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/ui"), !next.hasPrefix("//"), !next.contains("\\"), !next.contains("\r"), !next.contains("\n") else {
            return "/ui/"
        }
        return next
    }

    func page(_ title: String, _ current: String, _ body: [Node]) -> String {
        Layout.page(title: title, current: current, body: body, signOut: auth.required)
    }

    // MARK: Login

    func loginPage(next: String, error: String?) -> String {
        var body: [Node] = [el("h1", [:], "Sign in")]
        if let error { body.append(el("p", ["class": "alert bad"], txt(error))) }
        body.append(
            el(
                "form", ["method": "post", "action": "/ui/login", "class": "card login"],
                el("label", ["for": "token"], "Token"),
                el("input", ["type": "password", "id": "token", "name": "token", "autocomplete": "current-password", "required": "required"]),
                el("input", attrs: [("type", "hidden"), ("name", "next"), ("value", next)]),
                el("button", ["type": "submit"], "Sign in"),
                el("p", ["class": "hint"], "One of the webhook's tokens (webhook.tokens in flint.yaml, or FLINT_WEBHOOK_TOKEN). It is kept as a signed cookie for this browser, never in the page or the URL.")))
        return Layout.page(title: "Sign in", current: "", body: body)
    }

    // MARK: Overview

    func overviewPage() async throws -> String {
        let status = try await providers.status()
        let now = self.now()
        async let lastHour = store.runCounts(since: now.addingTimeInterval(-3600))
        async let lastDay = store.runCounts(since: now.addingTimeInterval(-86_400))
        async let upcoming = store.upcomingSends(after: now, limit: 10)
        let (hour, day, next) = try await (lastHour, lastDay, upcoming)

        var body: [Node] = [el("h1", [:], "Overview")]
        let attention = status["attention"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if attention.isEmpty {
            body.append(el("section", ["class": "alert ok", "id": "health"], el("strong", [:], "Everything is healthy."), " Nothing needs a person."))
        } else {
            body.append(
                el(
                    "section", ["class": "alert bad", "id": "health"], el("strong", [:], "Needs attention"),
                    el("ul", [:], children: attention.map { el("li", [:], txt($0)) })))
        }
        let serve = status["serve"], dispatch = status["dispatch"], decisions = status["decisions"], outbox = status["outbox"], rules = status["rules"]
        func n(_ v: JSONValue?) -> Int { Int(v?.numberValue ?? 0) }
        func s(_ v: JSONValue?) -> String? { v?.stringValue }
        var facts: [(String, Node)] = []
        if serve?["running"]?.boolValue == true {
            facts.append(("serve", txt("running since \(s(serve?["started_at"]) ?? "-"), pid \(n(serve?["pid"])), listening on \(s(serve?["listen"]) ?? "-")")))
        } else {
            facts.append(("serve", el("span", ["class": "bad"], "not running")))
        }
        if dispatch?["paused"]?.boolValue == true {
            facts.append((
                "dispatch",
                el(
                    "span", ["class": "bad"],
                    txt("PAUSED since \(s(dispatch?["since"]) ?? "-"): \(s(dispatch?["action"]) ?? ""): \(s(dispatch?["reason"]) ?? ""); next try \(s(dispatch?["next_probe_at"]) ?? "-")"))
            ))
        } else {
            facts.append(("dispatch", txt("running")))
        }
        let backlog = n(decisions?["backlog"])
        facts.append((
            "backlog",
            txt(backlog == 0 ? "none: every accepted event is decided" : "\(backlog) accepted, not decided yet, oldest received \(s(decisions?["oldest_undecided_at"]) ?? "-")")
        ))
        facts.append(("events", txt("\(n(status["events"])) accepted, \(n(status["rejected"])) rejected, last received \(s(status["last_event_at"]) ?? "-")")))
        facts.append((
            "outbox",
            el(
                "span", attrs: [("class", n(outbox?["dead"]) + n(outbox?["unknown"]) > 0 ? "bad" : nil)],
                children: [txt("\(n(outbox?["pending"])) pending (oldest \(s(outbox?["oldest_pending_created_at"]) ?? "-")), \(n(outbox?["dead"])) dead, \(n(outbox?["unknown"])) unknown")])
        ))
        let ruleErrors = (rules?["errors"]?.arrayValue?.count ?? 0) + (rules?["refused_reload_errors"]?.arrayValue?.count ?? 0)
        facts.append((
            "rules",
            el(
                "span", attrs: [("class", ruleErrors > 0 ? "bad" : nil)],
                children: [
                    txt("\(n(rules?["loaded"])) in \(s(rules?["folder"]) ?? "-")" + (ruleErrors > 0 ? ", \(ruleErrors) error(s): " : "")),
                    ruleErrors > 0 ? el("a", ["href": "/ui/rules#errors"], "see the rules") : txt(""),
                ])
        ))
        let troubled = status["plugins_in_trouble"]?.arrayValue ?? []
        facts.append((
            "plugins",
            troubled.isEmpty
                ? txt("none in trouble")
                : el(
                    "span", ["class": "bad"],
                    txt(troubled.map { "\(s($0["name"]) ?? "?") \(s($0["state"]) ?? "?"): \(s($0["last_error"]) ?? "-")" }.joined(separator: "; ")))
        ))
        body.append(el("section", ["class": "card"], el("h2", [:], "Health"), Layout.facts(facts)))

        func bars(_ counts: [RunStatus: Int]) -> Node {
            Charts.statusBars(RunStatus.allCases.map { ($0.rawValue, counts[$0] ?? 0) })
        }
        body.append(
            el(
                "div", ["class": "grid"],
                el("section", ["class": "card", "id": "runs-hour"], el("h2", [:], "Runs, last hour"), bars(hour)),
                el("section", ["class": "card", "id": "runs-day"], el("h2", [:], "Runs, last 24 hours"), bars(day))))
        let rows: [[Node]] = next.map { send in
            [
                txt(Timestamp.formatUTC(send.sendAt)), Layout.ruleLink(send.ruleId), Layout.userLink(send.user), Layout.runLink(send.runId),
                txt(send.state.rawValue), txt(send.zone ?? "-"),
            ]
        }
        body.append(
            el(
                "section", ["class": "card", "id": "next-sends"], el("h2", [:], "Next sends"),
                rows.isEmpty
                    ? el("p", ["class": "empty"], "No send is planned.")
                    : Layout.table(["SEND AT (UTC)", "RULE", "USER", "RUN", "STATE", "ZONE"], rows),
                el("p", [:], el("a", ["href": "/ui/sends"], "Where sends land over the next 7 days →"))))
        return page("Overview", "/ui/", body)
    }

    // MARK: Runs

    static func runRow(_ r: RunRecord) -> [Node] {
        [
            Layout.runLink(r.id), txt(Timestamp.formatUTC(r.createdAt)), Layout.ruleLink(r.ruleId), Layout.userLink(r.user), Layout.badge(r.status.rawValue),
            txt(Layout.sendAt(r)), txt(r.reason),
        ]
    }

    func runsPage(_ q: [String: String]) async throws -> String {
        var query = try runQuery(q)
        query.traces = false
        let listing = try await runsPage(query)
        let ruleIds = (try? await providers.rules().rules.map(\.id)) ?? []
        let filters: [(String, String?)] = [
            ("rule", q["rule"].nonEmpty), ("status", q["status"].nonEmpty), ("user", q["user"].nonEmpty), ("event", q["event"].nonEmpty),
            ("since", q["since"].nonEmpty),
        ]
        func select(_ name: String, _ options: [String], _ current: String?) -> Node {
            el(
                "select", attrs: [("name", name), ("id", "f-" + name)],
                children: [el("option", ["value": ""], "any")]
                    + options.map { o in el("option", attrs: [("value", o), ("selected", o == current ? "selected" : nil)], children: [txt(o)]) })
        }
        func field(_ label: String, _ control: Node) -> Node { el("label", [:], el("span", [:], txt(label)), control) }
        let form = el(
            "form", ["method": "get", "action": "/ui/runs", "class": "filters"],
            field("Rule", select("rule", Array(Set(ruleIds + [q["rule"]].compactMap { $0.nonEmpty })).sorted(), q["rule"])),
            field("Status", select("status", RunStatus.allCases.map(\.rawValue), q["status"])),
            field("User", el("input", attrs: [("name", "user"), ("value", q["user"] ?? ""), ("placeholder", "u-42")])),
            field("Event", el("input", attrs: [("name", "event"), ("value", q["event"] ?? ""), ("placeholder", "messageId")])),
            field("Since", el("input", attrs: [("name", "since"), ("value", q["since"] ?? ""), ("placeholder", "2h, 7d or ISO time")])),
            el("button", ["type": "submit"], "Filter"))
        let live = query.before == nil && query.after == nil
        let filterQuery = link("", filters).dropFirst()
        let table = Layout.table(
            ["ID", "CREATED (UTC)", "RULE", "USER", "STATUS", "SEND AT", "REASON"], listing.rows.map(Self.runRow),
            attrs: [
                ("id", "runs"), ("class", "runs cards"), ("data-live", live ? "1" : nil), ("data-after", listing.rows.first.map { String($0.id) } ?? ""),
                ("data-query", String(filterQuery)),
            ])
        var pager: [Node] = []
        if listing.moreNewer, let first = listing.rows.first { pager.append(el("a", attrs: [("href", link("/ui/runs", filters + [("after", String(first.id))]))], children: ["← newer"])) }
        if !live { pager.append(el("a", attrs: [("href", link("/ui/runs", filters))], children: ["newest"])) }
        if listing.moreOlder, let last = listing.rows.last { pager.append(el("a", attrs: [("href", link("/ui/runs", filters + [("before", String(last.id))]))], children: ["older →"])) }
        var body: [Node] = [el("h1", [:], "Runs"), form]
        body.append(
            el(
                "p", ["class": "hint"],
                txt(live ? "Newest first. New runs appear at the top as they are decided." : "Newest first. This is an older page: new runs are not added here."),
                el("span", ["id": "live-status", "class": "live"], "")))
        body.append(table)
        if listing.rows.isEmpty { body.append(el("p", ["class": "empty", "id": "no-runs"], txt(live ? "No runs match yet." : "No runs on this page."))) }
        body.append(el("nav", ["class": "pager"], children: pager))
        return page("Runs", "/ui/runs", body)
    }

    func runPage(_ id: Int64) async throws -> String {
        guard let r = try await store.run(id: id) else {
            throw ConsoleError.notFound("no run \(id)", hint: "the runs page lists runs with their ids")
        }
        async let eventRecord = store.event(id: r.eventId)
        async let outboxRow = store.outboxDetail(runId: r.id)
        let (event, outbox) = try await (eventRecord, outboxRow)
        var facts: [(String, Node)] = [
            ("rule", el("span", [:], Layout.ruleLink(r.ruleId), txt(" (version \(r.ruleVersion))"))),
            (
                "event",
                el(
                    "span", [:], Layout.eventLink(r.eventId),
                    txt(event.map { " '\($0.name ?? $0.type.rawValue)' at \(Timestamp.formatUTC($0.timestamp)), received via \($0.source)" } ?? ""))
            ),
            ("user", Layout.userLink(r.user)),
            ("reason", txt(r.reason)),
            ("action", txt(r.action)),
            ("send at", txt(Layout.sendAt(r))),
        ]
        if let s = r.schedule { facts.append(("schedule", el("code", [:], txt(s.compactJSON)))) }
        if let zone = r.trace.zone { facts.append(("zone", txt(zone))) }
        if let key = r.trace.oncePerKey { facts.append(("once_per key", txt(key))) }
        if let c = r.cancelledBy { facts.append(("cancelled by", txt(c))) }
        facts.append(("created", txt(Timestamp.formatUTCMillis(r.createdAt))))
        facts.append(("updated", txt(Timestamp.formatUTCMillis(r.updatedAt))))
        var body: [Node] = [
            el("h1", [:], txt("Run \(r.id) "), Layout.badge(r.status.rawValue)),
            el("section", ["class": "card"], Layout.facts(facts)),
        ]
        if let note = r.trace.note { body.append(el("p", ["class": "alert warn"], txt("note: " + note))) }
        body.append(
            el(
                "section", ["class": "card", "id": "gates"], el("h2", [:], "Gates"),
                r.trace.gates.isEmpty
                    ? el("p", ["class": "empty"], "No gate was recorded.")
                    : Layout.table(
                        ["", "GATE", "DETAIL"],
                        r.trace.gates.map { g in
                            [el("span", attrs: [("class", g.passed ? "pass" : "fail")], children: [txt(g.passed ? "pass" : "FAIL")]), txt(g.name), txt(g.detail)]
                        })))
        if let f = r.trace.failedCondition {
            body.append(
                el(
                    "section", ["class": "card", "id": "failed-condition"], el("h2", [:], "The condition that failed"),
                    Layout.facts([
                        ("path", el("code", [:], txt(f.path))), ("op", txt(f.op)), ("expected", el("code", [:], txt(f.expected.compactJSON))),
                        ("seen", el("code", [:], txt(f.seen?.compactJSON ?? "(missing)"))), ("why", txt(f.explanation)),
                    ])))
        }
        if !r.trace.steps.isEmpty {
            body.append(
                el(
                    "section", ["class": "card", "id": "steps"], el("h2", [:], "Planner steps"),
                    Layout.table(["STEP", "WHAT", "INSTANT (UTC)"], r.trace.steps.map { [txt($0.kind.rawValue), txt($0.message), txt(Layout.time($0.instant))] })))
        }
        if let request = r.request {
            body.append(
                el(
                    "section", ["class": "card", "id": "request"],
                    el("h2", [:], txt(r.action == "braze" ? "Request: POST /campaigns/trigger/schedule/create" : "Request to action '\(r.action)'")),
                    Layout.pre(request)))
        }
        var answer: [(String, Node)] = []
        if let outbox {
            answer.append(("outbox", txt("row \(outbox.id): \(outbox.state.rawValue), \(outbox.attempts) attempt(s), updated \(Timestamp.formatUTC(outbox.updatedAt))")))
            if let e = outbox.lastError { answer.append(("last error", el("span", ["class": "bad"], txt(e)))) }
            if let next = outbox.nextAttemptAt, outbox.state == .pending { answer.append(("next attempt", txt(Timestamp.formatUTC(next)))) }
        }
        if r.scheduleId != nil || r.dispatchId != nil {
            answer.append(("schedule_id", el("code", [:], txt(r.scheduleId ?? "-"))))
            answer.append(("dispatch_id", el("code", [:], txt(r.dispatchId ?? "-"))))
        }
        body.append(
            el(
                "section", ["class": "card", "id": "answer"], el("h2", [:], "Braze's answer"),
                answer.isEmpty ? el("p", ["class": "empty"], txt(r.status == .shadow ? "A shadow run is never sent." : "Nothing was sent for this run.")) : Layout.facts(answer)))
        body.append(el("p", [:], el("a", attrs: [("href", "/api/v1/runs/\(r.id)")], children: ["This run as JSON"])))
        return page("Run \(r.id)", "/ui/runs", body)
    }

    // MARK: Events and users

    func eventPage(_ id: String) async throws -> String {
        guard let e = try await store.event(id: id) else {
            throw ConsoleError.notFound("no event \(id)", hint: "a user's page lists their events")
        }
        let runs = try await store.runs(RunQuery(event: e.messageId, limit: 1000, traces: false))
        let body: [Node] = [
            el("h1", [:], txt("Event " + (e.type == .identify ? "identify" : "'\(e.name ?? "")'"))),
            el(
                "section", ["class": "card"],
                Layout.facts([
                    ("id", el("code", [:], txt(e.messageId))), ("seq", txt(String(e.seq))), ("user", Layout.userLink(e.userKey)),
                    ("happened", txt(Timestamp.formatUTCMillis(e.timestamp))), ("received", txt(Timestamp.formatUTCMillis(e.receivedAt))),
                    ("source", txt(e.source)),
                ])),
            el("section", ["class": "card", "id": "body"], el("h2", [:], "As received"), Layout.pre(e.body)),
            el(
                "section", ["class": "card", "id": "event-runs"], el("h2", [:], "Runs"),
                runs.isEmpty
                    ? el("p", ["class": "empty"], txt(e.type == .identify ? "Identify calls update the profile; they make no runs." : "No rule is triggered by this event."))
                    : Layout.table(["ID", "CREATED (UTC)", "RULE", "USER", "STATUS", "SEND AT", "REASON"], runs.map(Self.runRow))),
        ]
        return page("Event \(e.messageId)", "/ui/users", body)
    }

    func userPage(_ user: String?) async throws -> String {
        var body: [Node] = [
            el("h1", [:], txt(user.map { "User \($0)" } ?? "Users")),
            el(
                "form", ["method": "get", "action": "/ui/users", "class": "filters"],
                el("label", [:], el("span", [:], "User (userId, else anonymousId)"), el("input", attrs: [("name", "user"), ("value", user ?? ""), ("placeholder", "u-42")])),
                el("button", ["type": "submit"], "Why?")),
        ]
        guard let user else {
            body.append(el("p", ["class": "hint"], "Type a user to see their events and, for each run, what stopped the send or that it was sent (flint why)."))
            return page("Users", "/ui/users", body)
        }
        async let whyAnswer = providers.why(user, nil, nil, 100)
        async let eventList = store.events(EventQuery(user: user, limit: 50))
        let (why, events) = try await (whyAnswer, eventList)
        var byEvent: [String: [JSONValue]] = [:]
        for item in why.json.arrayValue ?? [] {
            if let id = item["event_id"]?.stringValue { byEvent[id, default: []].append(item) }
        }
        if let message = why.message { body.append(el("p", ["class": "alert warn"], txt(message))) }
        var items: [Node] = []
        for e in events {
            let runs = byEvent[e.messageId] ?? []
            var children: [Node] = [
                el(
                    "div", ["class": "when"], txt(Timestamp.formatUTC(e.timestamp))),
                el(
                    "div", ["class": "what"],
                    el("strong", [:], Layout.eventLink(e.messageId, text: e.type == .identify ? "identify" : (e.name ?? ""))),
                    txt(" via \(e.source)")),
            ]
            if runs.isEmpty {
                children.append(
                    el("p", ["class": "hint"], txt(e.type == .identify ? "Updated the profile (identify calls make no runs)." : "No rule reacts to this event.")))
            }
            for run in runs {
                let id = Int64(run["run_id"]?.numberValue ?? 0)
                children.append(
                    el(
                        "div", ["class": "run"],
                        el(
                            "div", [:], Layout.badge(run["status"]?.stringValue ?? "?"), txt(" "), Layout.ruleLink(run["rule_id"]?.stringValue ?? ""),
                            txt(" · run "), Layout.runLink(id)),
                        el("p", [:], txt(run["explanation"]?.stringValue ?? ""))))
            }
            items.append(el("li", ["class": "event"], children: children))
        }
        body.append(
            el(
                "section", ["class": "card", "id": "timeline"], el("h2", [:], "Timeline, newest first"),
                items.isEmpty ? el("p", ["class": "empty"], "No events from this user.") : el("ol", ["class": "timeline"], children: items)))
        return page("User \(user)", "/ui/users", body)
    }

    // MARK: Rules

    func rulesPage() async throws -> String {
        async let answerValue = providers.rules()
        async let statusValue = providers.status()
        async let countsValue = store.runCountsByRule(since: now().addingTimeInterval(-7 * 86_400))
        let (answer, status, counts) = try await (answerValue, statusValue, countsValue)
        var body: [Node] = [el("h1", [:], "Rules")]
        let refused = status["rules"]?["refused_reload_errors"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if !answer.errors.isEmpty || !refused.isEmpty {
            var children: [Node] = [el("h2", [:], "Errors")]
            if !refused.isEmpty {
                children.append(
                    el(
                        "p", [:],
                        txt("flint serve refused the last reload of the rules folder" + (status["rules"]?["refused_reload_since"]?.stringValue.map { " (since \($0))" } ?? "")
                            + " and keeps running the last good set:")))
                children.append(el("ul", ["class": "errors"], children: refused.map { el("li", [:], el("code", [:], txt($0))) }))
            }
            if !answer.errors.isEmpty {
                children.append(el("p", [:], "The folder as it is now (flint rules check):"))
                children.append(el("ul", ["class": "errors"], children: answer.errors.map { el("li", [:], el("code", [:], txt($0))) }))
            }
            body.append(el("section", ["class": "alert bad", "id": "errors"], children: children))
        }
        body.append(el("p", ["class": "hint"], "Counts are the runs of the last 7 days, per status; each links to those runs."))
        for rule in answer.rules {
            let s = rule.summary
            let perStatus = counts[rule.id] ?? [:]
            let chips: [Node] = RunStatus.allCases.compactMap { status in
                guard let n = perStatus[status], n > 0 else { return nil }
                return el(
                    "a", attrs: [("class", "chip st-\(status.rawValue)"), ("href", link("/ui/runs", [("rule", rule.id), ("status", status.rawValue)]))],
                    children: [txt("\(status.rawValue) \(n)")])
            }
            var facts: [(String, Node)] = [
                ("file", el("code", [:], txt("\(s["file"]?.stringValue ?? ""):\(Int(s["line"]?.numberValue ?? 0))"))),
                ("version", el("code", [:], txt(s["version"]?.stringValue ?? ""))),
                ("enabled", txt(s["enabled"]?.boolValue == true ? "yes" : "no")),
                ("events", txt((s["events"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ", "))),
                ("action", txt((s["action"]?.stringValue ?? "") + (s["campaign_id"]?.stringValue.map { " \($0)" } ?? ""))),
                ("schedule", txt(s["schedule"]?.stringValue ?? "")),
            ]
            if let d = s["description"]?.stringValue { facts.insert(("what", txt(d)), at: 0) }
            body.append(
                el(
                    "section", attrs: [("class", "card rule"), ("id", "rule-" + rule.id)],
                    children: [
                        el("h2", [:], txt(rule.id)), Layout.facts(facts),
                        el("div", ["class": "chips"], children: chips.isEmpty ? [el("span", ["class": "hint"], "no runs in the last 7 days")] : chips),
                    ]))
        }
        if answer.rules.isEmpty { body.append(el("p", ["class": "empty"], "No valid rules in the folder.")) }
        return page("Rules", "/ui/rules", body)
    }

    // MARK: Where sends land

    func landing(_ q: [String: String]) async throws -> Landing {
        let zone = try Self.zone(q)
        let days = try Self.int(q, "days", default: 7, range: 1...31)
        var from = now()
        if let text = q["from"], !text.isEmpty {
            if let d = Timestamp.parse(text) {
                from = d
            } else if let d = Timestamp.parse(text + "T00:00:00Z") {
                // A date: midnight in the chosen zone.
                from = d.addingTimeInterval(-Double(zone.secondsFromGMT(for: d)))
            } else {
                throw ConsoleError.badRequest("from '\(text)' is not a date (2026-12-08) or an ISO 8601 time", hint: "e.g. from=2026-12-08")
            }
        }
        let start = Landing.hourStart(from, zone: zone)
        let buckets = try await store.sendBuckets(from: start, to: start.addingTimeInterval(Double(days * 24) * 3600))
        var quiet: [String: (from: Int, to: Int)] = [:]
        for rule in (try? await providers.rules().rules) ?? [] { if let qh = rule.quietHours { quiet[rule.id] = qh } }
        let company = TimeZone(identifier: settings.companyZone) ?? TimeZone(identifier: "UTC")!
        return Landing.build(buckets: buckets, from: start, hourCount: days * 24, zone: zone, companyZone: company, quiet: quiet, rule: q["rule"].nonEmpty)
    }

    func sendsPage(_ q: [String: String]) async throws -> String {
        let landing = try await landing(q)
        let zoneName = landing.zone.identifier == "GMT" ? "UTC" : landing.zone.identifier
        let days = landing.hours.count / 24
        let form = el(
            "form", ["method": "get", "action": "/ui/sends", "class": "filters"],
            el("label", [:], el("span", [:], "Zone"), el("input", attrs: [("name", "zone"), ("value", q["zone"] ?? ""), ("placeholder", "UTC or Europe/Paris")])),
            el("label", [:], el("span", [:], "From"), el("input", attrs: [("name", "from"), ("value", q["from"] ?? ""), ("placeholder", "now, or 2026-12-08")])),
            el(
                "label", [:], el("span", [:], "Days"),
                el(
                    "select", ["name": "days"],
                    children: [1, 3, 7, 14, 31].map { d in el("option", attrs: [("value", String(d)), ("selected", d == days ? "selected" : nil)], children: [txt(String(d))]) })),
            el("label", [:], el("span", [:], "Rule"), el("input", attrs: [("name", "rule"), ("value", q["rule"] ?? ""), ("placeholder", "any")])),
            el("button", ["type": "submit"], "Show"))
        let planned = landing.hours.reduce(0) { $0 + $1.totalPlanned }, sent = landing.hours.reduce(0) { $0 + $1.totalSent }
        var body: [Node] = [
            el("h1", [:], "Where sends land"), form,
            el(
                "p", ["class": "hint", "id": "sends-summary"],
                txt(
                    "\(planned) planned and \(sent) sent send(s) from \(Landing.localText(landing.from, zone: landing.zone)) to \(Landing.localText(landing.to, zone: landing.zone)), per hour in \(zoneName)."
                )),
            el(
                "section", ["class": "card", "id": "hourly-all"], el("h2", [:], txt("All rules, per hour (\(zoneName))")),
                el("p", ["class": "legend"], el("span", ["class": "key planned"], ""), " planned ", el("span", ["class": "key sent"], ""), " sent (Braze holds the schedule)"),
                Charts.hourly(landing, rule: nil)),
        ]
        for rule in landing.rules {
            body.append(
                el(
                    "section", attrs: [("class", "card"), ("id", "hourly-" + rule)],
                    children: [el("h2", [:], txt("\(rule), per hour (\(zoneName))")), Charts.hourly(landing, rule: rule)]))
        }
        body.append(el("h2", [:], "By the recipient's local hour"))
        body.append(
            el(
                "p", ["class": "hint"],
                "Each send counted at its hour of day in the zone it is planned for: the user's own zone, or the company zone for plain sends. Shaded: the rule's quiet hours."))
        for rule in landing.rules {
            let quiet = landing.quiet[rule]
            body.append(
                el(
                    "section", attrs: [("class", "card"), ("id", "local-" + rule)],
                    children: [
                        el("h2", [:], txt(rule + (quiet.map { " (quiet \(Landing.clock($0.from))-\(Landing.clock($0.to)))" } ?? ""))),
                        Charts.localHours(landing.localHours[rule] ?? Array(repeating: 0, count: 24), quiet: quiet, rule: rule),
                    ]))
        }
        if landing.rules.isEmpty { body.append(el("p", ["class": "empty"], "No send is planned or sent in this window.")) }
        return page("Where sends land", "/ui/sends", body)
    }
}
