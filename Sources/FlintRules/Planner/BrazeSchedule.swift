import Foundation
import FlintPluginAPI

/// Braze's `schedule` object, exactly as sent to `/campaigns/trigger/schedule/create` (docs/braze.md, Schedules).
/// Both flags are always present, as booleans.
public struct BrazeSchedule: Sendable, Hashable, Codable {
    /// `2026-11-30T18:00:00Z` (UTC), `2026-11-30T10:00:00` (local time) or `2026-11-30T00:00:00` (optimal).
    public var time: String
    public var inLocalTime: Bool
    public var atOptimalTime: Bool

    public init(time: String, inLocalTime: Bool = false, atOptimalTime: Bool = false) {
        self.time = time
        self.inLocalTime = inLocalTime
        self.atOptimalTime = atOptimalTime
    }

    enum CodingKeys: String, CodingKey {
        case time
        case inLocalTime = "in_local_time"
        case atOptimalTime = "at_optimal_time"
    }

    /// The object as JSON: `{"time": ..., "in_local_time": ..., "at_optimal_time": ...}`.
    public var json: JSONValue {
        .object(["time": .string(time), "in_local_time": .bool(inLocalTime), "at_optimal_time": .bool(atOptimalTime)])
    }
}
