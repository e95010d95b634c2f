import FlintPluginAPI
import FlintRules
import Foundation

/// Where an outbox row stands.
public enum OutboxState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Waiting to be sent (now, or after `nextAttemptAt` when a retry is due).
    case pending
    /// Handed to the action; written before the request goes out, so a crash leaves it visible.
    case sending
    /// Accepted by the action.
    case sent
    /// Given up after the configured attempts, or refused for good.
    case dead
    /// Sent, outcome unknown: never resent automatically (`flint outbox retry` does it deliberately).
    case unknown
    /// Withdrawn before it was sent.
    case cancelled
}

/// An outbox row with what the dispatcher needs to send it.
public struct OutboxItem: Sendable, Hashable {
    public var id: Int64
    public var runId: Int64
    public var key: String
    public var action: String
    /// The request body as planned (Braze's create body for one recipient, or a plugin's body).
    public var body: JSONValue
    public var sendAt: Date?
    public var state: OutboxState
    public var attempts: Int
    public var nextAttemptAt: Date?
    public var lastError: String?
    public var createdAt: Date
    public var updatedAt: Date
    // From the run and its event, for re-planning a send whose time passed while it waited.
    public var ruleId: String
    public var ruleVersion: String
    public var user: String
    public var eventTime: Date
    /// The zone the planner read wall clocks in.
    public var zone: String?
    /// The schedule the planner computed for the run (what an action plugin receives beside its body).
    public var schedule: JSONValue?

    public init(
        id: Int64, runId: Int64, key: String, action: String, body: JSONValue, sendAt: Date?, state: OutboxState, attempts: Int,
        nextAttemptAt: Date?, lastError: String?, createdAt: Date, updatedAt: Date, ruleId: String, ruleVersion: String, user: String,
        eventTime: Date, zone: String?, schedule: JSONValue? = nil
    ) {
        self.id = id
        self.runId = runId
        self.key = key
        self.action = action
        self.body = body
        self.sendAt = sendAt
        self.state = state
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.ruleId = ruleId
        self.ruleVersion = ruleVersion
        self.user = user
        self.eventTime = eventTime
        self.zone = zone
        self.schedule = schedule
    }
}

/// A send its action accepted, to withdraw (`cancel_on` of a run that was already scheduled, or
/// `flint schedules cancel`), by the handle the action answered (docs/plugins.md, "What an action
/// declares").
public struct Cancellation: Sendable, Hashable {
    public var runId: Int64
    /// The handle's scope (Braze: the campaign); nil until the dispatcher asks the action, from the
    /// send's body, when the request is made.
    public var scope: String?
    /// The handle the action answered (`schedule_id` in its success details).
    public var handle: String
    public var reason: String
    public var byEvent: String?
    public var state: OutboxState
    public var attempts: Int
    public var nextAttemptAt: Date?
    public var lastError: String?

    public init(
        runId: Int64, scope: String?, handle: String, reason: String, byEvent: String?, state: OutboxState, attempts: Int,
        nextAttemptAt: Date?, lastError: String?
    ) {
        self.runId = runId
        self.scope = scope
        self.handle = handle
        self.reason = reason
        self.byEvent = byEvent
        self.state = state
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
    }
}

/// The change a dispatch makes to a run.
public struct RunUpdate: Sendable, Hashable {
    public var status: RunStatus
    public var reason: String
    public var scheduleId: String?
    public var dispatchId: String?
    /// The exact request sent (the coalesced body).
    public var request: JSONValue?
    public var schedule: JSONValue?
    public var sendAt: Date?

    public init(status: RunStatus, reason: String, scheduleId: String? = nil, dispatchId: String? = nil, request: JSONValue? = nil, schedule: JSONValue? = nil, sendAt: Date? = nil) {
        self.status = status
        self.reason = reason
        self.scheduleId = scheduleId
        self.dispatchId = dispatchId
        self.request = request
        self.schedule = schedule
        self.sendAt = sendAt
    }

    /// Hashes the small fields only: the dispatcher groups a request's rows by their update, and
    /// hashing the request body (up to 50 recipients) for each row cost more than the writes
    /// (a profile of `flint serve`). Equal updates still hash equal.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(status)
        hasher.combine(reason)
        hasher.combine(scheduleId)
        hasher.combine(dispatchId)
        hasher.combine(sendAt)
    }
}

/// Which actions' outbox rows to read.
public enum ActionFilter: Sendable, Hashable {
    case only(String)
    case noneOf([String])

    public func matches(_ action: String) -> Bool {
        switch self {
        case .only(let name): action == name
        case .noneOf(let names): !names.contains(action)
        }
    }
}

