import Foundation

/// What the rate limiter says about one request: whether it may pass, and the `X-RateLimit-*`
/// values to answer with.
public struct SandboxRateLimit: Sendable, Hashable {
    public var allowed: Bool
    /// `X-RateLimit-Limit`: requests per window.
    public var limit: Int
    /// `X-RateLimit-Remaining` after this request.
    public var remaining: Int
    /// `X-RateLimit-Reset`: epoch seconds of the end of the current window.
    public var reset: Int
    /// `Retry-After` for a 429: whole seconds until the window ends, at least 1.
    public var retryAfter: Int

    /// The headers every Braze endpoint answer carries (plus `Retry-After` when refused).
    var headers: [(String, String)] {
        var fields = [("X-RateLimit-Limit", String(limit)), ("X-RateLimit-Remaining", String(remaining)), ("X-RateLimit-Reset", String(reset))]
        if !allowed { fields.append(("Retry-After", String(retryAfter))) }
        return fields
    }
}

/// Braze's two budgets (docs/braze.md, Rate limits): one shared by every endpoint, and a lower one for
/// requests with a connected audience. Fixed windows aligned on multiples of their length since the
/// epoch, so an hourly window resets on the hour. Pure: time is a parameter.
struct SandboxRateLimiter: Sendable {
    struct Budget: Sendable {
        var limit: Int
        var length: Double
        var windowStart: Double = -.infinity
        var used = 0

        init(limit: Int, length: Duration) {
            self.limit = max(0, limit)
            self.length = max(0.001, length.sandboxSeconds)
        }

        mutating func roll(to now: Date) {
            let start = (now.timeIntervalSince1970 / length).rounded(.down) * length
            if start != windowStart {
                windowStart = start
                used = 0
            }
        }

        func state(now: Date, allowed: Bool) -> SandboxRateLimit {
            let end = windowStart + length
            return SandboxRateLimit(
                allowed: allowed, limit: limit, remaining: max(0, limit - used), reset: Int(end.rounded(.up)),
                retryAfter: max(1, Int((end - now.timeIntervalSince1970).rounded(.up))))
        }
    }

    var general: Budget
    var audience: Budget

    init(configuration: BrazeSandboxConfiguration) {
        general = Budget(limit: configuration.requestsPerWindow, length: configuration.window)
        audience = Budget(limit: configuration.audienceRequestsPerWindow, length: configuration.audienceWindow)
    }

    /// Counts a request if its budgets allow it. A request with an audience draws on both budgets
    /// and reports the audience one; a refused request draws on none.
    mutating func admit(audience withAudience: Bool, now: Date) -> SandboxRateLimit {
        general.roll(to: now)
        audience.roll(to: now)
        if withAudience, audience.used >= audience.limit {
            return audience.state(now: now, allowed: false)
        }
        if general.used >= general.limit {
            return general.state(now: now, allowed: false)
        }
        general.used += 1
        if withAudience {
            audience.used += 1
            return audience.state(now: now, allowed: true)
        }
        return general.state(now: now, allowed: true)
    }

    /// The general budget's state without counting anything (for answers that are not counted,
    /// such as 401).
    mutating func peek(now: Date) -> SandboxRateLimit {
        general.roll(to: now)
        return general.state(now: now, allowed: true)
    }
}
