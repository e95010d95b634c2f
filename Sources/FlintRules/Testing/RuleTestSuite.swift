import FlintPluginAPI
import Foundation

/// A rule test file (`*.test.yaml` beside the rules): a fixed clock, events, expected outcomes.
public struct RuleTestSuite: Sendable {
    public struct Expectation: Sendable {
        public enum Outcome: String, Sendable, CaseIterable {
            case send, notMatched = "not_matched", skipped, failed
            /// No enabled rule is triggered by the event.
            case noRule = "no_rule"
        }

        public var rule: String?
        public var outcome: Outcome
        public var reason: String?
        /// Expected keys of the request body / recipient, compared exactly.
        public var schedule: JSONValue?
        public var triggerProperties: JSONValue?
        public var recipient: JSONValue?
        public var sendId: JSONValue?
        public var audience: JSONValue?
        public var body: JSONValue?
    }

    public struct Case: Sendable {
        public var name: String
        public var location: SourceLocation
        public var event: JSONValue
        public var user: UserProfile?
        public var now: Date
        public var zone: String?
        /// Per-case overrides of the file's zones.
        public var defaultZone: String?
        public var companyZone: String?
        public var expect: Expectation
    }

    public var file: String
    public var defaultZone: String?
    public var companyZone: String?
    public var cases: [Case]

    static let fileKeys = ["now", "rule", "default_time_zone", "company_time_zone", "cases"]
    static let caseKeys = ["name", "event", "user", "now", "zone", "default_time_zone", "company_time_zone", "expect"]
    static let expectKeys = ["rule", "outcome", "reason", "schedule", "trigger_properties", "recipient", "send_id", "audience", "body"]

