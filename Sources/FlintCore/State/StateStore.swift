import FlintPluginAPI
import FlintRules
import Foundation

/// The writes and reads the engine makes inside one transaction.
///
/// Implemented by `MemoryStateStore` and by FlintStore's SQLite store. Everything done through one
/// transaction value is committed together or not at all: the engine relies on this to write an
/// event, its runs, their outbox rows and the rule state they consume atomically.
public protocol StateTransaction: DispatchTransaction {
    /// Inserts an accepted event; returns its sequence number, or nil when its messageId was
    /// already accepted (a duplicate: nothing is written).
    mutating func insertEvent(_ event: Event, source: String, receivedAt: Date) throws -> Int64?
    /// The same, with the event's body already serialized (compact JSON), so the single writer does
    /// not spend its time on it.
    mutating func insertEvent(_ event: Event, body: [UInt8], source: String, receivedAt: Date) throws -> Int64?
    /// Keeps a refused item with its reasons; `index` is its 0-based position in the submitted batch,
    /// `origin` where the source read it (file and line, request and index), when it said.
    mutating func insertRejected(source: String, index: Int, origin: EventOrigin?, errors: [String], body: String, receivedAt: Date) throws

    func profile(for userKey: String) throws -> UserProfile?
    mutating func saveProfile(_ profile: UserProfile, for userKey: String, at: Date) throws
    /// Counts one run that ignored `zone` because it is not in the tz database (`unknownZones()`).
    mutating func noteUnknownZone(_ zone: String, user: String, at: Date) throws

    /// Records a rule version if it is new.
    mutating func recordRuleVersion(_ version: RuleVersionRecord) throws

    /// The event time of the last send that consumed `once_per` for (rule, key), if any.
    func oncePerLast(rule: String, key: String) throws -> Date?
    mutating func setOncePer(rule: String, key: String, eventTime: Date, runId: Int64) throws
    /// How many runs of a rule reached `pending` at or after `since` (for `max_sends`).
    func consumedCount(rule: String, since: Date) throws -> Int

    /// The id of the `decide_contexts` row for these settings, written if it is new.
    mutating func decideContextId(_ context: DecideContext) throws -> Int64

    mutating func insertRun(_ run: NewRun) throws -> Int64
    /// Inserts an outbox row; false (and nothing written) when a row with the same key exists.
    mutating func insertOutbox(_ item: NewOutboxItem) throws -> Bool

    /// The user's runs of a rule that are still `pending` or `scheduled` (for `cancel_on`).
    func openRuns(rule: String, user: String) throws -> [OpenRun]
    /// Marks a run cancelled by an event; a pending outbox row is withdrawn with it.
    mutating func cancelRun(id: Int64, byEvent messageId: String, reason: String, at: Date) throws

    /// The sequence number every event up to which is decided (runs, outbox rows and rule state
    /// written): the decider's durable position (docs/architecture.md, The pipeline). 0 on a new store.
    func decidedThrough() throws -> Int64
    /// Moves the position, in the transaction that writes the decisions of the events up to `seq`.
    mutating func setDecidedThrough(_ seq: Int64, at: Date) throws

    /// Replaces the saved plugin statuses with these (what `flint plugins` reads).
    mutating func replacePluginStatuses(_ statuses: [PluginStatus]) throws
    /// Replaces what `flint serve` last said about itself (what `flint status` reads).
    mutating func saveServeHeartbeat(_ heartbeat: ServeHeartbeat) throws
}

extension StateTransaction {
    /// A rejected item whose origin the source did not say.
    public mutating func insertRejected(source: String, index: Int, errors: [String], body: String, receivedAt: Date) throws {
        try insertRejected(source: source, index: index, origin: nil, errors: errors, body: body, receivedAt: receivedAt)
    }
}

/// Durable state: events, profiles, rule versions, runs, the outbox, rule state.
public protocol StateStore: Sendable {
    /// Runs `body` in one write transaction and commits it. When this returns, the writes are durable
    /// (for SQLite: committed in WAL mode). When `body` throws, nothing of it is written.
    func write<T: Sendable>(_ body: @Sendable (inout any StateTransaction) throws -> T) async throws -> T

    /// Read-only queries, safe while another process writes.
    var ledger: any LedgerReader { get }

    /// Where deciding stands: the decided position and the last accepted sequence number (a read,
    /// never waiting for the writer).
    func decideProgress() async throws -> DecideProgress
    /// Accepted events after `seq`, in commit order, at most `limit`: what the decider reads back
    /// when it catches up (after a restart, or events another process appended).
    func loggedEvents(after seq: Int64, limit: Int) async throws -> [LoggedEvent]
    /// The saved profiles of these users (a read; users without one are absent).
    func profiles(for userKeys: [String]) async throws -> [String: UserProfile]

    /// Deletes what the policy no longer keeps. Pending and scheduled runs, and their events, are kept.
    func prune(_ policy: RetentionPolicy, now: Date) async throws -> PruneResult
}

