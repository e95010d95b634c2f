import Foundation

/// One thing the planner did, in plain English, for the run's trace (docs/architecture.md, planner step 7).
public struct PlanStep: Sendable, Hashable, Codable {
    /// What kind of step this is; the raw values are what the ledger stores.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        case delay
        case at
        case weekday
        case dstGap = "dst_gap"
        case dstOverlap = "dst_overlap"
        case late
        case skippedLate = "skipped_late"
        case quietHours = "quiet_hours"
        case rollForward = "roll_forward"
        case horizon
        case optimalNotice = "optimal_notice"
        case zone
    }

    public var kind: Kind
    /// Plain English, e.g. "quiet hours 21:00-08:00 in Europe/Paris: moved from 23:10 to 08:00 next day".
    public var message: String
    /// The planned instant C after this step, when the step concerns it.
    public var instant: Date?

    public init(kind: Kind, message: String, instant: Date? = nil) {
        self.kind = kind
        self.message = message
        self.instant = instant
    }
}
