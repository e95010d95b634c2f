import FlintPluginAPI
import FlintRules
import Foundation

/// A run's status (docs/architecture.md, Runs and the ledger).
public enum RunStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// A condition failed: which one, with the value seen.
    case notMatched = "not_matched"
    /// Deliberately not sent: a limit, late under `if_late: skip`, a cap.
    case skipped
    /// Planned, in the outbox, not yet accepted by the action.
    case pending
    /// Accepted by Braze (or the action plugin).
    case scheduled
    /// Cannot be sent (horizon, empty recipient, Braze refused it, attempts exhausted).
    case failed
    /// Cancelled by a later event (`cancel_on`) or by hand.
    case cancelled
    /// Sent, outcome unknown after a timeout: never resent silently.
    case unknown
    /// Decided by a `mode: shadow` rule: the send it would make, kept with its request, never sent
    /// (no outbox row) and consuming no limit.
    case shadow
}

/// An accepted event as the store keeps it.
public struct EventRecord: Sendable, Hashable {
    /// Commit order: "later" means a higher sequence number.
    public var seq: Int64
    public var messageId: String
    public var type: Event.Kind
    public var name: String?
    public var userKey: String
    public var userId: String?
    public var anonymousId: String?
    public var timestamp: Date
    public var receivedAt: Date
    /// The source that delivered it: `webhook`, `inbox`, `ingest`, a plugin's name.
    public var source: String
    /// The object as received, `type` and `messageId` filled in.
    public var body: JSONValue

    public init(
        seq: Int64, messageId: String, type: Event.Kind, name: String?, userKey: String, userId: String?,
        anonymousId: String?, timestamp: Date, receivedAt: Date, source: String, body: JSONValue
    ) {
        self.seq = seq
        self.messageId = messageId
        self.type = type
        self.name = name
        self.userKey = userKey
        self.userId = userId
        self.anonymousId = anonymousId
        self.timestamp = timestamp
        self.receivedAt = receivedAt
        self.source = source
        self.body = body
    }
}

/// An object that was refused, kept for inspection with its reasons.
public struct RejectedRecord: Sendable, Hashable {
    public var id: Int64
    public var receivedAt: Date
    public var source: String
    /// 0-based position in the batch it came in (array index, NDJSON line, `batch` index).
    public var index: Int
    public var errors: [String]
    /// The object as received (compact JSON), or the raw text when it was not JSON.
    public var body: String
    /// Where the source read it: a file and its 1-based line, or a request and the 0-based index.
    public var origin: EventOrigin?

    public init(id: Int64, receivedAt: Date, source: String, index: Int, errors: [String], body: String, origin: EventOrigin? = nil) {
        self.id = id
        self.receivedAt = receivedAt
        self.source = source
        self.index = index
        self.errors = errors
        self.body = body
        self.origin = origin
    }
}

/// Everything the ledger keeps about why a run ended as it did.
public struct RunTrace: Sendable, Hashable, Codable {
    /// Each gate passed or failed, with what it saw, in order.
    public var gates: [Gate]
    /// The planner's steps.
    public var steps: [PlanStep]
    /// The zone wall clocks were read in.
    public var zone: String?
    /// The rendered `once_per` key.
    public var oncePerKey: String?
    /// The condition that failed, for `not_matched`.
    public var failedCondition: ComparisonFailure?
    /// Set when the trace could not be rebuilt as decided (docs/architecture.md, Runs and the
    /// ledger): what differs, or what is missing. Never set on a decision as it is made.
    public var note: String?

    public init(
        gates: [Gate] = [], steps: [PlanStep] = [], zone: String? = nil, oncePerKey: String? = nil, failedCondition: ComparisonFailure? = nil,
        note: String? = nil
    ) {
        self.gates = gates
        self.steps = steps
        self.zone = zone
        self.oncePerKey = oncePerKey
        self.failedCondition = failedCondition
        self.note = note
    }
}

/// The limit that held a planned send back, as its run records it (the state outcome a rebuild of
/// the trace cannot recompute: it depended on other runs).
public struct HeldBy: Sendable, Hashable {
    /// `once_per` or `max_sends`.
    public var gate: String
    /// What the limit saw (also the run's reason).
    public var detail: String

    public init(gate: String, detail: String) {
        self.gate = gate
        self.detail = detail
    }

    /// Compact JSON `{"gate": ..., "detail": ...}`, as the store keeps it.
    public var json: JSONValue { ["gate": .string(gate), "detail": .string(detail)] }

    public init?(json: JSONValue) {
        guard let gate = json["gate"]?.stringValue, let detail = json["detail"]?.stringValue else { return nil }
        self.init(gate: gate, detail: detail)
    }
}