    /// Parses a test file; every problem is a diagnostic with its position.
    public static func parse(_ file: RuleFile) -> Result<RuleTestSuite, RuleTestFileError> {
        let root: SourceNode
        switch SourceNode.parse(file.text, file: file.path) {
        case .failure(let d): return .failure(RuleTestFileError(diagnostics: [d]))
        case .success(nil):
            return .failure(RuleTestFileError(diagnostics: [Diagnostic(severity: .error, file: file.path, line: 1, column: 1, message: "the test file is empty")]))
        case .success(let node?): root = node
        }
        var d = RuleDecoder(file: file.path)
        var suite = RuleTestSuite(file: file.path, cases: [])
        guard let f = d.fields(root, in: "test file", allowed: fileKeys) else { return .failure(RuleTestFileError(diagnostics: d.diagnostics)) }
        var fileNow: Date?
        if let (_, v) = f["now"] { fileNow = d.instant(v, "now") }
        let fileRule = f["rule"].flatMap { d.string($0.value, "rule") }
        for key in ["default_time_zone", "company_time_zone"] {
            if let (_, v) = f[key], let name = d.string(v, key) {
                if !ZoneName.isValid(name) { d.error(v, "\(key): " + ZoneName.problem(name)) }
                if key == "default_time_zone" { suite.defaultZone = name } else { suite.companyZone = name }
            }
        }
        guard let (casesKey, casesNode) = f["cases"] else {
            d.error(root, "test file: missing required key 'cases' (a list of {name, event, expect})")
            return .failure(RuleTestFileError(diagnostics: d.diagnostics))
        }
        guard let items = casesNode.sequence, !items.isEmpty else {
            d.error(casesKey, "cases: expected a non-empty list of {name, event, expect}")
            return .failure(RuleTestFileError(diagnostics: d.diagnostics))
        }
        for (i, item) in items.enumerated() {
            guard let c = d.fields(item, in: "cases[\(i)]", allowed: caseKeys) else { continue }
            let name = c["name"].flatMap { d.string($0.value, "cases[\(i)].name") } ?? "case \(i + 1)"
            var now = fileNow
            if let (_, v) = c["now"] { now = d.instant(v, "cases[\(i)].now") }
            if now == nil, c["now"] == nil {
                d.error(item, "cases[\(i)]: no 'now' (set it for the file or the case: tests run on a fixed clock)")
            }
            guard let (_, eventNode) = c["event"] else {
                d.error(item, "cases[\(i)]: missing required key 'event'")
                continue
            }
            var user: UserProfile?
            if let (_, v) = c["user"], let u = d.fields(v, in: "cases[\(i)].user", allowed: ["traits", "time_zone"]) {
                var profile = UserProfile()
                if let (_, t) = u["traits"] { profile.traits = t.json }
                if let (_, z) = u["time_zone"] { profile.timeZone = d.string(z, "cases[\(i)].user.time_zone") }
                user = profile
            }
            let zone = c["zone"].flatMap { d.string($0.value, "cases[\(i)].zone") }
            if let zone, !ZoneName.isValid(zone), let (_, v) = c["zone"] { d.error(v, "cases[\(i)].zone: " + ZoneName.problem(zone)) }
            var caseZones: [String: String] = [:]
            for key in ["default_time_zone", "company_time_zone"] {
                if let (_, v) = c[key], let name = d.string(v, "cases[\(i)].\(key)") {
                    if ZoneName.isValid(name) { caseZones[key] = name } else { d.error(v, "cases[\(i)].\(key): " + ZoneName.problem(name)) }
                }
            }
            guard let (expectKey, expectNode) = c["expect"] else {
                d.error(item, "cases[\(i)]: missing required key 'expect' (outcome: send | not_matched | skipped | failed | no_rule)")
                continue
            }
            guard let e = d.fields(expectNode, in: "cases[\(i)].expect", allowed: expectKeys) else { continue }
            guard let (_, outcomeNode) = e["outcome"], let outcomeText = d.string(outcomeNode, "expect.outcome") else {
                if e["outcome"] == nil { d.error(expectKey, "cases[\(i)].expect: missing required key 'outcome'") }
                continue
            }
            guard let outcome = Expectation.Outcome(rawValue: outcomeText) else {
                let names = Expectation.Outcome.allCases.map(\.rawValue)
                d.error(
                    outcomeNode,
                    "expect.outcome: '\(outcomeText)' is not one of \(names.joined(separator: ", "))"
                        + RuleDecoder.didYouMean(outcomeText, from: names, aliases: ["sent": "send", "planned": "send", "pending": "send", "skip": "skipped", "fail": "failed", "none": "no_rule"]))
                continue
            }
            var expectation = Expectation(rule: e["rule"].flatMap { d.string($0.value, "expect.rule") } ?? fileRule, outcome: outcome)
            expectation.reason = e["reason"].flatMap { d.string($0.value, "expect.reason") }
            expectation.schedule = e["schedule"]?.value.json
            expectation.triggerProperties = e["trigger_properties"]?.value.json
            expectation.recipient = e["recipient"]?.value.json
            expectation.sendId = e["send_id"]?.value.json
            expectation.audience = e["audience"]?.value.json
            expectation.body = e["body"]?.value.json
            if outcome != .send {
                for key in ["schedule", "trigger_properties", "recipient", "send_id", "audience", "body"] {
                    if let (k, _) = e[key] { d.error(k, "expect.\(key): only applies to outcome 'send'") }
                }
            }
            guard let now else { continue }
            suite.cases.append(
                Case(
                    name: name, location: d.location(item), event: eventNode.json, user: user, now: now, zone: zone,
                    defaultZone: caseZones["default_time_zone"], companyZone: caseZones["company_time_zone"], expect: expectation))
        }
        let errors = d.diagnostics.filter { $0.severity == .error }
        return errors.isEmpty ? .success(suite) : .failure(RuleTestFileError(diagnostics: d.diagnostics))
    }
}

extension RuleDecoder {
    mutating func instant(_ node: SourceNode, _ what: String) -> Date? {
        guard let text = node.scalarText, let date = Timestamp.parse(text) else {
            error(node, "\(what): expected an ISO 8601 time with an offset, e.g. 2026-11-29T18:00:00Z, got \(describe(node))")
            return nil
        }
        return date
    }
}

/// Why a rule test file could not be read.
public struct RuleTestFileError: Error, Sendable {
    public var diagnostics: [Diagnostic]
}
