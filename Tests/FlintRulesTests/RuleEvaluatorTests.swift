import FlintPluginAPI
import FlintRules
import Foundation
import Testing

@Suite("Rule evaluation and the Braze request body")
struct RuleEvaluatorTests {
    static let now = Timestamp.parse("2026-11-29T18:06:00Z")!

    func rule(_ yaml: String) throws -> Rule {
        let result = RuleLoader.load([RuleFile(path: "t.yaml", text: yaml)])
        #expect(result.isValid, "\(result.diagnostics)")
        return try #require(result.ruleSet.rules.first)
    }

    func event(_ value: JSONValue) throws -> Event {
        try Event.decode(value, receivedAt: Self.now, fallbackMessageId: "m").get()
    }

    @Test("a user_alias recipient with typed trigger properties; missing values drop their key")
    func aliasRecipient() throws {
        let r = try rule("""
            id: welcome
            when: { event: App Installed }
            send:
              campaign_id: camp-1
              recipient: { user_alias: { alias_name: "{{ anonymousId }}", alias_label: anonymous_id } }
              trigger_properties:
                count: "{{ properties.count }}"
                vip: "{{ properties.vip }}"
                tags: "{{ properties.tags }}"
                missing: "{{ properties.nothing }}"
                greeting: "Hi {{ properties.name | default: 'there' }}, {{ properties.count }} items"
            schedule: { after: 10m }
            """)
        let e = try event([
            "event": "App Installed", "anonymousId": "anon-1", "timestamp": "2026-11-29T18:05:00Z",
            "properties": ["count": 3, "vip": true, "tags": ["a", "b"]],
        ])
        let d = RuleEvaluator.evaluate(rule: r, event: e, profile: nil, context: PlanningContext(now: Self.now))
        #expect(d.outcome == .planned)
        let expected: JSONValue = [
            "campaign_id": "camp-1", "broadcast": false,
            "recipients": [[
                "user_alias": ["alias_name": "anon-1", "alias_label": "anonymous_id"],
                "trigger_properties": ["count": 3, "vip": true, "tags": ["a", "b"], "greeting": "Hi there, 3 items"],
            ]],
            "schedule": ["time": "2026-11-29T18:15:00Z", "in_local_time": false, "at_optimal_time": false],
        ]
        #expect(d.request == expected, "\(d.request?.prettyJSON() ?? "")")
    }

    @Test("an email recipient carries its prioritization and nothing else as identifier")
    func emailRecipient() throws {
        let r = try rule("""
            id: e
            when: { event: E }
            send:
              campaign_id: c
              recipient: { email: "{{ traits.email }}", prioritization: [identified, most_recently_updated] }
            """)
        let d = RuleEvaluator.evaluate(
            rule: r, event: try event(["event": "E", "userId": "u", "traits": ["email": "a@example.com"]]), profile: nil,
            context: PlanningContext(now: Self.now))
        #expect(d.request?["recipients"] == [["email": "a@example.com", "prioritization": ["identified", "most_recently_updated"]]])
    }

    @Test("a recipient identifier that renders empty fails the run with that reason")
    func emptyRecipient() throws {
        let r = try rule("id: a\nwhen: { event: E }\nsend: { campaign_id: c }\n")
        let d = RuleEvaluator.evaluate(rule: r, event: try event(["event": "E", "anonymousId": "a-1"]), profile: nil, context: PlanningContext(now: Self.now))
        #expect(d.outcome == .failed("recipient external_user_id rendered empty from '{{ userId }}'"))
    }

