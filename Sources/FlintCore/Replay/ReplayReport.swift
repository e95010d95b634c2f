import FlintPluginAPI
import FlintRules
import Foundation

/// One side of a replayed run: what the decision produced (docs/replay.md). The schedule and the
/// request are there only for runs that planned a send (pending, shadow, cancelled) and were decided
/// again; the request is left out, on both sides alike, where it cannot differ (the same send spec
/// and the same schedule).
public struct ReplayRun: Sendable, Hashable {
    public var status: RunStatus
    public var sendAt: Date?
    public var schedule: BrazeSchedule?
    public var request: JSONValue?
    /// The zone wall clocks were read in (the send-hour histogram reads send times there).
    public var zone: String?
    /// False when what was decided could not be decided again (its rule version is not recorded):
    /// then only the status and the send time are compared.
    public var detailed: Bool

    public init(status: RunStatus, sendAt: Date?, schedule: BrazeSchedule?, request: JSONValue?, zone: String?, detailed: Bool = true) {
        self.status = status
        self.sendAt = sendAt
        self.schedule = schedule
        self.request = request
        self.zone = zone
        self.detailed = detailed
    }

    /// The statuses of a run that planned a send: the ones whose time and request are compared.
    public var planned: Bool {
        switch status {
        case .pending, .shadow, .cancelled, .scheduled: true
        case .notMatched, .skipped, .failed, .unknown: false
        }
    }

    /// The same outcome: the status, and for a planned send its time, schedule and request.
    public func sameOutcome(as other: ReplayRun) -> Bool {
        guard status == other.status else { return false }
        guard planned else { return true }
        switch (sendAt, other.sendAt) {
        case (nil, nil): break
        case (let a?, let b?): if abs(a.timeIntervalSince(b)) >= 0.0005 { return false }
        default: return false
        }
        guard detailed, other.detailed else { return true }
        return schedule == other.schedule && request == other.request
    }

    /// `{"status", "send_at", "schedule", "request"}`.
    public var json: JSONValue {
        return [
            "status": .string(status.rawValue),
            "send_at": planned ? (sendAt.map { .string(Timestamp.formatUTC($0)) } ?? .null) : .null,
            "schedule": planned ? (schedule?.json ?? .null) : .null,
            "request": planned ? (request ?? .null) : .null,
        ]
    }
}

/// A run that would appear, disappear or change.
public struct ReplayChange: Sendable {
    public var eventSeq: Int64
    public var eventId: String
    public var eventName: String?
    public var eventTime: Date
    public var ruleId: String
    public var user: String
    public var before: ReplayRun?
    public var after: ReplayRun?

    public var json: JSONValue {
        [
            "event_id": .string(eventId), "rule_id": .string(ruleId), "user": .string(user),
            "before": before?.json ?? .null, "after": after?.json ?? .null,
        ]
    }
}

/// Per rule: how its runs in the window compare.
public struct ReplayRuleSummary: Sendable {
    public var ruleId: String
    /// Runs only the replay has.
    public var added = 0
    /// Runs only the ledger has.
    public var removed = 0
    /// Runs on both sides with a different outcome.
    public var changed = 0
    /// Runs on both sides with the same outcome.
    public var unchanged = 0
    /// Of `changed`: runs whose status differs, by "before -> after".
    public var statusChanges: [String: Int] = [:]
    /// Of `changed`: runs planned on both sides at different times, with the shift (after - before), seconds.
    public var shifts: [Double] = []
    /// Of `changed`: runs planned on both sides whose request (or schedule flags) differ.
    public var requestChanges = 0
    /// Planned sends (pending or shadow) by the local hour of their send time, before and after.
    public var hoursBefore = [Int](repeating: 0, count: 24)
    public var hoursAfter = [Int](repeating: 0, count: 24)

    public init(ruleId: String) {
        self.ruleId = ruleId
    }

    public var total: Int { added + removed + changed + unchanged }
    public var differs: Bool { added + removed + changed > 0 }

    /// The median and the largest (by magnitude) send-time shift, seconds.
    public var medianShift: Double? {
        guard !shifts.isEmpty else { return nil }
        let sorted = shifts.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    public var largestShift: Double? { shifts.max { abs($0) < abs($1) } }

    public var json: JSONValue {
        [
            "rule_id": .string(ruleId), "added": .number(Double(added)), "removed": .number(Double(removed)),
            "changed": .number(Double(changed)), "unchanged": .number(Double(unchanged)),
        ]
    }
}

/// What a replay found (docs/replay.md).
public struct ReplayReport: Sendable {
    public var bounds: ReplayBounds
    /// Events decided again (identify calls included).
    public var events = 0
    /// Events whose body no longer reads as an event (passed over, as the decider does).
    public var unreadable = 0
    /// Per rule, in rule id order.
    public var summaries: [ReplayRuleSummary] = []
    /// Every run that would appear, disappear or change, in commit order.
    public var changes: [ReplayChange] = []
    /// How long the replay took, seconds.
    public var seconds: Double = 0

    public init(bounds: ReplayBounds) {
        self.bounds = bounds
    }

    public var anyChange: Bool { summaries.contains { $0.differs } }

    /// `{"summary": [...], "changes": [...]}`.
    public var json: JSONValue {
        ["summary": .array(summaries.map(\.json)), "changes": .array(changes.map(\.json))]
    }
}