/// The configuration a decision was planned with (`default_time_zone`, `braze.company_time_zone`,
/// `lead`): stored once per distinct value, referenced by each run, so a rebuild plans with the
/// settings of the decision even after the configuration changed.
public struct DecideContext: Sendable, Hashable {
    /// A tz database name (or what `TimeZone.identifier` gave).
    public var defaultZone: String
    public var companyZone: String?
    /// Seconds.
    public var lead: Int

    public init(defaultZone: String, companyZone: String?, lead: Int) {
        self.defaultZone = defaultZone
        self.companyZone = companyZone
        self.lead = lead
    }

    public init(_ settings: EngineSettings) {
        self.init(defaultZone: settings.defaultZone.identifier, companyZone: settings.companyZone?.identifier, lead: settings.lead)
    }

    /// The planner's context at `now`; nil when a zone no longer resolves.
    public func planning(now: Date) -> PlanningContext? {
        guard let zone = Self.zone(defaultZone) else { return nil }
        var company: TimeZone?
        if let companyZone {
            guard let z = Self.zone(companyZone) else { return nil }
            company = z
        }
        return PlanningContext(now: now, defaultZone: zone, companyZone: company, lead: lead)
    }

    static func zone(_ name: String) -> TimeZone? {
        TimeZone(identifier: name) ?? ZoneName.resolve(name)
    }
}

/// What a decision made of one run: its status and reason as decided, its trace, its request and
/// schedule. What the decider decided (`Engine`'s decision probe, for tests) and what
/// `TraceRebuilder` rebuilds are this type, so the two can be compared.
public struct DecidedRun: Sendable, Hashable {
    public var status: RunStatus
    public var reason: String
    public var sendAt: Date?
    public var trace: RunTrace
    public var request: JSONValue?
    public var schedule: JSONValue?

    public init(status: RunStatus, reason: String, sendAt: Date?, trace: RunTrace, request: JSONValue?, schedule: JSONValue?) {
        self.status = status
        self.reason = reason
        self.sendAt = sendAt
        self.trace = trace
        self.request = request
        self.schedule = schedule
    }
}

/// One (event, rule) pair whose trigger name matched.
public struct RunRecord: Sendable, Hashable {
    public var id: Int64
    public var eventSeq: Int64
    /// The event's messageId.
    public var eventId: String
    public var ruleId: String
    public var ruleVersion: String
    /// The user key (`userId`, else `anonymousId`).
    public var user: String
    public var status: RunStatus
    /// One line: the failed gate, the limit that held it back, or the plan.
    public var reason: String
    public var action: String
    /// When the send goes out (UTC instant; for local/optimal schedules, the instant in the zone used).
    public var sendAt: Date?
    /// The Braze schedule object planned, then sent. Listings fill it from the outbox row (runs
    /// that were planned); a rebuilt run also for the others.
    public var schedule: JSONValue?
    /// The exact request body (Braze create body, or an action plugin's body): the request sent
    /// once the action accepted it, else (rebuilt runs) the one planned.
    public var request: JSONValue?
    /// Rebuilt on read (`TraceRebuilder`) when the query asks for traces; empty otherwise.
    public var trace: RunTrace
    public var scheduleId: String?
    public var dispatchId: String?
    /// The messageId of the event that cancelled it.
    public var cancelledBy: String?
    /// The decision instant (`now` of the planner).
    public var createdAt: Date
    public var updatedAt: Date
    /// The outbox row's key, when one was written.
    public var outboxKey: String?
    /// The limit that held a planned send back.
    public var held: HeldBy?
    /// The settings the decision was planned with (`decide_contexts`); nil for runs decided
    /// before the ledger kept them.
    public var context: DecideContext?
    /// When the run reached pending (it counts against `max_sends` from then on).
    public var consumedAt: Date?
    /// Runs decided before compact runs: their trace, request and schedule as they were stored.
    public var legacy: Bool
    /// Whether `trace` (and the planned request and schedule) were filled in.
    public var traced: Bool

