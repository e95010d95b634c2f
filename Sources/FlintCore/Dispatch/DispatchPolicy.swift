import FlintPluginAPI
import Foundation

/// Pure dispatch decisions: backoff, rate budgets and coalescing. Time and randomness are parameters.
public enum DispatchPolicy {
    /// Jittered exponential backoff for attempt `n` (1-based): 1 s, 2 s, 4 s ... capped at 5 minutes,
    /// each within +-20% so retries of many sends spread out.
    public static func backoff(attempt: Int, jitter: Double) -> TimeInterval {
        let base = min(300, pow(2, Double(max(0, attempt - 1))))
        return base * (0.8 + 0.4 * min(1, max(0, jitter)))
    }

    /// The key sends must share to go in one request (docs/architecture.md): action, campaign_id,
    /// send_id, the schedule object and the audience.
    public static func coalescingKey(action: String, body: JSONValue) -> String {
        [
            action, body["campaign_id"]?.compactJSON ?? "", body["send_id"]?.compactJSON ?? "",
            body["schedule"]?.compactJSON ?? "", body["audience"]?.compactJSON ?? "", body["broadcast"]?.compactJSON ?? "",
        ].joined(separator: "\u{1}")
    }

    /// The identifier a recipient is known by in Braze; two in one request would collapse into one message.
    public static func recipientIdentity(_ recipient: JSONValue) -> String {
        if let id = recipient["external_user_id"]?.stringValue { return "e:" + id }
        if let alias = recipient["user_alias"] { return "a:" + alias.compactJSON }
        if let email = recipient["email"]?.stringValue { return "m:" + email }
        return recipient.compactJSON
    }

    /// Splits coalescable items into requests of at most `limit` recipients, never two recipients with
    /// the same identity in one request. Items keep their order.
    public static func chunks<T>(_ items: [T], identity: (T) -> String, limit: Int = 50) -> [[T]] {
        var requests: [[T]] = []
        var identities: [Set<String>] = []
        for item in items {
            let id = identity(item)
            if let i = requests.indices.first(where: { requests[$0].count < limit && !identities[$0].contains(id) }) {
                requests[i].append(item)
                identities[i].insert(id)
            } else {
                requests.append([item])
                identities.append([id])
            }
        }
        return requests
    }

    /// One request body for a group of single-recipient bodies that share a coalescing key.
    public static func merge(_ bodies: [JSONValue]) -> JSONValue {
        guard var first = bodies.first?.objectValue else { return .null }
        if bodies.count == 1 { return .object(first) }
        first["recipients"] = .array(bodies.flatMap { $0["recipients"]?.arrayValue ?? [] })
        return .object(first)
    }
}

/// A token bucket: `capacity` requests, refilled evenly over `period`. Braze's budgets are per hour
/// (and per minute with connected audiences); `X-RateLimit-*` answers correct it.
public struct TokenBucket: Sendable {
    public let capacity: Double
    public let period: TimeInterval
    private(set) var tokens: Double
    private var updated: Date
    /// Set from `X-RateLimit-Remaining: 0` or a 429: nothing goes out before this.
    private(set) var blockedUntil: Date?

    public init(capacity: Int, period: TimeInterval, now: Date) {
        self.capacity = Double(max(1, capacity))
        self.period = period
        self.tokens = Double(max(1, capacity))
        self.updated = now
    }

    private mutating func refill(_ now: Date) {
        let elapsed = max(0, now.timeIntervalSince(updated))
        tokens = min(capacity, tokens + elapsed * capacity / period)
        updated = now
    }

    /// Takes a token; nil when taken, else when to try again.
    public mutating func take(now: Date) -> Date? {
        if let until = blockedUntil {
            if now < until { return until }
            blockedUntil = nil
        }
        refill(now)
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        return now.addingTimeInterval((1 - tokens) * period / capacity)
    }

    /// What Braze said about the budget: remaining requests and when the window resets.
    public mutating func observe(remaining: Int?, reset: Date?, now: Date) {
        refill(now)
        if let remaining { tokens = min(tokens, Double(max(0, remaining))) }
        if remaining == 0, let reset, reset > now { blockedUntil = reset }
    }

    /// A 429: wait for the reset.
    public mutating func block(until: Date) {
        blockedUntil = max(blockedUntil ?? until, until)
        tokens = 0
    }
}
