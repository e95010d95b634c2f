import FlintPluginAPI
import Foundation

/// A schedule the sandbox holds, as `GET /_sandbox/schedules` shows it.
public struct SandboxSchedule: Sendable, Hashable {
    public var scheduleID: String
    public var dispatchID: String
    public var campaignID: String
    public var sendID: String?
    /// The schedule object as last created or updated.
    public var schedule: JSONValue
    /// The create request's body.
    public var request: JSONValue
    public var createdAt: Date
    public var updatedAt: Date
    /// How many updates replaced the schedule object.
    public var updates: Int
    /// Creation order, for listings.
    var sequence: Int

    /// The schedule as JSON.
    public var json: JSONValue {
        .object([
            "schedule_id": .string(scheduleID),
            "dispatch_id": .string(dispatchID),
            "campaign_id": .string(campaignID),
            "send_id": sendID.map(JSONValue.string) ?? .null,
            "schedule": schedule,
            "request": request,
            "created_at": .string(Timestamp.formatUTCMillis(createdAt)),
            "updated_at": .string(Timestamp.formatUTCMillis(updatedAt)),
            "updates": .number(Double(updates)),
        ])
    }

    /// True when a local-time schedule's wall clock has already come in the earliest zone (UTC+14):
    /// Braze then ignores updates (docs/braze.md, Schedules).
    func localTimeHasStarted(now: Date) -> Bool {
        guard schedule["in_local_time"]?.boolValue == true, let text = schedule["time"]?.stringValue,
            let wallClock = SandboxTime.parse(text)?.wallClockAsUTC
        else { return false }
        return now >= wallClock.addingTimeInterval(-14 * 3600)
    }
}
