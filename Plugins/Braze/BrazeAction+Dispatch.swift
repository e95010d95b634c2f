import FlintPluginAPI
import Foundation

/// What the dispatcher may do with Braze's sends (docs/braze.md; docs/architecture.md, Dispatch).
extension BrazeAction {
    /// At most 50 recipients per `schedule/create` request.
    public static let maxRecipients = 50
    /// `trigger_properties`: at most 50 KB, read as 51,200 bytes of compact UTF-8 JSON. Coalesced
    /// sends' recipient `trigger_properties` together stay within it.
    public static let maxTriggerPropertiesBytes = 51_200

    /// Coalescing by campaign_id, send_id, the schedule object, the audience and broadcast; 50
    /// distinct recipients at most; deletes through `schedule/delete` with the schedule_id; the
    /// configured budgets (requests per hour, and per minute for requests with an audience).
    public var dispatch: ActionDispatch {
        ActionDispatch(coalescing: Self.coalescing, cancellation: Self.cancellation, budget: Self.budget(requestsPerHour: requestsPerHour, audienceRequestsPerMinute: audienceRequestsPerMinute),
            schedulesAhead: true)
    }

    public static func budget(requestsPerHour: Int, audienceRequestsPerMinute: Int) -> [RateBucket] {
        [
            RateBucket(name: "braze.requests_per_hour", capacity: requestsPerHour, period: 3600),
            RateBucket(name: "braze.audience_requests_per_minute", capacity: audienceRequestsPerMinute, period: 60, applies: { $0["audience"] != nil }),
        ]
    }

    public static let coalescing = SendCoalescing(
        key: { request in
            // One recipient per planned send; a send without recipients (a broadcast) goes alone.
            guard request.body["recipients"]?.arrayValue?.count == 1 else { return nil }
            return SendCoalescing.fieldsKey(["campaign_id", "send_id", "schedule", "audience", "broadcast"], request: request, scheduleField: "schedule")
        },
        identity: { recipientIdentity($0.body["recipients"]?.arrayValue?.first ?? .null) },
        maxSends: maxRecipients,
        maxBytes: maxTriggerPropertiesBytes,
        size: { request in request.body["recipients"]?.arrayValue?.first?["trigger_properties"]?.compactUTF8Count ?? 0 },
        merge: merge)

    public static let cancellation = SendCancellation(
        handle: { sent, details in
            guard let campaign = sent["campaign_id"]?.stringValue, let schedule = details["schedule_id"]?.stringValue else { return nil }
            return CancelHandle(scope: campaign, id: schedule)
        },
        request: { ["campaign_id": .string($0.scope), "schedule_id": .string($0.id)] },
        done: { "deleted from Braze (schedule_id \($0.id))" })

    /// The identifier a recipient is known by in Braze; two in one request would collapse into one message.
    public static func recipientIdentity(_ recipient: JSONValue) -> String {
        if let id = recipient["external_user_id"]?.stringValue { return "e:" + id }
        if let alias = recipient["user_alias"] { return "a:" + alias.compactJSON }
        if let email = recipient["email"]?.stringValue { return "m:" + email }
        return recipient.compactJSON
    }

    /// One `schedule/create` body for sends that share a key: the first body, its planned schedule,
    /// and every send's recipients in order.
    public static func merge(_ requests: [SendRequest]) -> SendRequest {
        guard let first = requests.first else { return SendRequest(id: "", body: .null, schedule: nil) }
        guard case .object(var body) = body(for: first) else { return first }
        if requests.count > 1 { body["recipients"] = .array(requests.flatMap { $0.body["recipients"]?.arrayValue ?? [] }) }
        return SendRequest(id: first.id, body: .object(body), schedule: first.schedule, operation: first.operation)
    }
}
