/// The routes the listener serves, and what each expects.
public enum WebhookEndpoint: String, Sendable, CaseIterable {
    /// `POST /v1/events`: one event, a JSON array of events, or NDJSON.
    case events
    /// `POST /v1/track`: one Segment track call.
    case track
    /// `POST /v1/identify`: one Segment identify call.
    case identify
    /// `POST /v1/batch`: Segment's `{"batch": [...]}`.
    case batch

    public var path: String { "/v1/\(rawValue)" }

    /// Segment's SDKs treat anything but 200 as a failure and retry, so these answer 200 with
    /// `"success": true` where `/v1/events` answers 202.
    var isSegment: Bool { self != .events }

    /// The `type` filled in when a call has none.
    var impliedType: String? {
        switch self {
        case .track: "track"
        case .identify: "identify"
        case .events, .batch: nil
        }
    }
}
