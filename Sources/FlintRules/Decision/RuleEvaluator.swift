import FlintPluginAPI
import Foundation

/// What Flint knows about a user beyond the event: traits and time zone from identify calls.
public struct UserProfile: Sendable, Hashable {
    public var traits: JSONValue
    public var timeZone: String?

    public init(traits: JSONValue = .object([:]), timeZone: String? = nil) {
        self.traits = traits
        self.timeZone = timeZone
    }

    var json: JSONValue {
        var o: [String: JSONValue] = ["traits": traits]
        if let timeZone { o["time_zone"] = .string(timeZone) }
        return .object(o)
    }
}

/// The settings the planner reads from configuration, and the moment of evaluation.
public struct PlanningContext: Sendable {
    public var now: Date
    public var defaultZone: TimeZone
    public var companyZone: TimeZone?
    /// The lead L, seconds.
    public var lead: Int

    public init(now: Date, defaultZone: TimeZone = TimeZone(identifier: "UTC")!, companyZone: TimeZone? = nil, lead: Int = 60) {
        self.now = now
        self.defaultZone = defaultZone
        self.companyZone = companyZone
        self.lead = lead
    }
}

/// One gate a run went through, with what it saw: the ledger's trace.
public struct Gate: Sendable, Hashable, Codable {
    public var name: String
    public var passed: Bool
    public var detail: String

    public init(name: String, passed: Bool, detail: String) {
        self.name = name
        self.passed = passed
        self.detail = detail
    }
}

/// What a rule decided for an event, before limits and dispatch.
public struct Decision: Sendable {
    public enum Outcome: Sendable, Hashable {
        /// A condition failed.
        case notMatched(ComparisonFailure)
        /// Deliberately not sent (late under `if_late: skip`).
        case skipped(String)
        /// Cannot be sent (horizon, a recipient that renders empty, oversized properties).
        case failed(String)
        /// A send to make: the exact body, and when.
        case planned
    }

    public var ruleId: String
    public var ruleVersion: String
    public var outcome: Outcome
    public var gates: [Gate]
    public var steps: [PlanStep]
    /// The action that delivers it (`braze` or a plugin name).
    public var action: String
    /// The request body (Braze's create body, or the rendered `send.with`).
    public var request: JSONValue?
    public var schedule: BrazeSchedule?
    public var sendAt: Date?
    /// The zone the planner read wall clocks in.
    public var zone: String?
    /// The rendered `once_per` key, when the rule has one.
    public var oncePerKey: String?

    /// A one-line reason for listings: the failed gate's detail, or the plan.
    public var reason: String {
        switch outcome {
        case .notMatched(let f): return f.explanation
        case .skipped(let r), .failed(let r): return r
        case .planned: return schedule.map { "planned: \($0.time)" } ?? "planned"
        }
    }

    public var statusName: String {
        switch outcome {
        case .notMatched: "not_matched"
        case .skipped: "skipped"
        case .failed: "failed"
        case .planned: "pending"
        }
    }
}

/// An event made ready for evaluation against every rule it triggers: the scope conditions and
/// templates read, and the user's zone, computed once.
public struct PreparedEvent: Sendable {
    public let event: Event
    public let profile: UserProfile?
    public let scope: JSONValue
    public let userZone: TimeZone?
    /// What the zone gate says for `time_zone: user` rules.
    public let zoneDetail: String

    public init(event: Event, profile: UserProfile?, defaultZone: TimeZone) {
        self.event = event
        self.profile = profile
        scope = RuleEvaluator.scope(event: event, profile: profile)
        let (zone, note) = RuleEvaluator.userZone(event: event, profile: profile)
        userZone = zone
        let base = zone.map { "user zone \($0.identifier)" } ?? "user zone unknown; default \(defaultZone.identifier)"
        zoneDetail = note.map { base + "; " + $0 } ?? base
    }
}

/// Conditions -> zone -> planner -> request: the pure part of a run (DESIGN.md "Limits come after the
/// planner": limits are the engine's, as they need state).
public enum RuleEvaluator {
    /// The object conditions and templates read: the event as received, plus `user` (the profile).
    public static func scope(event: Event, profile: UserProfile?) -> JSONValue {
        guard case .object(var o) = event.raw else { return event.raw }
        o["user"] = (profile ?? UserProfile()).json
        return .object(o)
    }

