import FlintPluginAPI
import Foundation

/// Runs rule test cases through the same pure evaluation the engine uses.
public enum RuleTestRunner {
    public struct CaseResult: Sendable {
        public var file: String
        public var name: String
        public var location: SourceLocation
        public var passed: Bool
        /// What differed, one line each; empty when passed.
        public var problems: [String]
    }

    public static func run(_ suite: RuleTestSuite, rules: RuleSet, defaultZone: TimeZone, companyZone: TimeZone?, lead: Int = 60) -> [CaseResult] {
        let zone = suite.defaultZone.flatMap(ZoneName.resolve) ?? defaultZone
        let company = suite.companyZone.flatMap(ZoneName.resolve) ?? companyZone
        return suite.cases.map { c in
            var problems: [String] = []
            let caseZone = c.defaultZone.flatMap(ZoneName.resolve) ?? zone
            let caseCompany = c.companyZone.flatMap(ZoneName.resolve) ?? company
            check(c, rules: rules, context: PlanningContext(now: c.now, defaultZone: caseZone, companyZone: caseCompany, lead: lead), problems: &problems)
            return CaseResult(file: suite.file, name: c.name, location: c.location, passed: problems.isEmpty, problems: problems)
        }
    }

    private static func check(_ c: RuleTestSuite.Case, rules: RuleSet, context: PlanningContext, problems: inout [String]) {
        let event: Event
        switch Event.decode(c.event, receivedAt: c.now, fallbackMessageId: "test-\(c.location.line)") {
        case .failure(let rejection):
            problems.append("the event is invalid: \(rejection)")
            return
        case .success(let e): event = e
        }
        var profile = c.user
        if let zone = c.zone { profile = UserProfile(traits: profile?.traits ?? .object([:]), timeZone: zone) }
        let triggered = rules.rules(triggeredBy: event.name ?? "")
        let expect = c.expect
        if expect.outcome == .noRule {
            if let id = expect.rule, triggered.contains(where: { $0.id == id }) {
                problems.append("expected rule '\(id)' not to be triggered, but event '\(event.name ?? "")' triggers it")
            } else if expect.rule == nil, !triggered.isEmpty {
                problems.append("expected no rule, but the event triggers \(triggered.map(\.id).joined(separator: ", "))")
            }
            return
        }
        let rule: Rule
        if let id = expect.rule {
            guard let r = triggered.first(where: { $0.id == id }) else {
                if rules.rule(id: id) == nil {
                    problems.append("no rule '\(id)' is loaded")
                } else {
                    problems.append("rule '\(id)' is not triggered by event '\(event.name ?? "")' (or is disabled)")
                }
                return
            }
            rule = r
        } else {
            guard triggered.count == 1 else {
                problems.append(triggered.isEmpty
                    ? "no rule is triggered by event '\(event.name ?? "")'"
                    : "the event triggers \(triggered.count) rules (\(triggered.map(\.id).joined(separator: ", "))); say which with expect.rule")
                return
            }
            rule = triggered[0]
        }
        let decision = RuleEvaluator.evaluate(rule: rule, event: event, profile: profile, context: context)
        let actual: RuleTestSuite.Expectation.Outcome
        switch decision.outcome {
        case .planned: actual = .send
        case .notMatched: actual = .notMatched
        case .skipped: actual = .skipped
        case .failed: actual = .failed
        }
        if actual != expect.outcome {
            problems.append("expected outcome \(expect.outcome.rawValue), got \(actual.rawValue): \(decision.reason)")
            return
        }
        if let reason = expect.reason, !decision.reason.localizedCaseInsensitiveContains(reason) {
            problems.append("expected the reason to mention \"\(reason)\", got \"\(decision.reason)\"")
        }
        guard actual == .send, let body = decision.request else { return }
        let recipient = body["recipients"]?.arrayValue?.first
        func compare(_ what: String, _ expected: JSONValue?, _ seen: JSONValue?) {
            guard let expected else { return }
            if expected != (seen ?? .null) {
                problems.append("\(what): expected \(expected.compactJSON), got \((seen ?? .null).compactJSON)")
            }
        }
        compare("schedule", expect.schedule, body["schedule"])
        compare("trigger_properties", expect.triggerProperties, recipient?["trigger_properties"] ?? body["trigger_properties"])
        if let expected = expect.recipient {
            // Compare the identifier part; trigger_properties are checked on their own.
            var seen = recipient?.objectValue ?? [:]
            if expected["trigger_properties"] == nil { seen["trigger_properties"] = nil }
            compare("recipient", expected, .object(seen))
        }
        compare("send_id", expect.sendId, body["send_id"])
        compare("audience", expect.audience, body["audience"])
        compare("body", expect.body, body)
    }
}