    public init(
        id: Int64, eventSeq: Int64, eventId: String, ruleId: String, ruleVersion: String, user: String, status: RunStatus,
        reason: String, action: String, sendAt: Date?, schedule: JSONValue?, request: JSONValue?, trace: RunTrace,
        scheduleId: String? = nil, dispatchId: String? = nil, cancelledBy: String? = nil, createdAt: Date, updatedAt: Date,
        outboxKey: String? = nil, held: HeldBy? = nil, context: DecideContext? = nil, consumedAt: Date? = nil, legacy: Bool = false,
        traced: Bool = false
    ) {
        self.outboxKey = outboxKey
        self.held = held
        self.context = context
        self.consumedAt = consumedAt
        self.legacy = legacy
        self.traced = traced
        self.id = id
        self.eventSeq = eventSeq
        self.eventId = eventId
        self.ruleId = ruleId
        self.ruleVersion = ruleVersion
        self.user = user
        self.status = status
        self.reason = reason
        self.action = action
        self.sendAt = sendAt
        self.schedule = schedule
        self.request = request
        self.trace = trace
        self.scheduleId = scheduleId
        self.dispatchId = dispatchId
        self.cancelledBy = cancelledBy
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A run to insert (the store assigns the id): compact, its trace is rebuilt on demand
/// (docs/architecture.md, Runs and the ledger).
public struct NewRun: Sendable, Hashable {
    public var eventSeq: Int64
    /// The event's messageId (the SQLite store reaches it through `eventSeq`).
    public var eventId: String
    public var ruleId: String
    public var ruleVersion: String
    public var user: String
    public var status: RunStatus
    public var reason: String
    public var action: String
    public var sendAt: Date?
    /// The key of the outbox row written with it, if any.
    public var outboxKey: String?
    /// The limit that held a planned send back.
    public var held: HeldBy?
    /// `decide_contexts` row of the settings it was planned with (`StateTransaction.decideContextId`).
    public var contextId: Int64?
    /// Set when the run reached `pending`: it counts against `max_sends` from then on.
    public var consumedAt: Date?
    /// The decision instant, exactly as the planner read it.
    public var createdAt: Date

    public init(
        eventSeq: Int64, eventId: String, ruleId: String, ruleVersion: String, user: String, status: RunStatus, reason: String,
        action: String, sendAt: Date?, outboxKey: String? = nil, held: HeldBy? = nil, contextId: Int64? = nil, consumedAt: Date?,
        createdAt: Date
    ) {
        self.eventSeq = eventSeq
        self.eventId = eventId
        self.ruleId = ruleId
        self.ruleVersion = ruleVersion
        self.user = user
        self.status = status
        self.reason = reason
        self.action = action
        self.sendAt = sendAt
        self.outboxKey = outboxKey
        self.held = held
        self.contextId = contextId
        self.consumedAt = consumedAt
        self.createdAt = createdAt
    }
}

/// An outbox row: the send to make, written with its run before any network call.
public struct NewOutboxItem: Sendable, Hashable {
    public var runId: Int64
    /// (rule, rule version, event, recipient): the same decision is never sent twice.
    public var key: String
    public var action: String
    public var body: JSONValue
    public var sendAt: Date?
    public var createdAt: Date
    /// The schedule the planner computed (what an action receives beside the body).
    public var schedule: JSONValue?
    /// The zone the planner read wall clocks in (re-planning a send whose time passed uses it).
    public var zone: String?
    /// `body` and `schedule` already written as compact JSON (off the writer); nil means the store
    /// writes them.
    public var encodedBody: [UInt8]?
    public var encodedSchedule: [UInt8]?

    public init(
        runId: Int64, key: String, action: String, body: JSONValue, sendAt: Date?, createdAt: Date, schedule: JSONValue? = nil, zone: String? = nil
    ) {
        self.runId = runId
        self.key = key
        self.action = action
        self.body = body
        self.sendAt = sendAt
        self.createdAt = createdAt
        self.schedule = schedule
        self.zone = zone
    }
}

/// A rule version as recorded: every run points at one.
public struct RuleVersionRecord: Sendable, Hashable {
    public var ruleId: String
    public var version: String
    public var file: String
    /// The canonical definition (compact JSON).
    public var definition: JSONValue
    public var firstSeen: Date
    /// The text of the file the rule was loaded from, so the exact rule can be parsed again (nil for
    /// versions recorded before the ledger kept it: `definition` stands in).
    public var text: String?

    public init(ruleId: String, version: String, file: String, definition: JSONValue, firstSeen: Date, text: String? = nil) {
        self.ruleId = ruleId
        self.version = version
        self.file = file
        self.definition = definition
        self.firstSeen = firstSeen
        self.text = text
    }
}

/// A pending or scheduled run that `cancel_on` may cancel.
public struct OpenRun: Sendable, Hashable {
    public var id: Int64
    public var status: RunStatus
    public var eventSeq: Int64
    public var scheduleId: String?

    public init(id: Int64, status: RunStatus, eventSeq: Int64, scheduleId: String?) {
        self.id = id
        self.status = status
        self.eventSeq = eventSeq
        self.scheduleId = scheduleId
    }
}
