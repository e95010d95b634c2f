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
    /// Whether the decision says how it got there: its gates and the planner's steps. The decider
    /// decides without them (the run's trace is rebuilt on demand, with them); the outcome, reason,
    /// send time, schedule and request are the same either way.
    public var explain: Bool
    /// Whether a Braze send's request body is built. Replay leaves it out where it knows the body
    /// already (docs/replay.md, How it is fast): the decision is then planned with no `request` and no
    /// `recipient`, which is only right when the same send spec already rendered for this event.
    public var buildRequest: Bool

    public init(
        now: Date, defaultZone: TimeZone = TimeZone(identifier: "UTC")!, companyZone: TimeZone? = nil, lead: Int = 60, explain: Bool = true,
        buildRequest: Bool = true
    ) {
        self.now = now
        self.defaultZone = defaultZone
        self.companyZone = companyZone
        self.lead = lead
        self.explain = explain
        self.buildRequest = buildRequest
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
    /// Who the send is for, as the outbox key names it (Braze: its recipient); nil for an action
    /// plugin's send, which is one per (rule, event).
    public var recipient: String?

    /// Adds a gate when the decision is explained (its detail is built only then).
    mutating func gate(_ name: String, passed: Bool, _ detail: @autoclosure () -> String, if explain: Bool) {
        guard explain else { return }
        gates.append(Gate(name: name, passed: passed, detail: detail()))
    }

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
    /// What the zone gate says for `time_zone: user` rules (built when asked: only explained
    /// decisions read it).
    public var zoneDetail: String {
        guard zoneNotes.isEmpty else { return zoneNotes.joined(separator: "; ") }
        return userZone.map { "user zone \(ZoneName.display($0)) (from \(zoneSource))" }
            ?? "user zone unknown; default_time_zone \(ZoneName.display(defaultZone))"
    }
    /// Where the user's zone came from (`ResolvedUserZone.source`).
    let zoneSource: String
    let defaultZone: TimeZone
    /// Zone names this event's runs ignored because they are not in the tz database (the event's
    /// `context.timezone`, the profile's zone): noted on each run and counted for `flint status`.
    public let unknownZones: [String]
    /// One note per ignored name ("context.timezone 'Mars/Phobos' is not in the tz database; used ...").
    public let zoneNotes: [String]

    public init(event: Event, profile: UserProfile?, defaultZone: TimeZone) {
        self.event = event
        self.profile = profile
        scope = RuleEvaluator.scope(event: event, profile: profile)
        let resolved = RuleEvaluator.userZone(event: event, profile: profile, defaultZone: defaultZone)
        userZone = resolved.zone
        unknownZones = resolved.unknown
        // A note already says which zone was used instead.
        zoneNotes = resolved.notes
        zoneSource = resolved.source
        self.defaultZone = defaultZone
    }
}

/// The user's zone and where it came from (the order of docs/architecture.md, "Time zones": the
/// event's `context.timezone`, then the profile learned from identify calls, then `default_time_zone`),
/// with the names ignored on the way.
public struct ResolvedUserZone: Sendable, Hashable {
    /// Zu, or nil when the default zone applies.
    public var zone: TimeZone?
    /// "context.timezone", "profile" or "default_time_zone".
    public var source: String
    /// Names that are not in the tz database, in the order they were met.
    public var unknown: [String]
    /// One note per unknown name, saying what was used instead.
    public var notes: [String]
}

/// Conditions -> zone -> planner -> request: the pure part of a run (docs/architecture.md, Limits: limits come after the
/// planner: limits are the engine's, as they need state).
public enum RuleEvaluator {
    /// The object conditions and templates read: the event as received, plus `user` (the profile).
    public static func scope(event: Event, profile: UserProfile?) -> JSONValue {
        guard case .object(var o) = event.raw else { return event.raw }
        o["user"] = (profile ?? UserProfile()).json
        return .object(o)
    }