    @Test("trigger_properties over 50 KB fail before anything is sent")
    func oversizedProperties() throws {
        let r = try rule("id: a\nwhen: { event: E }\nsend: { campaign_id: c, trigger_properties: { blob: \"{{ properties.blob }}\" } }\n")
        let small = String(repeating: "x", count: 51_200 - #"{"blob":""}"#.utf8.count)
        let ok = RuleEvaluator.evaluate(
            rule: r, event: try event(["event": "E", "userId": "u", "properties": ["blob": .string(small)]]), profile: nil,
            context: PlanningContext(now: Self.now))
        #expect(ok.outcome == .planned)
        let big = RuleEvaluator.evaluate(
            rule: r, event: try event(["event": "E", "userId": "u", "properties": ["blob": .string(small + "x")]]), profile: nil,
            context: PlanningContext(now: Self.now))
        #expect(big.outcome == .failed("trigger_properties are 51201 bytes of JSON; Braze accepts at most 51200 (50 KB)"))
    }

    @Test("broadcast sends no recipients and puts the properties at the top level")
    func broadcast() throws {
        let r = try rule("""
            id: sale
            when: { event: Flash Sale }
            send: { campaign_id: c, broadcast: true, allow_broadcast: true, trigger_properties: { pct: "{{ properties.pct }}" } }
            """)
        let d = RuleEvaluator.evaluate(rule: r, event: try event(["event": "Flash Sale", "userId": "ops", "properties": ["pct": 20]]), profile: nil, context: PlanningContext(now: Self.now))
        #expect(d.request?["broadcast"] == true)
        #expect(d.request?["recipients"] == nil)
        #expect(d.request?["trigger_properties"] == ["pct": 20])
    }

    @Test("the profile's zone applies when the event has none; a bad event zone is ignored with a note")
    func zones() throws {
        let r = try rule("id: a\nwhen: { event: E }\nsend: { campaign_id: c }\nschedule: { at: \"10:00\" }\n")
        let e = try event(["event": "E", "userId": "u", "timestamp": "2026-11-29T18:05:00Z", "context": ["timezone": "Mars/Base"]])
        let d = RuleEvaluator.evaluate(rule: r, event: e, profile: UserProfile(timeZone: "Asia/Tokyo"), context: PlanningContext(now: Self.now))
        // 18:05Z is 03:05 on Nov 30 in Tokyo; the next 10:00 there is 01:00Z on Nov 30.
        #expect(d.request?["schedule"]?["time"] == "2026-11-30T01:00:00Z")
        #expect(d.gates.contains { $0.name == "zone" && $0.detail.contains("context.timezone 'Mars/Base' is not in the tz database; used Asia/Tokyo (from profile)") })
    }

    @Test("conditions read the user's profile under user.")
    func profileCondition() throws {
        let r = try rule("id: a\nwhen: { event: E, if: { user.traits.plan: pro } }\nsend: { campaign_id: c }\n")
        let e = try event(["event": "E", "userId": "u"])
        let yes = RuleEvaluator.evaluate(rule: r, event: e, profile: UserProfile(traits: ["plan": "pro"]), context: PlanningContext(now: Self.now))
        let no = RuleEvaluator.evaluate(rule: r, event: e, profile: UserProfile(traits: ["plan": "free"]), context: PlanningContext(now: Self.now))
        #expect(yes.outcome == .planned)
        guard case .notMatched(let failure) = no.outcome else {
            Issue.record("expected not_matched, got \(no.outcome)")
            return
        }
        #expect(failure.path == "user.traits.plan")
        #expect(failure.seen == "free")
    }

    @Test("deciding unexplained (as the decider does) gives the same outcome, reason, send time, request and zone as explained, with no gates or steps")
    func unexplainedIsTheSameDecision() throws {
        let rules = try [
            """
            id: late-skip
            when: { event: E, if: { properties.n: { gt: 1 } } }
            send: { campaign_id: c-1 }
            schedule: { at: "09:00", time_zone: user, on: [mon, wed], if_late: skip, quiet_hours: { from: "21:00", to: "08:00" } }
            limit: { once_per: { key: "{{ userId }}", within: 1d } }
            """,
            """
            id: local
            when: { event: E }
            send: { campaign_id: c-2, trigger_properties: { n: "{{ properties.n }}" } }
            schedule: { after: 2h, at: "10:00", in_local_time: true }
            """,
            """
            id: optimal
            when: { event: E }
            send: { campaign_id: c-3, recipient: { email: "{{ properties.email }}", prioritization: [identified] } }
            schedule: { after: 3d, at_optimal_time: true }
            """,
            """
            id: far
            when: { event: E }
            send: { campaign_id: c-4 }
            schedule: { after: 89d, at: "23:59" }
            """,
            """
            id: plugin
            when: { event: E }
            send: { action: hook, with: { who: "{{ userId }}", n: "{{ properties.n }}" } }
            schedule: { after: 30m, quiet_hours: { from: "22:00", to: "07:00" }, time_zone: Australia/Lord_Howe }
            """,
        ].map(rule)
        let events = try [
            event(["event": "E", "userId": "u-1", "timestamp": "2026-11-29T18:05:00Z", "properties": ["n": 0], "context": ["timezone": "Europe/Paris"]]),
            event(["event": "E", "userId": "u-2", "timestamp": "2026-11-29T18:05:00Z", "properties": ["n": 5, "email": "a@b.c"], "context": ["timezone": "Asia/Kolkata"]]),
            event(["event": "E", "userId": "u-3", "timestamp": "2026-11-23T08:00:00Z", "properties": ["n": 3], "context": ["timezone": "Mars/Phobos"]]),
            event(["event": "E", "anonymousId": "a-4", "timestamp": "2026-11-29T18:06:00Z", "properties": ["n": 2, "email": ""]]),
        ]
        var outcomes: Set<String> = []
        for r in rules {
            for e in events {
                for profile in [nil, UserProfile(traits: ["plan": "pro"], timeZone: "America/New_York")] {
                    let explained = RuleEvaluator.evaluate(rule: r, event: e, profile: profile, context: PlanningContext(now: Self.now))
                    let bare = RuleEvaluator.evaluate(rule: r, event: e, profile: profile, context: PlanningContext(now: Self.now, explain: false))
                    let what = "\(r.id) for \(e.messageId)"
                    #expect(bare.outcome == explained.outcome, "\(what)")
                    #expect(bare.reason == explained.reason, "\(what)")
                    #expect(bare.sendAt == explained.sendAt && bare.schedule == explained.schedule, "\(what)")
                    #expect(bare.request == explained.request && bare.recipient == explained.recipient, "\(what)")
                    #expect(bare.zone == explained.zone && bare.oncePerKey == explained.oncePerKey, "\(what)")
                    #expect(bare.gates.isEmpty && bare.steps.isEmpty, "\(what)")
                    #expect(!explained.gates.isEmpty, "\(what)")
                    outcomes.insert(explained.statusName)
                }
            }
        }
        #expect(outcomes == ["not_matched", "skipped", "failed", "pending"], "every kind of outcome is compared")
    }
}
