import Foundation

/// A time-zone name Flint met that is not in the tz database (an event's `context.timezone`, a zone
/// learned from identify calls), with how many runs ignored it: what `flint status` shows so a bad
/// zone in the product's data does not go unnoticed (docs/rules.md, "How Flint learns a user's zone").
public struct UnknownZoneCount: Sendable, Hashable, Codable {
    /// The name as sent (`Mars/Phobos`).
    public var zone: String
    /// How many runs noted it (each used the profile's or the default zone instead).
    public var runs: Int
    /// When a run last noted it.
    public var lastSeen: Date
    /// The user of that run.
    public var lastUser: String?

    public init(zone: String, runs: Int, lastSeen: Date, lastUser: String?) {
        self.zone = zone
        self.runs = runs
        self.lastSeen = lastSeen
        self.lastUser = lastUser
    }
}
