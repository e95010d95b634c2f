import FlintPluginAPI
import Foundation

/// Braze's rate-limit headers on one response (docs/braze.md, Rate limits). Missing or empty headers are nil.
public struct BrazeRateLimit: Sendable, Hashable {
    /// `X-RateLimit-Limit`: requests allowed in the current window.
    public var limit: Int?
    /// `X-RateLimit-Remaining`: requests left in the current window; at 0, pause until `reset`.
    public var remaining: Int?
    /// `X-RateLimit-Reset`: when the window resets (the header is UTC epoch seconds).
    public var reset: Date?

    public init(limit: Int? = nil, remaining: Int? = nil, reset: Date? = nil) {
        self.limit = limit
        self.remaining = remaining
        self.reset = reset
    }

    /// True when none of the three headers carried a value.
    public var isEmpty: Bool { limit == nil && remaining == nil && reset == nil }

    /// `{"limit": n, "remaining": n, "reset": "<ISO 8601 UTC>"}`, members present only when known.
    public var json: JSONValue {
        var object: [String: JSONValue] = [:]
        if let limit { object["limit"] = .number(Double(limit)) }
        if let remaining { object["remaining"] = .number(Double(remaining)) }
        if let reset { object["reset"] = .string(Timestamp.formatUTC(reset)) }
        return .object(object)
    }
}

/// Everything Flint learns from one call to Braze, classified for the dispatcher.
///
/// Built by `BrazeClient`; `init(operation:status:headers:body:receivedAt:)` is the pure classification
/// of an HTTP answer, usable without sockets.
public struct BrazeResponse: Sendable, Hashable {
    /// What the dispatcher should do next (docs/braze.md, Errors and retries). Decided by the HTTP status
    /// only, never by Braze's message text.
    public enum Disposition: Sendable, Hashable {
        /// Accepted (any 2xx; for `create`, with a `schedule_id` or Braze's "success"/"queued").
        case success
        /// Braze said when to come back: 429 (`Retry-After`, else `X-RateLimit-Reset`; nil when neither
        /// is given), or a 500/502/503 that carried `Retry-After`. Nothing was created: safe to resend.
        case retryAfter(Date?)
        /// Transient and safe to resend with backoff and jitter: 500, 502, 503 (and other 5xx but 504)
        /// without `Retry-After`; connect, DNS, TLS failures and connections lost before the request
        /// was fully written.
        case retry
        /// Permanent for this request (400, 404, other 4xx, an unexpected redirect, a request that
        /// could not be built): the run fails with the message.
        case fail(String)
        /// 401 or 403: the key or the instance is wrong; every send would fail. Pause all dispatching.
        case authFailure(String)
        /// Braze may or may not have acted (504; a timeout or a lost connection after the request was
        /// written; a 2xx `create` answer without a `schedule_id`). Never resend automatically.
        case unknown(String)

        /// True for `.retry` and `.retryAfter`.
        public var isRetryable: Bool {
            switch self {
            case .retry, .retryAfter: true
            default: false
            }
        }

        /// A bounded label for metrics and logs.
        public var label: String {
            switch self {
            case .success: "success"
            case .retryAfter: "retry_after"
            case .retry: "retry"
            case .fail: "fail"
            case .authFailure: "auth_failure"
            case .unknown: "unknown"
            }
        }
    }

    /// Which endpoint was called.
    public var operation: BrazeOperation
    /// The HTTP status, or nil when no response head arrived.
    public var status: Int?
    /// `dispatch_id` of a successful `create`.
    public var dispatchId: String?
    /// `schedule_id` of a successful `create`: the only handle to cancel or move the schedule.
    public var scheduleId: String?
    /// Braze's `message` (`success`, `queued`, or the fatal message of an error), API key redacted.
    public var message: String?
    /// Braze's `errors` (minor, non-fatal ones on success), each rendered as a string.
    public var errors: [String]
    /// The parsed `X-RateLimit-*` headers.
    public var rateLimit: BrazeRateLimit
    /// `Retry-After` (seconds or an HTTP date) resolved to an instant, when present.
    public var retryAfter: Date?
    /// Why there is no (complete) HTTP answer, when the transport failed.
    public var transportError: BrazeTransportError?
    /// The classification.
    public var disposition: Disposition
    /// When the answer (or the failure) was observed.
    public var receivedAt: Date

    public init(
        operation: BrazeOperation,
        status: Int?,
        dispatchId: String? = nil,
        scheduleId: String? = nil,
        message: String? = nil,
        errors: [String] = [],
        rateLimit: BrazeRateLimit = BrazeRateLimit(),
        retryAfter: Date? = nil,
        transportError: BrazeTransportError? = nil,
        disposition: Disposition,
        receivedAt: Date
    ) {
        self.operation = operation
        self.status = status
        self.dispatchId = dispatchId
        self.scheduleId = scheduleId
        self.message = message
        self.errors = errors
        self.rateLimit = rateLimit
        self.retryAfter = retryAfter
        self.transportError = transportError
        self.disposition = disposition
        self.receivedAt = receivedAt
    }

    /// One line for logs and outcomes: `HTTP 400: <why>`, `connect_failed before the request was ...`.
    public var summary: String {
        let head = status.map { "HTTP \($0)" } ?? "no response"
        switch disposition {
        case .success:
            return "\(head): accepted" + (scheduleId.map { " (schedule_id \($0))" } ?? "")
        case .retryAfter(let date):
            return "\(head): \(reason)" + (date.map { "; retry after \(Timestamp.formatUTC($0))" } ?? "")
        case .retry:
            return "\(head): \(reason)"
        case .fail(let text), .authFailure(let text), .unknown(let text):
            return "\(head): \(text)"
        }
    }

    /// Braze's message and errors, or the transport error, for a non-success summary.
    private var reason: String {
        if let transportError { return transportError.description }
        return Self.describe(message: message, errors: errors)
    }

    static func describe(message: String?, errors: [String]) -> String {
        var text = message ?? "no message in the response body"
        if !errors.isEmpty { text += " (errors: " + errors.joined(separator: "; ") + ")" }
        return String(text.prefix(600))
    }
}
