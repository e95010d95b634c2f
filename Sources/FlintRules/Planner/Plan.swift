import Foundation

/// How a plan ends.
public enum PlanOutcome: Sendable, Hashable {
    /// Schedule a send. `sendAt` is the planned instant C; for `in_local_time` and `at_optimal_time`
    /// it is the instant in the planning zone Z from which `schedule.time` was written.
    case send(schedule: BrazeSchedule, sendAt: Date)
    /// A skipped run (`if_late: skip`).
    case skip(reason: String)
    /// A failed run (beyond the 90-day horizon, unknown zone, nothing schedulable).
    case fail(reason: String)
}

/// The planner's answer: the outcome, every step that shaped it, and the zone Z it read wall clocks in.
public struct Plan: Sendable, Hashable {
    public var outcome: PlanOutcome
    public var steps: [PlanStep]
    /// Z: the zone `at`, `on` and `quiet_hours` were read in.
    public var zone: TimeZone

    public init(outcome: PlanOutcome, steps: [PlanStep], zone: TimeZone) {
        self.outcome = outcome
        self.steps = steps
        self.zone = zone
    }

    /// The Braze schedule object when the outcome is a send.
    public var schedule: BrazeSchedule? {
        if case .send(let schedule, _) = outcome { return schedule }
        return nil
    }

    /// The planned instant when the outcome is a send.
    public var sendAt: Date? {
        if case .send(_, let sendAt) = outcome { return sendAt }
        return nil
    }
}
