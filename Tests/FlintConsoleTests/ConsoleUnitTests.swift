@testable import FlintConsole
import FlintCore
import FlintPluginAPI
import FlintStore
import Foundation
import Testing

@Suite("Console pieces")
struct ConsoleUnitTests {
    @Test("text and attribute values from events are escaped: script and broken-out attributes show as text")
    func escaping() {
        let hostile = #""><img src=x onerror=alert(1)><script>alert(2)</script>'"#
        let html = el("div", attrs: [("title", hostile), ("class", "x")], children: [txt(hostile)]).render()
        #expect(!html.contains("<script>"))
        #expect(!html.contains("<img"))
        #expect(html.contains("&lt;script&gt;"))
        #expect(html.contains("title=\"&quot;&gt;&lt;img"))
        #expect(html.contains("&#39;"))
    }

    @Test("the builder writes no inline style, no event handler and no inline script")
    func noInlineCode() {
        let html = el("p", attrs: [("style", "color:red"), ("onclick", "x()"), ("OnLoad", "y()"), ("id", "ok")], children: ["hi"]).render()
        #expect(html == "<p id=\"ok\">hi</p>")
        let script = el("script", ["src": "/ui/app.js"], "alert(1)").render()
        #expect(script == "<script src=\"/ui/app.js\"></script>")
    }

    @Test("form and query values decode + as a space and percent escapes")
    func formDecoding() {
        let q = FormData.parse("user=a+b%2Bc&next=%2Fui%2Fruns%3Fstatus%3Dfailed&empty=")
        #expect(q["user"] == "a b+c")
        #expect(q["next"] == "/ui/runs?status=failed")
        #expect(q["empty"] == "")
    }

    @Test("a login may only send the browser on to a page of the console")
    func safeNext() {
        #expect(Console.safeNext("/ui/runs?status=failed") == "/ui/runs?status=failed")
        #expect(Console.safeNext("//evil.example/") == "/ui/")
        #expect(Console.safeNext("https://evil.example/") == "/ui/")
        #expect(Console.safeNext(nil) == "/ui/")
    }

    @Test("the cookie holds an HMAC of the token, never the token, and only a configured token's HMAC is accepted")
    func cookie() {
        let auth = ConsoleAuth(tokens: ["s3cret-token"])
        let value = auth.cookieValue(for: "s3cret-token")
        #expect(!value.contains("s3cret"))
        #expect(value.count == 64)
        #expect(auth.accepts(cookie: value))
        #expect(!auth.accepts(cookie: auth.cookieValue(for: "other")))
        #expect(!ConsoleAuth(tokens: ["s3cret-token"]).accepts(cookie: value), "another process draws another key")
        #expect(auth.setCookie(for: "s3cret-token").contains("HttpOnly; SameSite=Strict; Path=/"))
        #expect(auth.allows(authorization: "Bearer s3cret-token", cookieHeader: nil))
        #expect(auth.allows(authorization: nil, cookieHeader: "a=1; flint_console=\(value)"))
        #expect(!auth.allows(authorization: "Bearer nope", cookieHeader: "flint_console=\(auth.cookieValue(for: "nope"))"))
        #expect(ConsoleAuth(tokens: []).allows(authorization: nil, cookieHeader: nil))
    }

    /// 09:00 in New York on the five days around the start of DST (2027-03-14): 14:00 UTC before,
    /// 13:00 UTC after.
    static func newYorkMornings() -> [SendBucket] {
        let ny = TimeZone(identifier: "America/New_York")!
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = ny
        return (12...16).map { day in
            let date = calendar.date(from: DateComponents(year: 2027, month: 3, day: day, hour: 9))!
            return SendBucket(ruleId: "digest", zone: "America/New_York", start: date, planned: day == 16 ? 0 : 2, sent: day == 16 ? 1 : 0)
        } + [
            // A plain send (no zone of its own): counted in the company zone.
            SendBucket(ruleId: "plain", zone: nil, start: Timestamp.parse("2027-03-01T12:00:00Z")!, planned: 1, sent: 0)
        ]
    }

    @Test("across a DST change every 09:00 send lands in local hour 9, whatever its UTC hour")
    func localHoursAcrossDST() {
        let from = Timestamp.parse("2027-03-11T00:00:00Z")!
        let utc = TimeZone(identifier: "UTC")!
        let landing = Landing.build(
            buckets: Self.newYorkMornings(), from: from, hourCount: 7 * 24, zone: utc, companyZone: TimeZone(identifier: "Europe/Paris")!,
            quiet: ["digest": (from: 22 * 60, to: 7 * 60)])
        #expect(landing.localHours["digest"]?[9] == 9)
        #expect(landing.localHours["digest"]?.reduce(0, +) == 9)
        // In UTC the bars move an hour earlier after the change.
        let utcHours = landing.hours.filter { ($0.planned["digest"] ?? 0) + ($0.sent["digest"] ?? 0) > 0 }
            .map { Landing.localHour($0.start, zone: utc) }
        #expect(utcHours == [14, 14, 13, 13, 13])
        // Before the window: not counted.
        #expect(landing.localHours["plain"] == nil)
    }

    @Test("per hour in a chosen zone, the same sends stand at 09:00 local each day; the company zone counts plain sends")
    func hourlyInZone() {
        let ny = TimeZone(identifier: "America/New_York")!
        let paris = TimeZone(identifier: "Europe/Paris")!
        let plainAt = Timestamp.parse("2027-03-13T16:30:00Z")!  // 17:30 in Paris
        let buckets = Self.newYorkMornings() + [SendBucket(ruleId: "plain", zone: nil, start: plainAt, planned: 3, sent: 0)]
        let landing = Landing.build(
            buckets: buckets, from: Timestamp.parse("2027-03-11T12:00:00Z")!, hourCount: 7 * 24, zone: ny, companyZone: paris, quiet: [:])
        let digestHours = landing.hours.filter { ($0.planned["digest"] ?? 0) + ($0.sent["digest"] ?? 0) > 0 }
        #expect(digestHours.map { Landing.localText($0.start, zone: ny) } == [
            "2027-03-12T09:00:00-05:00", "2027-03-13T09:00:00-05:00", "2027-03-14T09:00:00-04:00", "2027-03-15T09:00:00-04:00",
            "2027-03-16T09:00:00-04:00",
        ])
        #expect(landing.localHours["plain"]?[17] == 3)
        let svg = Charts.localHours(landing.localHours["digest"]!, quiet: (22 * 60, 7 * 60), rule: "digest").render()
        #expect(svg.contains("data-hour=\"9\" data-count=\"9\""))
        #expect(svg.contains("class=\"quiet\""))
        #expect(svg.contains("<title>09:00-10:00 local: 9 sends</title>"))
    }

    @Test("an hour in a zone whose offset is not whole hours starts off UTC's hours")
    func halfHourZones() {
        let kolkata = TimeZone(identifier: "Asia/Kolkata")!
        let start = Landing.hourStart(Timestamp.parse("2026-12-08T10:10:00Z")!, zone: kolkata)
        #expect(Timestamp.formatUTC(start) == "2026-12-08T09:30:00Z")
        #expect(Landing.localText(start, zone: kolkata) == "2026-12-08T15:00:00+05:30")
    }
}