/// Filters for `flint runs`.
public struct RunQuery: Sendable, Hashable {
    public var rule: String?
    public var status: RunStatus?
    public var user: String?
    /// An event's messageId.
    public var event: String?
    /// Only runs created at or after this instant.
    public var since: Date?
    /// At most this many, newest first.
    public var limit: Int
    /// Paging: only runs listed after this run id (older ones: created earlier, or at the same
    /// instant with a smaller id); the `limit` nearest to it.
    public var before: Int64?
    /// Paging: only runs listed before this run id (newer ones); the `limit` nearest to it, still
    /// returned newest first. `flint runs --follow` polls with it.
    public var after: Int64?
    /// Rebuild each run's trace (and its planned request and schedule) (docs/architecture.md, Runs
    /// and the ledger). Listings that show no trace leave it off: they read the compact rows only.
    public var traces: Bool

    public init(
        rule: String? = nil, status: RunStatus? = nil, user: String? = nil, event: String? = nil, since: Date? = nil, limit: Int = 50,
        before: Int64? = nil, after: Int64? = nil, traces: Bool = true
    ) {
        self.traces = traces
        self.rule = rule
        self.status = status
        self.user = user
        self.event = event
        self.since = since
        self.limit = limit
        self.before = before
        self.after = after
    }
}

/// Filters for `flint events`.
public struct EventQuery: Sendable, Hashable {
    public var name: String?
    public var user: String?
    public var since: Date?
    public var limit: Int
    /// Paging: only events listed after this one (older: received earlier, or at the same instant
    /// with a smaller seq); for rejected input, a rejected row's id.
    public var before: Int64?
    /// Paging: only events listed before this one (newer); the `limit` nearest to it, newest first.
    public var after: Int64?

    public init(name: String? = nil, user: String? = nil, since: Date? = nil, limit: Int = 50, before: Int64? = nil, after: Int64? = nil) {
        self.name = name
        self.user = user
        self.since = since
        self.limit = limit
        self.before = before
        self.after = after
    }
}

/// What `flint status` shows about the store.
public struct StoreStatus: Sendable, Hashable {
    public var runsByStatus: [RunStatus: Int]
    public var events: Int
    public var rejected: Int
    /// Outbox rows waiting to be sent.
    public var outboxPending: Int
    /// The creation time of the oldest pending outbox row.
    public var oldestPendingCreatedAt: Date?
    /// Outbox rows given up on (`dead`): they need a person (`flint outbox retry ID`).
    public var outboxDead: Int
    public var oldestDeadCreatedAt: Date?
    /// Outbox rows sent with no known outcome (`unknown`): they need a person to check Braze.
    public var outboxUnknown: Int
    public var oldestUnknownCreatedAt: Date?
    /// Accepted events not decided yet (after the decider's position), and the receive time of the
    /// oldest (docs/architecture.md, The pipeline).
    public var decisionBacklog: Int
    public var oldestUndecidedAt: Date?
    /// Rule versions recorded, and the newest per rule.
    public var ruleVersions: Int
    /// The last failures (`failed` runs, newest first): when, rule, reason.
    public var lastFailures: [RunRecord]
    public var lastEventAt: Date?

    public init(
        runsByStatus: [RunStatus: Int], events: Int, rejected: Int, outboxPending: Int, oldestPendingCreatedAt: Date?,
        ruleVersions: Int, lastFailures: [RunRecord], lastEventAt: Date?, outboxDead: Int = 0, oldestDeadCreatedAt: Date? = nil,
        outboxUnknown: Int = 0, oldestUnknownCreatedAt: Date? = nil, decisionBacklog: Int = 0, oldestUndecidedAt: Date? = nil
    ) {
        self.runsByStatus = runsByStatus
        self.events = events
        self.rejected = rejected
        self.outboxPending = outboxPending
        self.oldestPendingCreatedAt = oldestPendingCreatedAt
        self.outboxDead = outboxDead
        self.oldestDeadCreatedAt = oldestDeadCreatedAt
        self.outboxUnknown = outboxUnknown
        self.oldestUnknownCreatedAt = oldestUnknownCreatedAt
        self.decisionBacklog = decisionBacklog
        self.oldestUndecidedAt = oldestUndecidedAt
        self.ruleVersions = ruleVersions
        self.lastFailures = lastFailures
        self.lastEventAt = lastEventAt
    }
}

/// Dispatching to one action is paused because it refused its credentials (401/403).
public struct DispatchPause: Sendable, Hashable {
    /// The action whose sends are held (`braze`).
    public var action: String
    /// What the action said (`credentials refused (401): ...`).
    public var reason: String
    /// When the pause began (a failed probe does not move it).
    public var since: Date
    /// When the held send is tried again.
    public var nextProbe: Date

    public init(action: String, reason: String, since: Date, nextProbe: Date) {
        self.action = action
        self.reason = reason
        self.since = since
        self.nextProbe = nextProbe
    }
}

