import FlintPluginAPI
import FlintRules
import Testing

/// One test per validation error kind, each asserting file, line and column.
@Suite("Rule validation")
struct RuleValidationTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var yaml: String
        var line: Int
        var column: Int
        var message: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "unknown key at the top", yaml: """
            id: a
            when: { event: E }
            send: { campaign_id: c }
            shedule: { after: 1h }
            """, line: 4, column: 1, message: "unknown key 'shedule' in rule; did you mean 'schedule'?"),
        Case(name: "a mode other than live or shadow", yaml: """
            id: a
            mode: dry_run
            when: { event: E }
            send: { campaign_id: c }
            """, line: 2, column: 7, message: "mode: 'dry_run' is not one of live, shadow; did you mean 'shadow'?"),
        Case(name: "unknown key in schedule", yaml: """
            id: a
            when: { event: E }
            send: { campaign_id: c }
            schedule:
              after: 1h
              delay: 2h
            """, line: 6, column: 3, message: "unknown key 'delay' in schedule"),
        Case(name: "wrong type: enabled is not a boolean", yaml: """
            id: a
            enabled: yes
            when: { event: E }
            send: { campaign_id: c }
            """, line: 2, column: 10, message: "enabled: expected true or false"),
        Case(name: "wrong type: when.event is a mapping", yaml: """
            id: a
            when:
              event: { name: E }
            send: { campaign_id: c }
            """, line: 3, column: 10, message: "when.event: expected a string, got a mapping"),
        Case(name: "unknown operator", yaml: """
            id: a
            when:
              event: E
              if:
                properties.total: { greater: 20 }
            send: { campaign_id: c }
            """, line: 5, column: 25, message: "unknown operator 'greater'"),
        Case(name: "invalid IANA zone", yaml: """
            id: a
            when: { event: E }
            send: { campaign_id: c }
            schedule: { at: "10:00", time_zone: Europe/Pariss }
            """, line: 4, column: 37, message: "'Europe/Pariss' is not a time zone in the tz database; did you mean 'Europe/Paris'?"),
        Case(name: "bad duration", yaml: """
            id: a
            when: { event: E }
            send: { campaign_id: c }
            schedule:
              after: 2 hours
            """, line: 5, column: 10, message: "'2 hours' is not a duration"),
        Case(name: "bad time of day", yaml: """
            id: a
            when: { event: E }
            send: { campaign_id: c }
            schedule:
              at: "25:00"
            """, line: 5, column: 7, message: "schedule.at: expected a time of day HH:MM"),
        Case(name: "both Braze flags, reported at the second", yaml: """
            id: a
            when: { event: E }
            send: { campaign_id: c }
            schedule:
              at: "10:00"
              in_local_time: true
              at_optimal_time: true
            """, line: 7, column: 3, message: "mutually exclusive"),
        Case(name: "in_local_time without at", yaml: """
            id: a
            when: { event: E }
            send: { campaign_id: c }
            schedule:
              after: 1h
              in_local_time: true
            """, line: 6, column: 3, message: "schedule.in_local_time: needs 'at'"),
        Case(name: "on without at", yaml: """
            id: a
            when: { event: E }
            send: { campaign_id: c }
            schedule:
              after: 1h
              on: [mon, tue]
            """, line: 6, column: 3, message: "schedule.on: needs 'at'"),
        Case(name: "at inside quiet hours", yaml: """
            id: a
            when: { event: E }
            send: { campaign_id: c }
            schedule:
              at: "23:00"
              quiet_hours: { from: "21:00", to: "08:00" }
            """, line: 5, column: 7, message: "inside the quiet hours"),
        Case(name: "empty quiet hours", yaml: """
            id: a
            when: { event: E }
            send: { campaign_id: c }
            schedule:
              quiet_hours:
                from: "22:00"
                to: "22:00"
            """, line: 7, column: 9, message: "the window is empty"),
        Case(name: "a delay beyond 90 days", yaml: """
            id: a
            when: { event: E }
            send: { campaign_id: c }
            schedule: { after: 91d }
            """, line: 4, column: 20, message: "beyond Braze's 90-day scheduling horizon"),
        Case(name: "send_id longer than 64 characters", yaml: """
            id: a
            when: { event: E }
            send:
              campaign_id: c
              send_id: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
            """, line: 5, column: 12, message: "must be 1 to 64 ASCII characters"),
        Case(name: "send_id that is not ASCII", yaml: """
            id: a
            when: { event: E }
            send:
              campaign_id: c
              send_id: "réduction"
            """, line: 5, column: 12, message: "must be printable ASCII"),
        Case(name: "broadcast without allow_broadcast", yaml: """
            id: a
            when: { event: E }
            send:
              campaign_id: c
              broadcast: true
            """, line: 5, column: 14, message: "add 'allow_broadcast: true'"),
        Case(name: "a connected audience with a comparison of the wrong type", yaml: """
            id: a
            when: { event: E }
            send:
              campaign_id: c
              audience:
                AND:
                  - custom_attribute: { custom_attribute_name: age, comparison: greater_than, value: "30" }
            """, line: 7, column: 90, message: "'greater_than' needs a number"),
        Case(name: "a connected audience with an unknown filter", yaml: """
            id: a
            when: { event: E }
            send:
              campaign_id: c
              audience:
                sms_subscription_status: { comparison: is, value: opted_in }
            """, line: 6, column: 5, message: "unknown audience filter 'sms_subscription_status'"),
        Case(name: "exists takes no value in an audience", yaml: """
            id: a
            when: { event: E }
            send:
              campaign_id: c
              audience:
                custom_attribute: { custom_attribute_name: vip, comparison: exists, value: true }
            """, line: 6, column: 73, message: "'exists' takes no value"),
        Case(name: "an unparseable template", yaml: """
            id: a
            when: { event: E }
            send:
              campaign_id: c
              trigger_properties:
                name: "{{ properties.name "
            """, line: 6, column: 12, message: "invalid template: unclosed '{{'"),
        Case(name: "an unknown template filter", yaml: """
            id: a
            when: { event: E }
            send:
              campaign_id: c
              trigger_properties:
                name: "{{ properties.name | capitalize }}"
            """, line: 6, column: 33, message: "invalid template: unknown filter 'capitalize'"),
        Case(name: "a missing required key at its parent", yaml: """
            id: a
            when: { event: E }
            send:
              send_id: x
            """, line: 3, column: 1, message: "send: missing required key 'campaign_id'"),
        Case(name: "two recipient identifiers", yaml: """
            id: a
            when: { event: E }
            send:
              campaign_id: c
              recipient:
                external_user_id: "{{ userId }}"
                email: "{{ traits.email }}"
            """, line: 7, column: 5, message: "a second identifier"),
        Case(name: "an invalid rule id", yaml: """
            id: Cart Abandoned
            when: { event: E }
            send: { campaign_id: c }
            """, line: 1, column: 5, message: "id: 'Cart Abandoned' must be 1-128 characters of a-z"),
        Case(name: "an invalid regular expression", yaml: """
            id: a
            when:
              event: E
              if:
                properties.email: { matches: "([a-z" }
            send: { campaign_id: c }
            """, line: 5, column: 34, message: "properties.email matches"),
        Case(name: "in needs a list", yaml: """
            id: a
            when:
              event: E
              if:
                properties.plan: { in: pro }
            send: { campaign_id: c }
            """, line: 5, column: 28, message: "properties.plan in"),
        Case(name: "invalid YAML syntax", yaml: """
            id: a
            when: { event: E
            send: { campaign_id: c }
            """, line: 3, column: 5, message: "invalid YAML"),
        Case(name: "email recipient without prioritization", yaml: """
            id: a
            when: { event: E }
            send:
              campaign_id: c
              recipient: { email: "{{ traits.email }}" }
            """, line: 5, column: 16, message: "needs 'prioritization'"),
    ]

    @Test("each validation error points at file, line and column", arguments: cases)
    func reportsAtPosition(_ c: Case) throws {
        let result = RuleLoader.load([RuleFile(path: "rules/x.yaml", text: c.yaml)])
        #expect(!result.isValid)
        let hit = result.errors.first { $0.message.contains(c.message) }
        let found = result.errors.map(\.description).joined(separator: "\n")
        let diagnostic = try #require(hit, "no error mentions \"\(c.message)\"; got:\n\(found)")
        #expect(diagnostic.file == "rules/x.yaml")
        #expect(diagnostic.line == c.line, "line: \(diagnostic)")
        #expect(diagnostic.column == c.column, "column: \(diagnostic)")
        #expect(diagnostic.description.hasPrefix("rules/x.yaml:\(c.line):\(c.column): error: "))
    }

    @Test("duplicate ids across files are reported at the second, naming the first")
    func duplicateIDs() throws {
        let a = RuleFile(path: "rules/a.yaml", text: "id: dup\nwhen: { event: E }\nsend: { campaign_id: c }\n")
        let b = RuleFile(path: "rules/b.yaml", text: "# second\nid: dup\nwhen: { event: F }\nsend: { campaign_id: c }\n")
        let result = RuleLoader.load([b, a])
        let d = try #require(result.errors.first)
        #expect(result.errors.count == 1)
        #expect(d.description == "rules/b.yaml:2:5: error: duplicate rule id 'dup' (first defined at rules/a.yaml:1:1)")
    }

    @Test("all problems of a set are reported in one pass")
    func allProblemsInOnePass() {
        let text = """
            rules:
              - id: one
                when: { event: E }
                send: { campaign_id: c, colour: red }
                schedule: { after: 100d }
              - id: two
                when: { event: E, if: { properties.x: { near: 1 } } }
                send: { campaign_id: c }
                schedule: { at: "10:00", time_zone: Mars/Olympus }
            """
        let result = RuleLoader.load([RuleFile(path: "r.yaml", text: text), RuleFile(path: "s.yml", text: "id: s\nwhen: {}\nsend: {}\n")])
        let lines = result.errors.map { "\($0.file):\($0.line)" }
        #expect(lines == ["r.yaml:4", "r.yaml:5", "r.yaml:7", "r.yaml:9", "s.yml:2", "s.yml:3"], "\(result.errors)")
    }

    @Test("YAML is read as a person means it: on is a key, 10:00 is a time, yes is not a boolean")
    func yamlReading() throws {
        let text = """
            id: weekday
            when: { event: E }
            send: { campaign_id: "123", trigger_properties: { code: 0012, flag: yes, n: 10 } }
            schedule:
              at: 10:00
              on: [mon, fri]
            """
        let result = RuleLoader.load([RuleFile(path: "w.yaml", text: text)])
        #expect(result.isValid, "\(result.diagnostics)")
        let rule = try #require(result.ruleSet.rules.first)
        #expect(rule.schedule.at == TimeOfDay(hour: 10, minute: 0))
        #expect(rule.schedule.on == [.mon, .fri])
        #expect(rule.send.campaignId == "123")
        let rendered = rule.send.triggerProperties?.render(in: .object([:]))
        #expect(rendered == ["code": 12, "flag": "yes", "n": 10])
    }

    @Test("JSON rule files are read with positions too")
    func jsonRules() {
        let text = """
            {
              "id": "j",
              "when": {"event": "E"},
              "send": {"campaign_id": "c"},
              "schedule": {"after": "forever"}
            }
            """
        let result = RuleLoader.load([RuleFile(path: "j.json", text: text)])
        #expect(result.errors.map(\.description) == [
            "j.json:5:25: error: schedule.after: 'forever' is not a duration; write a number and a unit (s, m, h, d, w), e.g. 90s, 2h, 1h30m, 7d"
        ])
    }

    @Test("a send_id that reads a user identifier is a warning, not an error")
    func sendIdWarning() {
        let text = "id: a\nwhen: { event: E }\nsend: { campaign_id: c, send_id: \"s-{{ userId }}\" }\n"
        let result = RuleLoader.load([RuleFile(path: "a.yaml", text: text)])
        #expect(result.isValid)
        #expect(result.warnings.count == 1)
        #expect(result.warnings.first?.message.contains("send_id reads a user identifier") == true)
    }

    @Test("the rule version changes with meaning, not with formatting")
    func ruleVersion() throws {
        let a = RuleLoader.load([RuleFile(path: "a.yaml", text: "id: a\nwhen: { event: E }\nsend: { campaign_id: c }\n")])
        let b = RuleLoader.load([RuleFile(path: "a.yaml", text: "# a comment\nsend:\n  campaign_id: \"c\"\nid: a\nwhen:\n  event: E\n")])
        let c = RuleLoader.load([RuleFile(path: "a.yaml", text: "id: a\nwhen: { event: E }\nsend: { campaign_id: d }\n")])
        let va = try #require(a.ruleSet.rules.first?.version)
        #expect(va == b.ruleSet.rules.first?.version)
        #expect(va != c.ruleSet.rules.first?.version)
        #expect(va.count == 16)
    }
}