    /// The user's zone: the event's `context.timezone` if it is a tz name, else the profile's (learned
    /// from identify calls), else none (the default zone applies). A name that is not in the tz
    /// database is ignored with a note naming the zone used instead.
    public static func userZone(event: Event, profile: UserProfile?, defaultZone: TimeZone) -> ResolvedUserZone {
        var ignored: [(what: String, name: String)] = []
        var found: (zone: TimeZone, source: String)?
        if let name = event.contextTimeZone {
            if let z = ZoneName.resolve(name) { found = (z, "context.timezone") } else { ignored.append(("context.timezone", name)) }
        }
        if found == nil, let name = profile?.timeZone {
            if let z = ZoneName.resolve(name) { found = (z, "profile") } else { ignored.append(("the profile's zone", name)) }
        }
        let used = found.map { "used \(ZoneName.display($0.zone)) (from \($0.source))" }
            ?? "used \(ZoneName.display(defaultZone)) (from default_time_zone)"
        return ResolvedUserZone(
            zone: found?.zone, source: found?.source ?? "default_time_zone", unknown: ignored.map(\.name),
            notes: ignored.map { "\($0.what) '\($0.name)' is not in the tz database; \(used)" })
    }

    public static func evaluate(rule: Rule, event: Event, profile: UserProfile?, context: PlanningContext) -> Decision {
        evaluate(rule: rule, prepared: PreparedEvent(event: event, profile: profile, defaultZone: context.defaultZone), context: context)
    }

    /// Evaluates one rule for an event prepared once for all the rules it triggers.
    public static func evaluate(rule: Rule, prepared: PreparedEvent, context: PlanningContext) -> Decision {
        var decision = Decision(
            ruleId: rule.id, ruleVersion: rule.version, outcome: .planned, gates: [], steps: [], action: rule.send.action)
        if context.explain { decision.gates.reserveCapacity(5) }
        decision.gate("trigger", passed: true, "the event's name is in when.event", if: context.explain)
        let scope = prepared.scope

        if let condition = rule.trigger.condition {
            let result = condition.evaluate(in: scope)
            if let failure = result.failure, !result.passed {
                decision.gate("condition", passed: false, failure.explanation, if: context.explain)
                decision.outcome = .notMatched(failure)
                return decision
            }
            decision.gate("condition", passed: true, "all conditions hold", if: context.explain)
        }

        let zone = prepared.userZone
        switch rule.schedule.timeZone {
        case .named(let name):
            // The notes still apply: in_local_time also reads the wall clock in the user's zone.
            decision.gate("zone", passed: true, (["rule zone \(name)"] + prepared.zoneNotes).joined(separator: "; "), if: context.explain)
        case .user: decision.gate("zone", passed: true, prepared.zoneDetail, if: context.explain)
        }

        let plan = Planner.plan(
            PlannerInput(
                eventTime: prepared.event.timestamp, now: context.now, schedule: rule.schedule, userZone: zone,
                defaultZone: context.defaultZone, companyZone: context.companyZone, lead: context.lead, explain: context.explain))
        decision.steps = plan.steps
        decision.zone = ZoneName.display(plan.zone)
        switch plan.outcome {
        case .skip(let reason):
            decision.gate("planner", passed: false, reason, if: context.explain)
            decision.outcome = .skipped(reason)
            return decision
        case .fail(let reason):
            decision.gate("planner", passed: false, reason, if: context.explain)
            decision.outcome = .failed(reason)
            return decision
        case .send(let schedule, let sendAt):
            decision.schedule = schedule
            decision.sendAt = sendAt
            decision.gate("planner", passed: true, "schedule \(schedule.time)" + (schedule.inLocalTime ? " in local time" : schedule.atOptimalTime ? " at optimal time" : ""), if: context.explain)
        }

        if rule.send.isBraze, !context.buildRequest {
            decision.gate("render", passed: true, "request not built", if: context.explain)
        } else if rule.send.isBraze {
            switch BrazeRequestBuilder.body(send: rule.send, scope: scope, schedule: decision.schedule!) {
            case .success(let body):
                decision.request = body
                decision.recipient = BrazeRequestBuilder.recipientKey(of: body)
                decision.gate("render", passed: true, "request built", if: context.explain)
            case .failure(let failure):
                decision.gate("render", passed: false, failure.reason, if: context.explain)
                decision.outcome = .failed(failure.reason)
            }
        } else {
            decision.request = rule.send.with?.render(in: scope) ?? .object([:])
            decision.gate("render", passed: true, "body for action '\(rule.send.action)' built", if: context.explain)
        }
        if case .planned = decision.outcome, let oncePer = rule.limit.oncePer {
            guard let key = oncePer.key.renderString(in: scope), !key.isEmpty else {
                let reason = "limit.once_per.key rendered empty from '\(oncePer.key.source)'"
                decision.gate("render", passed: false, reason, if: context.explain)
                decision.outcome = .failed(reason)
                return decision
            }
            decision.oncePerKey = key
        }

        return decision
    }
}
