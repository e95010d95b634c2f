import FlintPluginAPI
import FlintRules
import Foundation
import Testing

/// Zone names: every tz database name is a zone (links included), everywhere a zone is read; names
/// that are not get a did-you-mean.
@Suite("Time-zone names")
struct ZoneNameTests {
    static let tzdata = "/usr/share/zoneinfo/tzdata.zi"
    static let now = Timestamp.parse("2026-11-29T18:00:00Z")!
    static let utc = ZoneName.resolve("UTC")!

    /// Every Zone (`Z NAME`) and Link (`L TARGET NAME`) name the machine's tz database lists.
    static func tzNames() throws -> [String] {
        let text = try String(contentsOfFile: tzdata, encoding: .utf8)
        var names: [String] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, fields[0] == "Z" { names.append(String(fields[1])) }
            if fields.count >= 3, fields[0] == "L" { names.append(String(fields[2])) }
        }
        return names
    }

    static func rule(id: String, zone: String) -> String {
        "- id: \(id)\n  when: { event: E }\n  send: { campaign_id: c }\n  schedule: { at: \"10:00\", time_zone: \(zone) }\n"
    }

    @Test(
        "every zone and link in the machine's tz database is accepted by the rule validator and planned by the planner",
        .enabled(if: FileManager.default.fileExists(atPath: tzdata), "skipped: /usr/share/zoneinfo/tzdata.zi is absent (install tzdata)"))
    func everyTZName() throws {
        let names = try Self.tzNames()
        try #require(names.count > 400, "tzdata.zi lists only \(names.count) names")
        #expect(names.contains("Asia/Kolkata") && names.contains("Etc/UTC") && names.contains("US/Eastern"))

        // One file of rules, one per name: the whole set is valid.
        let yaml = "rules:\n" + names.enumerated().map { Self.rule(id: "z\($0.offset)", zone: $0.element) }.joined()
        let loaded = RuleLoader.load([RuleFile(path: "rules/zones.yaml", text: yaml)])
        #expect(loaded.errors.isEmpty, "\(loaded.errors.prefix(10).map(\.description).joined(separator: "\n"))")
        #expect(loaded.ruleSet.rules.count == names.count)

        for (rule, name) in zip(loaded.ruleSet.rules, names) {
            #expect(ZoneName.resolve(name) != nil, "ZoneName.resolve refuses \(name)")
            // Named by the rule, and as the user's zone.
            let named = Planner.plan(PlannerInput(eventTime: Self.now, now: Self.now, schedule: rule.schedule, userZone: nil, defaultZone: Self.utc))
            var spec = rule.schedule
            spec.timeZone = .user
            let asUser = Planner.plan(
                PlannerInput(eventTime: Self.now, now: Self.now, schedule: spec, userZone: ZoneName.resolve(name), defaultZone: Self.utc))
            for plan in [named, asUser] {
                guard case .send = plan.outcome else {
                    Issue.record("\(name): the planner did not plan a send: \(plan.outcome)")
                    continue
                }
            }
        }
    }

    @Test("names ICU's canonical list lacks are zones: links, Etc/ and the bare names", arguments: [
        "Asia/Kolkata", "Asia/Calcutta", "Etc/UTC", "UTC", "US/Eastern", "Europe/Kyiv", "Europe/Kiev", "Etc/GMT-5", "GMT", "EST5EDT", "Japan",
    ])
    func linksAreZones(name: String) throws {
        let zone = try #require(ZoneName.resolve(name))
        #expect(ZoneName.isValid(name))
        #expect(ZoneName.suggestions(for: name).isEmpty || ZoneName.suggestions(for: name) == [name])
        if name == "Asia/Kolkata" { #expect(zone.secondsFromGMT(for: Self.now) == 19_800) }
    }

    struct Refused: Sendable, CustomTestStringConvertible {
        var name: String
        var suggestion: String?
        var testDescription: String { "\(name) -> \(suggestion ?? "nothing")" }
    }

    @Test("names that are not in the tz database are refused, with the name that was probably meant", arguments: [
        Refused(name: "Europe/Pari", suggestion: "Europe/Paris"),
        Refused(name: "europe/paris", suggestion: "Europe/Paris"),
        Refused(name: "America/New York", suggestion: "America/New_York"),
        Refused(name: "Asia/Kolkatta", suggestion: "Asia/Kolkata"),
        Refused(name: "Kolkata", suggestion: "Asia/Kolkata"),
        Refused(name: "IST", suggestion: "Asia/Kolkata"),
        Refused(name: "PST", suggestion: "America/Los_Angeles"),
        Refused(name: "UTC+5", suggestion: "Etc/GMT-5"),
        Refused(name: "GMT-03:00", suggestion: "Etc/GMT+3"),
        Refused(name: "SystemV/AST4", suggestion: nil),
        Refused(name: "Mars/Phobos", suggestion: nil),
        Refused(name: "", suggestion: nil),
    ])
    func refused(_ c: Refused) {
        #expect(ZoneName.resolve(c.name) == nil)
        let suggestions = ZoneName.suggestions(for: c.name)
        if let expected = c.suggestion {
            #expect(suggestions.first == expected, "\(suggestions)")
            #expect(ZoneName.problem(c.name).contains("did you mean '\(expected)'"))
        } else {
            #expect(ZoneName.problem(c.name).contains("is not a time zone in the tz database"))
        }
        for s in suggestions { #expect(ZoneName.isValid(s), "suggested \(s), which is not a zone") }
    }

    @Test("Europe/Pari suggests Paris only, not every city a few letters away")
    func nearestOnly() {
        #expect(ZoneName.suggestions(for: "Europe/Pari") == ["Europe/Paris"])
    }

    @Test("the default zone is called UTC in the trace, never GMT")
    func utcName() throws {
        let rule = try #require(RuleLoader.load([RuleFile(path: "t.yaml", text: "id: a\nwhen: { event: E }\nsend: { campaign_id: c }\nschedule: { at: \"10:00\" }\n")]).ruleSet.rules.first)
        let event = try Event.decode(["event": "E", "userId": "u"], receivedAt: Self.now, fallbackMessageId: "m").get()
        let d = RuleEvaluator.evaluate(rule: rule, event: event, profile: nil, context: PlanningContext(now: Self.now))
        #expect(d.zone == "UTC")
        let gate = try #require(d.gates.first { $0.name == "zone" })
        #expect(gate.detail == "user zone unknown; default_time_zone UTC")
        #expect(!d.steps.map(\.message).joined().contains("GMT"))
    }

    @Test("the user's zone: the event's context.timezone, then the profile, then the default; unknown names are noted")
    func userZoneOrder() throws {
        func event(_ zone: String?) throws -> Event {
            var o: [String: JSONValue] = ["event": "E", "userId": "u"]
            if let zone { o["context"] = ["timezone": .string(zone)] }
            return try Event.decode(.object(o), receivedAt: Self.now, fallbackMessageId: "m").get()
        }
        let paris = ZoneName.resolve("Europe/Paris")!
        let fromEvent = RuleEvaluator.userZone(event: try event("Asia/Kolkata"), profile: UserProfile(timeZone: "Asia/Tokyo"), defaultZone: paris)
        #expect(fromEvent.zone?.identifier == "Asia/Kolkata" && fromEvent.source == "context.timezone" && fromEvent.notes.isEmpty)

        let fromProfile = RuleEvaluator.userZone(event: try event(nil), profile: UserProfile(timeZone: "US/Eastern"), defaultZone: paris)
        #expect(fromProfile.zone?.identifier == "US/Eastern" && fromProfile.source == "profile")

        let bothBad = RuleEvaluator.userZone(event: try event("Mars/Phobos"), profile: UserProfile(timeZone: "Moon/Base"), defaultZone: paris)
        #expect(bothBad.zone == nil && bothBad.source == "default_time_zone")
        #expect(bothBad.unknown == ["Mars/Phobos", "Moon/Base"])
        #expect(bothBad.notes == [
            "context.timezone 'Mars/Phobos' is not in the tz database; used Europe/Paris (from default_time_zone)",
            "the profile's zone 'Moon/Base' is not in the tz database; used Europe/Paris (from default_time_zone)",
        ])
        let prepared = PreparedEvent(event: try event("Mars/Phobos"), profile: nil, defaultZone: Self.utc)
        #expect(prepared.unknownZones == ["Mars/Phobos"])
        #expect(prepared.zoneDetail == "context.timezone 'Mars/Phobos' is not in the tz database; used UTC (from default_time_zone)")
    }

    @Test("a rule test file accepts link names and says did-you-mean for the others")
    func testFileZones() throws {
        let good = RuleTestSuite.parse(RuleFile(path: "rules/a.test.yaml", text: """
            now: "2026-11-29T18:00:00Z"
            default_time_zone: Etc/UTC
            company_time_zone: US/Eastern
            cases:
              - event: { event: E, userId: u }
                zone: Asia/Kolkata
                expect: { outcome: send }
            """))
        guard case .success(let suite) = good else {
            Issue.record("refused: \(good)")
            return
        }
        #expect(suite.cases.first?.zone == "Asia/Kolkata")

        let bad = RuleTestSuite.parse(RuleFile(path: "rules/b.test.yaml", text: """
            now: "2026-11-29T18:00:00Z"
            default_time_zone: Europe/Pari
            cases:
              - event: { event: E, userId: u }
                zone: Asia/Kolkatta
                company_time_zone: IST
                expect: { outcome: sent }
            """))
        guard case .failure(let error) = bad else {
            Issue.record("accepted a test file with bad zones")
            return
        }
        let messages = error.diagnostics.map(\.description)
        #expect(messages.contains("rules/b.test.yaml:2:20: error: default_time_zone: 'Europe/Pari' is not a time zone in the tz database; did you mean 'Europe/Paris'?"))
        #expect(messages.contains("rules/b.test.yaml:5:11: error: cases[0].zone: 'Asia/Kolkatta' is not a time zone in the tz database; did you mean 'Asia/Kolkata'?"))
        #expect(messages.contains { $0.hasPrefix("rules/b.test.yaml:6:24: error: cases[0].company_time_zone: 'IST'") && $0.contains("did you mean 'Asia/Kolkata'?") })
        #expect(messages.contains { $0.hasPrefix("rules/b.test.yaml:7:24: error: expect.outcome: 'sent'") && $0.contains("did you mean 'send'?") })
    }
}
