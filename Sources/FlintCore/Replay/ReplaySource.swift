import FlintPluginAPI
import FlintRules
import Foundation

/// Which stored events `flint replay` decides again: those received in `[from, to)` (either end
/// open when nil) that the decider had decided (docs/replay.md).
public struct ReplayWindow: Sendable, Hashable {
    public var from: Date?
    public var to: Date?

    public init(from: Date? = nil, to: Date? = nil) {
        self.from = from
        self.to = to
    }
}

/// Where a window lies in the event log: the decided events received in it are those with
/// `first <= seq <= last`.
public struct ReplayBounds: Sendable, Hashable {
    public var first: Int64
    public var last: Int64
    /// Decided events in the window (of the user, when one was given).
    public var events: Int
    /// Events received in the window but not decided yet (the backlog): not replayed.
    public var undecided: Int
    /// The receive time of the first event replayed (rule state is taken as it stood before it).
    public var firstReceivedAt: Date?

    public init(first: Int64, last: Int64, events: Int, undecided: Int, firstReceivedAt: Date?) {
        self.first = first
        self.last = last
        self.events = events
        self.undecided = undecided
        self.firstReceivedAt = firstReceivedAt
    }

    public static let empty = ReplayBounds(first: 1, last: 0, events: 0, undecided: 0, firstReceivedAt: nil)
}

/// An event as stored: the columns the events table keeps beside the body, and the body still
/// text. Replay decodes a body (in parallel) only when it decides the event again.
public struct StoredEvent: Sendable {
    public var seq: Int64
    public var messageId: String
    public var receivedAt: Date
    public var body: String
    public var type: Event.Kind
    public var name: String?
    public var userKey: String
    /// The event's `timestamp`.
    public var timestamp: Date

    public init(seq: Int64, messageId: String, receivedAt: Date, body: String, type: Event.Kind, name: String?, userKey: String, timestamp: Date) {
        self.seq = seq
        self.messageId = messageId
        self.receivedAt = receivedAt
        self.body = body
        self.type = type
        self.name = name
        self.userKey = userKey
        self.timestamp = timestamp
    }

    /// The event, or nil when the body no longer reads as one.
    public func decoded() -> Event? {
        guard let value = try? JSONParser.parse(body, maxDepth: 512),
            case .success(let event) = Event.decode(value, receivedAt: receivedAt, fallbackMessageId: messageId)
        else { return nil }
        return event
    }
}

/// What a run row says about its decision: enough to know what was decided (docs/architecture.md,
/// Runs and the ledger) without its trace.
public struct StoredRun: Sendable {
    public var eventSeq: Int64
    public var ruleId: String
    public var ruleVersion: String
    public var status: RunStatus
    public var sendAt: Date?
    /// A limit held its planned send back.
    public var held: Bool
    /// Set when the run reached pending (it was decided as a send).
    public var consumedAt: Date?
    /// The sequence number of the event that cancelled it (`cancel_on`), when that event is stored.
    public var cancelledBySeq: Int64?
    /// The decision's `now`.
    public var createdAt: Date
    /// The settings it was decided with: a key of `ReplayPage.contexts` (nil before the ledger kept them).
    public var contextId: Int64?

    public init(
        eventSeq: Int64, ruleId: String, ruleVersion: String, status: RunStatus, sendAt: Date?, held: Bool, consumedAt: Date?,
        cancelledBySeq: Int64?, createdAt: Date, contextId: Int64?
    ) {
        self.eventSeq = eventSeq
        self.ruleId = ruleId
        self.ruleVersion = ruleVersion
        self.status = status
        self.sendAt = sendAt
        self.held = held
        self.consumedAt = consumedAt
        self.cancelledBySeq = cancelledBySeq
        self.createdAt = createdAt
        self.contextId = contextId
    }
}

/// One page of the window: its events in commit order and their runs.
public struct ReplayPage: Sendable {
    public var events: [StoredEvent]
    public var runs: [StoredRun]
    /// The settings the runs name (`StoredRun.contextId`).
    public var contexts: [Int64: DecideContext]

    public init(events: [StoredEvent], runs: [StoredRun], contexts: [Int64: DecideContext] = [:]) {
        self.events = events
        self.runs = runs
        self.contexts = contexts
    }
}

/// A run before the window that consumed a rule's limits (reached pending), with its event.
public struct PastConsumption: Sendable {
    public var consumedAt: Date
    public var event: StoredEvent

    public init(consumedAt: Date, event: StoredEvent) {
        self.consumedAt = consumedAt
        self.event = event
    }
}

/// The reads `flint replay` makes. Read-only: a replay writes nothing (FlintStore's SQLite store
/// implements it on its reader connections, so it runs beside `flint serve`).
public protocol ReplaySource: Sendable {
    /// Where the window lies; only events the decider had decided, of `user` when given.
    func replayBounds(_ window: ReplayWindow, user: String?) async throws -> ReplayBounds
    /// Events with `after < seq <= through` in commit order, at most `limit`, of `user` when given,
    /// with all their runs.
    func replayPage(after: Int64, through: Int64, user: String?, limit: Int) async throws -> ReplayPage
    /// The profiles these users had before event `seq`: their identify calls before it, folded as the
    /// decider folds them (`ProfileFold`). Users without any are absent.
    func replayProfiles(users: [String], before seq: Int64) async throws -> [String: UserProfile]
    /// The runs of `rule` of events before `seq` that consumed its limits at or after `since`, in
    /// commit order.
    func pastConsumptions(rule: String, since: Date, before seq: Int64) async throws -> [PastConsumption]
    /// A recorded rule version (what the stored runs were decided with).
    func ruleVersion(rule: String, version: String) async throws -> RuleVersionRecord?
}
