import FlintPluginAPI
import Foundation

/// One action's request budget: the token buckets it declares, and what its responses said is left
/// on the far side (`BudgetFacts`). Pure: time is a parameter (docs/architecture.md, Dispatch).
///
/// Besides the buckets, never more requests in flight than the last response said were left in its
/// window, so a small budget is met with waiting, not with rate-limited answers. Until the first
/// answer of a window, one request goes out alone to learn it; an action whose answers carry no
/// facts is then limited by its buckets alone.
public struct Budget: Sendable {
    /// What `take` decides.
    public enum Verdict: Sendable, Hashable {
        /// The request may go now; a token was taken.
        case go
        /// Not before this instant (a bucket refills, or the window resets).
        case wait(until: Date)
        /// A request in flight will say how much is left: wait for its answer.
        case afterAnswer
    }

    private var buckets: [(bucket: TokenBucket, applies: (@Sendable (JSONValue) -> Bool)?)]
    /// What the far side last said was left, less what went out since; nil until the first answer of a window.
    public private(set) var remaining: Int?
    public private(set) var windowReset: Date?
    public private(set) var inFlight = 0
    /// The answers carry no budget facts: nothing to learn, no need to go one at a time.
    public private(set) var factsAbsent = false

    public init(_ declared: [RateBucket], now: Date) {
        buckets = declared.map { (TokenBucket(capacity: $0.capacity, period: $0.period, now: now), $0.applies) }
    }

    /// An action that declares no bucket is not budgeted by the client.
    public var isBudgeted: Bool { !buckets.isEmpty }

    /// Takes a request's share (the request's merged body decides which buckets apply).
    public mutating func take(body: JSONValue, now: Date) -> Verdict {
        guard isBudgeted else { return .go }
        if let reset = windowReset, now >= reset {
            remaining = nil
            windowReset = nil
        }
        if let remaining {
            if remaining <= 0 { return .wait(until: windowReset ?? now.addingTimeInterval(1)) }
        } else if inFlight >= 1, !factsAbsent {
            return .afterAnswer
        }
        // Check every bucket before taking from any, so a refused request takes nothing.
        var trial = buckets
        for i in trial.indices where trial[i].applies?(body) ?? true {
            if let wait = trial[i].bucket.take(now: now) { return .wait(until: wait) }
        }
        buckets = trial
        if let remaining { self.remaining = remaining - 1 }
        inFlight += 1
        return .go
    }

    /// A request that took its share ended. `facts` is what its response said (nil: nothing);
    /// `answered` is false when it never went out (its share is simply given back to in-flight).
    public mutating func release(facts: BudgetFacts?, answered: Bool = true, now: Date) {
        guard isBudgeted else { return }
        inFlight = max(0, inFlight - 1)
        guard answered else { return }
        factsAbsent = facts?.remaining == nil
        if let left = facts?.remaining {
            let fresh = max(0, left - inFlight)
            // Answers of one window can arrive out of order: an earlier request's answer says more
            // was left than a later one's did. Within the window we know, the smaller count holds.
            if let known = remaining, let reset = facts?.reset, reset == windowReset {
                remaining = min(known, fresh)
            } else {
                remaining = fresh
            }
            windowReset = facts?.reset
            for i in buckets.indices { buckets[i].bucket.observe(remaining: left, reset: facts?.reset, now: now) }
        }
    }

    /// A rate-limited outcome: nothing goes out before `until`.
    public mutating func block(until: Date) {
        guard isBudgeted else { return }
        remaining = 0
        windowReset = until
        for i in buckets.indices { buckets[i].bucket.block(until: until) }
    }
}