    /// The user's zone: the event's valid `context.timezone`, else the profile's; with a note when the
    /// event's zone was ignored.
    public static func userZone(event: Event, profile: UserProfile?) -> (zone: TimeZone?, note: String?) {
        var note: String?
        if let name = event.contextTimeZone {
            if ZoneNames.isValid(name), let z = TimeZone(identifier: name) { return (z, nil) }
            note = "context.timezone '\(name)' is not an IANA zone; ignored"
        }
        if let name = profile?.timeZone, ZoneNames.isValid(name), let z = TimeZone(identifier: name) {
            return (z, note.map { $0 + "; using the profile's \(name)" })
        }
        return (nil, note)
    }

    public static func evaluate(rule: Rule, event: Event, profile: UserProfile?, context: PlanningContext) -> Decision {
        evaluate(rule: rule, prepared: PreparedEvent(event: event, profile: profile, defaultZone: context.defaultZone), context: context)
    }

    /// Evaluates one rule for an event prepared once for all the rules it triggers.
    public static func evaluate(rule: Rule, prepared: PreparedEvent, context: PlanningContext) -> Decision {
        var decision = Decision(
            ruleId: rule.id, ruleVersion: rule.version, outcome: .planned, gates: [], steps: [], action: rule.send.action)
        decision.gates.reserveCapacity(5)
        decision.gates.append(Gate(name: "trigger", passed: true, detail: "the event's name is in when.event"))
        let scope = prepared.scope

        if let condition = rule.trigger.condition {
            let result = condition.evaluate(in: scope)
            if let failure = result.failure, !result.passed {
                decision.gates.append(Gate(name: "condition", passed: false, detail: failure.explanation))
                decision.outcome = .notMatched(failure)
                return decision
            }
            decision.gates.append(Gate(name: "condition", passed: true, detail: "all conditions hold"))
        }

        let zone = prepared.userZone
        switch rule.schedule.timeZone {
        case .named(let name): decision.gates.append(Gate(name: "zone", passed: true, detail: "rule zone \(name)"))
        case .user: decision.gates.append(Gate(name: "zone", passed: true, detail: prepared.zoneDetail))
        }

        let plan = Planner.plan(
            PlannerInput(
                eventTime: prepared.event.timestamp, now: context.now, schedule: rule.schedule, userZone: zone,
                defaultZone: context.defaultZone, companyZone: context.companyZone, lead: context.lead))
        decision.steps = plan.steps
        decision.zone = plan.zone.identifier
        switch plan.outcome {
        case .skip(let reason):
            decision.gates.append(Gate(name: "planner", passed: false, detail: reason))
            decision.outcome = .skipped(reason)
            return decision
        case .fail(let reason):
            decision.gates.append(Gate(name: "planner", passed: false, detail: reason))
            decision.outcome = .failed(reason)
            return decision
        case .send(let schedule, let sendAt):
            decision.schedule = schedule
            decision.sendAt = sendAt
            decision.gates.append(Gate(name: "planner", passed: true, detail: "schedule \(schedule.time)" + (schedule.inLocalTime ? " in local time" : schedule.atOptimalTime ? " at optimal time" : "")))
        }

        if rule.send.isBraze {
            switch BrazeRequestBuilder.body(send: rule.send, scope: scope, schedule: decision.schedule!) {
            case .success(let body):
                decision.request = body
                decision.gates.append(Gate(name: "render", passed: true, detail: "request built"))
            case .failure(let failure):
                decision.gates.append(Gate(name: "render", passed: false, detail: failure.reason))
                decision.outcome = .failed(failure.reason)
            }
        } else {
            decision.request = rule.send.with?.render(in: scope) ?? .object([:])
            decision.gates.append(Gate(name: "render", passed: true, detail: "body for action '\(rule.send.action)' built"))
        }
        if case .planned = decision.outcome, let oncePer = rule.limit.oncePer {
            guard let key = oncePer.key.renderString(in: scope), !key.isEmpty else {
                let reason = "limit.once_per.key rendered empty from '\(oncePer.key.source)'"
                decision.gates.append(Gate(name: "render", passed: false, detail: reason))
                decision.outcome = .failed(reason)
                return decision
            }
            decision.oncePerKey = key
        }

        return decision
    }
}
