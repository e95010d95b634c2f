import FlintPluginAPI
import Foundation

/// Pure dispatch decisions: backoff. Time and randomness are parameters.
public enum DispatchPolicy {
    /// Jittered exponential backoff for attempt `n` (1-based): 1 s, 2 s, 4 s ... capped at 5 minutes,
    /// each within +-20% so retries of many sends spread out.
    public static func backoff(attempt: Int, jitter: Double) -> TimeInterval {
        let base = min(300, pow(2, Double(max(0, attempt - 1))))
        return base * (0.8 + 0.4 * min(1, max(0, jitter)))
    }
}

/// A token bucket: `capacity` requests, refilled evenly over `period`. An action's budgets are, for example, per hour
/// (and per minute with connected audiences), as the action declares; its budget facts correct it.
public struct TokenBucket: Sendable {
    public let capacity: Double
    public let period: TimeInterval
    private(set) var tokens: Double
    private var updated: Date
    /// Set when the response said nothing is left, or from a rate-limited outcome: nothing goes out before this.
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

    /// What the action's response said about the budget: remaining requests and when the window resets.
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
