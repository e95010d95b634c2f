import Foundation

/// What the engine reads from configuration.
public struct EngineSettings: Sendable {
    /// `default_time_zone`: the zone of users whose zone is unknown.
    public var defaultZone: TimeZone
    /// `braze.company_time_zone` (nil: the default zone).
    public var companyZone: TimeZone?
    /// `lead`, seconds: the earliest a send may be planned after now.
    public var lead: Int
    /// The most events one transaction commits (group commit).
    public var maxEventsPerCommit: Int

    public init(defaultZone: TimeZone = TimeZone(identifier: "UTC")!, companyZone: TimeZone? = nil, lead: Int = 60, maxEventsPerCommit: Int = 2000) {
        self.defaultZone = defaultZone
        self.companyZone = companyZone
        self.lead = lead
        self.maxEventsPerCommit = maxEventsPerCommit
    }
}
