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

    public init(gates: [Gate] = [], steps: [PlanStep] = [], zone: String? = nil, oncePerKey: String? = nil, failedCondition: ComparisonFailure? = nil) {
        self.gates = gates
        self.steps = steps
        self.zone = zone
        self.oncePerKey = oncePerKey
        self.failedCondition = failedCondition
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
    /// The Braze schedule object planned, then sent.
    public var schedule: JSONValue?
    /// The exact request body (Braze create body, or an action plugin's body).
    public var request: JSONValue?
    public var trace: RunTrace
    public var scheduleId: String?
    public var dispatchId: String?
    /// The messageId of the event that cancelled it.
    public var cancelledBy: String?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: Int64, eventSeq: Int64, eventId: String, ruleId: String, ruleVersion: String, user: String, status: RunStatus,
        reason: String, action: String, sendAt: Date?, schedule: JSONValue?, request: JSONValue?, trace: RunTrace,
        scheduleId: String? = nil, dispatchId: String? = nil, cancelledBy: String? = nil, createdAt: Date, updatedAt: Date
    ) {
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

/// A run to insert (the store assigns the id).
public struct NewRun: Sendable, Hashable {
    public var eventSeq: Int64
    public var eventId: String
    public var ruleId: String
    public var ruleVersion: String
    public var user: String
    public var status: RunStatus
    public var reason: String
    public var action: String
    public var sendAt: Date?
    public var schedule: JSONValue?
    public var request: JSONValue?
    public var trace: RunTrace
    /// Set when the run reached `pending`: it counts against `max_sends` from then on.
    public var consumedAt: Date?
    public var createdAt: Date
    /// `request` and `trace` already written as the store keeps them (compact JSON), computed off the
    /// writer by the decider; nil means the store writes them itself.
    public var encodedRequest: [UInt8]?
    public var encodedTrace: [UInt8]?

    public init(
        eventSeq: Int64, eventId: String, ruleId: String, ruleVersion: String, user: String, status: RunStatus, reason: String,
        action: String, sendAt: Date?, schedule: JSONValue?, request: JSONValue?, trace: RunTrace, consumedAt: Date?, createdAt: Date
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
        self.schedule = schedule
        self.request = request
        self.trace = trace
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
    /// `body` already written as compact JSON (off the writer); nil means the store writes it.
    public var encodedBody: [UInt8]?

    public init(runId: Int64, key: String, action: String, body: JSONValue, sendAt: Date?, createdAt: Date) {
        self.runId = runId
        self.key = key
        self.action = action
        self.body = body
        self.sendAt = sendAt
        self.createdAt = createdAt
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

    public init(ruleId: String, version: String, file: String, definition: JSONValue, firstSeen: Date) {
        self.ruleId = ruleId
        self.version = version
        self.file = file
        self.definition = definition
        self.firstSeen = firstSeen
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
