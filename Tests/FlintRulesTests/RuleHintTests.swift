import FlintRules
import Testing

/// Errors that say what to do: did-you-mean for closed sets of words and operators, plain words for
/// YAML indentation, and the at_optimal_time notice warning.
@Suite("Rule errors that say what to do")
struct RuleHintTests {
    static func check(_ yaml: String) -> [String] {
        RuleLoader.load([RuleFile(path: "r.yaml", text: yaml)]).diagnostics.map(\.description)
    }

    struct Hint: Sendable, CustomTestStringConvertible {
        var name: String
        var yaml: String
        var expected: String
        var testDescription: String { name }
    }

    @Test("a misspelt word from a closed set gets the word that was meant, at its position", arguments: [
        Hint(name: "if_late: skipp", yaml: "id: a\nwhen: { event: E }\nsend: { campaign_id: c }\nschedule: { if_late: skipp }\n",
             expected: "r.yaml:4:22: error: schedule.if_late: 'skipp' is not one of send_now, skip; did you mean 'skip'?"),
        Hint(name: "if_late: Send-Now", yaml: "id: a\nwhen: { event: E }\nsend: { campaign_id: c }\nschedule: { if_late: Send-Now }\n",
             expected: "did you mean 'send_now'?"),
        Hint(name: "weekday written in full", yaml: "id: a\nwhen: { event: E }\nsend: { campaign_id: c }\nschedule: { at: \"10:00\", on: [monday, fri] }\n",
             expected: "r.yaml:4:31: error: schedule.on: expected weekdays mon, tue, wed, thu, fri, sat, sun, got 'monday'; did you mean 'mon'?"),
        Hint(name: "weekday abbreviated differently", yaml: "id: a\nwhen: { event: E }\nsend: { campaign_id: c }\nschedule: { at: \"10:00\", on: [thurs] }\n",
             expected: "did you mean 'thu'?"),
        Hint(name: "time_zone: User", yaml: "id: a\nwhen: { event: E }\nsend: { campaign_id: c }\nschedule: { time_zone: User }\n",
             expected: "r.yaml:4:24: error: schedule.time_zone: 'User' is not a time zone; did you mean 'user' (the user's own zone)?"),
        Hint(name: "operator equals", yaml: "id: a\nwhen: { event: E, if: { properties.plan: { equals: pro } } }\nsend: { campaign_id: c }\n",
             expected: "r.yaml:2:44: error: unknown operator 'equals' for properties.plan; did you mean 'eq'?"),
        Hint(name: "operator greater_than", yaml: "id: a\nwhen: { event: E, if: { properties.n: { greater_than: 1 } } }\nsend: { campaign_id: c }\n",
             expected: "did you mean 'gt'?"),
        Hint(name: "operator startswith", yaml: "id: a\nwhen: { event: E, if: { properties.n: { startswith: a } } }\nsend: { campaign_id: c }\n",
             expected: "did you mean 'starts_with'?"),
        Hint(name: "recipient kind", yaml: "id: a\nwhen: { event: E }\nsend: { campaign_id: c, recipient: { external_id: x } }\n",
             expected: "unknown key 'external_id' in send.recipient; did you mean 'external_user_id'?"),
        Hint(name: "email prioritization", yaml: "id: a\nwhen: { event: E }\nsend: { campaign_id: c, recipient: { email: a@b.c, prioritization: [identifed] } }\n",
             expected: "did you mean 'identified'?"),
        Hint(name: "template filter", yaml: "id: a\nwhen: { event: E }\nsend: { campaign_id: c, trigger_properties: { n: \"{{ name | uppercase }}\" } }\n",
             expected: "unknown filter 'uppercase'; did you mean 'upcase'?"),
    ])
    func didYouMean(_ hint: Hint) {
        let messages = Self.check(hint.yaml)
        #expect(messages.contains { $0.contains(hint.expected) }, "\(messages)")
    }

    @Test("libyaml's words for bad indentation become a plain sentence at the line that is wrong", arguments: [
        Hint(name: "a key indented further than its siblings", yaml: "id: a\nwhen:\n  event: E\n    if: x\nsend: { campaign_id: c }\n",
             expected: "r.yaml:4:7: error: bad indentation: this line is indented further than the keys above it"),
        Hint(name: "a key indented less than its siblings", yaml: "id: a\nsend:\n    campaign_id: c\n  send_id: x\nwhen: { event: E }\n",
             expected: "r.yaml:4:3: error: bad indentation: this line does not line up with the keys above it (check that keys at the same level start in the same column)"),
        Hint(name: "a tab", yaml: "id: a\nwhen: { event: E }\nsend: { campaign_id: c }\nschedule:\n\tafter: 2h\n",
             expected: "r.yaml:5:1: error: a tab in the indentation: YAML is indented with spaces only"),
        Hint(name: "a line without a colon", yaml: "id: a\nwhen: { event: E }\nsend: { campaign_id: c }\ndescription\nschedule: {}\n",
             expected: "r.yaml:4:1: error: a line without ':' in a mapping"),
    ])
    func indentation(_ hint: Hint) {
        let messages = Self.check(hint.yaml)
        #expect(messages.count == 1 && messages[0].hasPrefix(hint.expected), "\(messages)")
        #expect(!messages.joined().contains("mapping values are not allowed"))
        #expect(!messages.joined().contains("did not find expected key"))
    }

    @Test("at_optimal_time with under 48 hours of delay is a warning (the set stays valid); 48h or more is not")
    func optimalNotice() {
        let base = "id: a\nwhen: { event: E }\nsend: { campaign_id: c }\nschedule:\n"
        let short = RuleLoader.load([RuleFile(path: "r.yaml", text: base + "  after: 2h\n  at_optimal_time: true\n")])
        #expect(short.isValid)
        #expect(short.warnings.map(\.description) == [
            "r.yaml:5:10: warning: schedule.after: 2h is under 48h with at_optimal_time: true; the planned date is then less than 48 hours away and "
                + "Braze may miss users (Intelligent Timing wants the schedule 48 hours ahead). Set after: 48h or more, or drop at_optimal_time",
        ])
        let none = RuleLoader.load([RuleFile(path: "r.yaml", text: base + "  at_optimal_time: true\n")])
        #expect(none.warnings.first?.description.hasPrefix("r.yaml:5:3: warning: schedule: no 'after', so the delay is under 48h") == true)
        for ok in ["  after: 48h\n  at_optimal_time: true\n", "  after: 3d\n  at_optimal_time: true\n", "  after: 2h\n  at_optimal_time: false\n"] {
            let loaded = RuleLoader.load([RuleFile(path: "r.yaml", text: base + ok)])
            #expect(loaded.diagnostics.isEmpty, "\(ok): \(loaded.diagnostics)")
        }
    }
}
