/// The Braze scheduling endpoints the client calls (docs/braze.md, The call).
public enum BrazeOperation: String, Sendable, Hashable, CaseIterable {
    /// `POST /campaigns/trigger/schedule/create`: not idempotent, answers a `schedule_id`.
    case createSchedule = "create"
    /// `POST /campaigns/trigger/schedule/delete` `{campaign_id, schedule_id}`.
    case deleteSchedule = "delete"
    /// `POST /campaigns/trigger/schedule/update` `{campaign_id, schedule_id, schedule}`.
    case updateSchedule = "update"

    /// The path below the REST endpoint, without a leading `/`.
    public var path: String { "campaigns/trigger/schedule/\(rawValue)" }
}