/// The dispatcher's reads and writes, inside a transaction.
public protocol DispatchTransaction {
    /// Pending rows whose retry is due (or that never failed), oldest first.
    func dueOutbox(now: Date, limit: Int) throws -> [OutboxItem]
    /// The same, for one action's rows (`only`), or for rows of actions not in a list (`noneOf`).
    func dueOutbox(now: Date, limit: Int, actions: ActionFilter) throws -> [OutboxItem]
    /// Pending rows never tried (no retry time) with an id above `after`, oldest first: what was
    /// committed since the dispatcher last looked.
    func freshOutbox(after id: Int64, limit: Int, actions: ActionFilter) throws -> [OutboxItem]
    /// Pending rows whose retry time has come, oldest first.
    func retriesDue(now: Date, limit: Int, actions: ActionFilter) throws -> [OutboxItem]
    func outbox(id: Int64) throws -> OutboxItem?
    /// The outbox row of a run, if it has one.
    func outbox(runId: Int64) throws -> OutboxItem?
    /// Rows in these states (all when empty), newest first; paging: `before`/`after` an outbox id,
    /// the `limit` rows nearest to it.
    func outbox(states: [OutboxState], limit: Int, before: Int64?, after: Int64?) throws -> [OutboxItem]
    mutating func setOutbox(id: Int64, state: OutboxState, attempts: Int, nextAttemptAt: Date?, lastError: String?, body: JSONValue?, at: Date) throws
    func run(id: Int64) throws -> RunRecord?
    /// A run's status alone (cheaper than the whole record).
    func runStatus(id: Int64) throws -> RunStatus?
    mutating func updateRun(id: Int64, _ update: RunUpdate, at: Date) throws
    /// Rows left `sending` by a process that died: they become `unknown` (never resent by themselves).
    mutating func abandonSending(at: Date) throws -> [Int64]

    mutating func insertCancellation(_ cancellation: Cancellation, at: Date) throws
    func dueCancellations(now: Date, limit: Int) throws -> [Cancellation]
    mutating func setCancellation(runId: Int64, state: OutboxState, attempts: Int, nextAttemptAt: Date?, lastError: String?, at: Date) throws

    // Batched: one statement for the rows of a request (docs/architecture.md, Dispatch).

    /// Marks the rows still pending (not cancelled or sent since they were read) `sending` and counts
    /// the attempt, before their request goes out; returns the ids it marked.
    @discardableResult
    mutating func markSending(ids: [Int64], at: Date) throws -> Set<Int64>
    /// Sets the same state on several rows.
    mutating func setOutbox(ids: [Int64], state: OutboxState, attempts: Int, nextAttemptAt: Date?, lastError: String?, at: Date) throws
    /// Makes the same change to several runs.
    mutating func updateRuns(ids: [Int64], _ update: RunUpdate, at: Date) throws
    /// The runs among `ids` that were cancelled (while their request was in flight).
    func cancelledRunIds(among ids: [Int64]) throws -> Set<Int64>
    /// The earliest retry or delete that comes due after `now` (pending rows only): when the
    /// dispatcher must look again by itself.
    func nextDue(after now: Date) throws -> Date?
}

extension DispatchTransaction {
    public func freshOutbox(after id: Int64, limit: Int, actions: ActionFilter) throws -> [OutboxItem] {
        Array(try dueOutbox(now: .distantPast, limit: .max, actions: actions).lazy.filter { $0.id > id && $0.nextAttemptAt == nil }.prefix(limit))
    }

    public func retriesDue(now: Date, limit: Int, actions: ActionFilter) throws -> [OutboxItem] {
        Array(try dueOutbox(now: now, limit: .max, actions: actions).lazy.filter { $0.nextAttemptAt != nil }.prefix(limit))
    }

    @discardableResult
    public mutating func markSending(ids: [Int64], at: Date) throws -> Set<Int64> {
        var marked = Set<Int64>()
        for id in ids {
            guard let row = try outbox(id: id), row.state == .pending else { continue }
            try setOutbox(id: id, state: .sending, attempts: row.attempts + 1, nextAttemptAt: nil, lastError: nil, body: nil, at: at)
            marked.insert(id)
        }
        return marked
    }

    public mutating func setOutbox(ids: [Int64], state: OutboxState, attempts: Int, nextAttemptAt: Date?, lastError: String?, at: Date) throws {
        for id in ids { try setOutbox(id: id, state: state, attempts: attempts, nextAttemptAt: nextAttemptAt, lastError: lastError, body: nil, at: at) }
    }

    public mutating func updateRuns(ids: [Int64], _ update: RunUpdate, at: Date) throws {
        for id in ids { try updateRun(id: id, update, at: at) }
    }

    public func cancelledRunIds(among ids: [Int64]) throws -> Set<Int64> {
        Set(try ids.filter { try runStatus(id: $0) == .cancelled })
    }
}

extension DispatchTransaction {
    public func outbox(states: [OutboxState], limit: Int) throws -> [OutboxItem] {
        try outbox(states: states, limit: limit, before: nil, after: nil)
    }
}
