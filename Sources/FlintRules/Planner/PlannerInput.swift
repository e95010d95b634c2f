import Foundation

/// Everything the planner reads (docs/architecture.md, The planner). Time is a parameter: the
/// planner never reads a clock.
public struct PlannerInput: Sendable {
    /// T: when the event happened.
    public var eventTime: Date
    /// N: the time the plan is made (or the dispatch time, when planning again).
    public var now: Date
    /// The rule's `schedule:` block.
    public var schedule: ScheduleSpec
    /// Zu: the user's zone (event `context.timezone`, else profile); nil when unknown.
    public var userZone: TimeZone?
    /// Zd: `default_time_zone`.
    public var defaultZone: TimeZone
    /// Zc: Braze's company time zone (`braze.company_time_zone`); nil means the default zone.
    public var companyZone: TimeZone?
    /// L: the lead in seconds (`lead`, default 60 s).
    public var lead: Int
    /// Whether the plan says how it got there (its steps). The decider plans without them: they are
    /// rebuilt with the run's trace when someone asks (docs/architecture.md, Runs and the ledger).
    /// The outcome is the same either way.
    public var explain: Bool

    public init(
        eventTime: Date, now: Date, schedule: ScheduleSpec, userZone: TimeZone?, defaultZone: TimeZone,
        companyZone: TimeZone? = nil, lead: Int = 60, explain: Bool = true
    ) {
        self.eventTime = eventTime
        self.now = now
        self.schedule = schedule
        self.userZone = userZone
        self.defaultZone = defaultZone
        self.companyZone = companyZone
        self.lead = lead
        self.explain = explain
    }
}
