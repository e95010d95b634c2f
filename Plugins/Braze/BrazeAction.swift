import FlintPluginAPI
import Foundation
import Logging

/// The `braze` action: creates a Braze schedule for each planned send.
///
/// `perform` answers the plugin contract's `ActionOutcome`. The dispatcher, which must tell an
/// authentication failure (pause everything) from an ordinary failure and read the rate-limit
/// headers, uses `performDetailed` and maps the response itself (or with `outcome(for:)`).
public struct BrazeAction: Action {
    /// Every `.failure` message of a 401/403 starts with this, so the outcome alone says
    /// "pause dispatching" to a caller that only sees `ActionOutcome`.
    public static let authFailurePrefix = "braze auth failure: "

    public let name: String
    public let client: BrazeClient
    /// `braze.requests_per_hour`: the client's budget for every schedule call (docs/braze.md, Rate limits).
    public let requestsPerHour: Int
    /// `braze.audience_requests_per_minute`: the budget of requests with a connected audience.
    public let audienceRequestsPerMinute: Int

    public init(client: BrazeClient, name: String = "braze", requestsPerHour: Int = 250_000, audienceRequestsPerMinute: Int = 250) {
        self.client = client
        self.name = name
        self.requestsPerHour = requestsPerHour
        self.audienceRequestsPerMinute = audienceRequestsPerMinute
    }

    public func perform(_ request: SendRequest, context: PluginContext) async -> ActionOutcome {
        Self.outcome(for: await performDetailed(request, context: context))
    }

    /// The outcome, with the `X-RateLimit-*` headers as budget facts (none when all were missing or empty).
    public func respond(to request: SendRequest, context: PluginContext) async -> ActionResponse {
        let response = await performDetailed(request, context: context)
        return ActionResponse(outcome: Self.outcome(for: response), budget: Self.budgetFacts(response.rateLimit))
    }

    static func budgetFacts(_ rate: BrazeRateLimit) -> BudgetFacts? {
        rate.isEmpty ? nil : BudgetFacts(limit: rate.limit, remaining: rate.remaining, reset: rate.reset)
    }

    /// Posts the request's body to `schedule/create` and returns Braze's classified answer.
    ///
    /// When `request.schedule` is set and the body is an object, the body's `schedule` member is set
    /// to it: the planner's object is the latest word (a send planned again at dispatch time).
    public func performDetailed(_ request: SendRequest, context: PluginContext? = nil) async -> BrazeResponse {
        var logger = context?.logger
        logger?[metadataKey: "outbox.id"] = "\(request.id)"
        switch request.operation {
        case .create:
            return await client.createSchedule(Self.body(for: request), logger: logger)
        case .delete:
            // `cancel_on` after the create was sent: the body names the schedule to delete.
            return await client.deleteSchedule(
                campaignId: request.body["campaign_id"]?.stringValue ?? "", scheduleId: request.body["schedule_id"]?.stringValue ?? "",
                logger: logger)
        }
    }

    /// The body posted for `request`.
    public static func body(for request: SendRequest) -> JSONValue {
        guard let schedule = request.schedule, case .object(var object) = request.body else { return request.body }
        object["schedule"] = schedule
        return .object(object)
    }

    /// Maps a classified response to the plugin contract.
    ///
    /// - success: `{"schedule_id", "dispatch_id", "status", "rate_limit", "message"?, "errors"?}`.
    /// - retry: `.failure(retryable: true)`, the message with the status and Braze's message.
    /// - retryAfter: `.retryLater(after:)`, the instant Braze named (429's reset).
    /// - fail: `.failure(retryable: false)`.
    /// - authFailure: `.credentialsRefused`, prefixed with `authFailurePrefix`: the dispatcher pauses.
    /// - unknown: `.unknown`.
    public static func outcome(for response: BrazeResponse) -> ActionOutcome {
        switch response.disposition {
        case .success:
            var details: [String: JSONValue] = ["rate_limit": response.rateLimit.json]
            if let scheduleId = response.scheduleId { details["schedule_id"] = .string(scheduleId) }
            if let dispatchId = response.dispatchId { details["dispatch_id"] = .string(dispatchId) }
            if let status = response.status { details["status"] = .number(Double(status)) }
            if let message = response.message { details["message"] = .string(message) }
            if !response.errors.isEmpty { details["errors"] = .array(response.errors.map(JSONValue.string)) }
            return .success(details: .object(details))
        case .retry:
            return .failure(message: "braze: " + response.summary, retryable: true)
        case .retryAfter(let date):
            return .retryLater(message: "braze: " + response.summary, after: date)
        case .fail:
            return .failure(message: "braze: " + response.summary, retryable: false)
        case .authFailure:
            return .credentialsRefused(
                message: authFailurePrefix + response.summary
                    + " (check BRAZE_API_KEY and braze.rest_endpoint: a key used on the wrong instance gets 401)")
        case .unknown:
            return .unknown(message: "braze: " + response.summary)
        }
    }
}