/// What a running `flint serve` says about itself, saved every few seconds so `flint status`, another
/// process, can tell whether it runs and what holds it back.
public struct ServeHeartbeat: Sendable, Hashable {
    public var pid: Int
    /// The machine's host name.
    public var host: String
    /// The address the listener is bound to (`127.0.0.1:8080`).
    public var listen: String
    public var startedAt: Date
    /// The last heartbeat; older than `ServeHeartbeat.stale` means serve is gone.
    public var lastSeen: Date
    /// Set when serve stopped cleanly.
    public var stoppedAt: Date?
    public var pause: DispatchPause?
    /// Rules in force.
    public var rulesLoaded: Int
    /// The errors of the last refused reload of the rules folder (the last good set keeps running).
    public var ruleErrors: [String]
    /// Since when the folder has had those errors.
    public var ruleErrorsSince: Date?

    /// A heartbeat older than this, without a stop, means serve is not running (killed, or hung).
    public static let stale: TimeInterval = 20

    public init(
        pid: Int, host: String, listen: String, startedAt: Date, lastSeen: Date, stoppedAt: Date? = nil, pause: DispatchPause? = nil,
        rulesLoaded: Int = 0, ruleErrors: [String] = [], ruleErrorsSince: Date? = nil
    ) {
        self.pid = pid
        self.host = host
        self.listen = listen
        self.startedAt = startedAt
        self.lastSeen = lastSeen
        self.stoppedAt = stoppedAt
        self.pause = pause
        self.rulesLoaded = rulesLoaded
        self.ruleErrors = ruleErrors
        self.ruleErrorsSince = ruleErrorsSince
    }

    /// Whether serve was running at `now`, by this heartbeat.
    public func isRunning(at now: Date) -> Bool {
        stoppedAt == nil && now.timeIntervalSince(lastSeen) <= Self.stale
    }
}

/// How long the ledger keeps things.
public struct RetentionPolicy: Sendable, Hashable {
    /// Events (and the runs of deleted events) older than this are pruned.
    public var events: TimeInterval
    /// Runs older than this are pruned (pending ones never are).
    public var runs: TimeInterval
    /// `not_matched` runs, which can be numerous, have their own, usually shorter, retention.
    public var notMatched: TimeInterval
    /// Rejected events.
    public var rejected: TimeInterval

    public init(events: TimeInterval = 30 * 86_400, runs: TimeInterval = 30 * 86_400, notMatched: TimeInterval = 3 * 86_400, rejected: TimeInterval = 30 * 86_400) {
        self.events = events
        self.runs = runs
        self.notMatched = notMatched
        self.rejected = rejected
    }
}

/// What a prune removed.
public struct PruneResult: Sendable, Hashable {
    public var events: Int
    public var runs: Int
    public var rejected: Int

    public init(events: Int, runs: Int, rejected: Int) {
        self.events = events
        self.runs = runs
        self.rejected = rejected
    }
}

/// Reads for the CLI and HTTP endpoints.
public protocol LedgerReader: Sendable {
    /// Newest first.
    func runs(_ query: RunQuery) async throws -> [RunRecord]
    /// A run with its trace rebuilt (and, where the row has none, its planned request and schedule).
    func run(id: Int64) async throws -> RunRecord?
    /// What was decided for a run, decided again from its compact row (`TraceRebuilder`): nil when
    /// there is no such run. Runs decided before compact runs have nothing to rebuild from: their
    /// stored trace, request and schedule stand in.
    func decision(ofRun id: Int64) async throws -> DecidedRun?
    /// Newest first.
    func events(_ query: EventQuery) async throws -> [EventRecord]
    /// By messageId, or by sequence number given as digits.
    func event(id: String) async throws -> EventRecord?
    /// These events (those still in the ledger), by sequence number, in one read.
    func events(seqs: [Int64]) async throws -> [Int64: EventRecord]
    /// Newest first.
    func rejected(_ query: EventQuery) async throws -> [RejectedRecord]
    func status() async throws -> StoreStatus
    func ruleVersion(rule: String, version: String) async throws -> RuleVersionRecord?
    /// The plugin statuses `flint serve` last saved, in its order.
    func pluginStatuses() async throws -> [PluginStatus]
    /// Zone names runs ignored because they are not in the tz database, most runs first.
    func unknownZones() async throws -> [UnknownZoneCount]
    /// What `flint serve` last said about itself; nil when it never ran on this store.
    func serveHeartbeat() async throws -> ServeHeartbeat?
    /// The outbox rows of these runs (those that have one), by run id: `flint why` names the id
    /// `flint outbox retry` takes.
    func outboxRows(runIds: [Int64]) async throws -> [Int64: OutboxRef]
    /// Every rule id the ledger recorded a version of, sorted.
    func knownRuleIds() async throws -> [String]
}

/// An outbox row, as `flint why` names it.
public struct OutboxRef: Sendable, Hashable {
    public var id: Int64
    public var runId: Int64
    public var state: OutboxState

    public init(id: Int64, runId: Int64, state: OutboxState) {
        self.id = id
        self.runId = runId
        self.state = state
    }
}
