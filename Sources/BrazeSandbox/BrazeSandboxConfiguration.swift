import Foundation

/// How the sandbox behaves: which keys it accepts, Braze's workspace settings it emulates, its rate
/// limits and its clock. Every value has the default a user without a Braze account needs.
public struct BrazeSandboxConfiguration: Sendable {
    /// The key the sandbox accepts when none is configured.
    public static let defaultKey = "sandbox-key"

    /// REST API keys accepted in `Authorization: Bearer <key>`; any other key is 401.
    public var keys: Set<String>
    /// Keys that authenticate but lack the permission: 403 (docs/braze.md, Errors and retries).
    public var forbiddenKeys: Set<String>
    /// When set, a `campaign_id` outside this set is 400 "invalid campaign_id"; nil accepts any
    /// non-empty id.
    public var knownCampaigns: Set<String>?
    /// Braze's company time zone (a workspace setting): where an `in_local_time` wall clock must
    /// still be in the future (docs/braze.md, Schedules).
    public var companyTimeZone: TimeZone
    /// Requests allowed per `window`, shared by all the endpoints (Braze: 250,000 an hour).
    public var requestsPerWindow: Int
    /// The length of the general window; windows are aligned on multiples of it since the epoch, so
    /// one hour ends on the hour, as `X-RateLimit-Reset` does at Braze.
    public var window: Duration
    /// Requests with an `audience` allowed per `audienceWindow` (Braze: 250 a minute).
    public var audienceRequestsPerWindow: Int
    /// The length of the audience window.
    public var audienceWindow: Duration
    /// How far ahead a schedule may be (docs/braze.md, Schedules: 90 days).
    public var horizon: Duration
    /// Bodies larger than this are refused with 413 without being read further.
    public var maxBodyBytes: Int
    /// How long a `hang` fault holds a request when nothing releases it first.
    public var maxHang: Duration
    /// The sandbox's "now": for the future checks, the rate-limit windows and the timestamps of
    /// recorded calls. Tests inject a clock they move by hand.
    public var now: @Sendable () -> Date

    public init(
        keys: Set<String> = [BrazeSandboxConfiguration.defaultKey],
        forbiddenKeys: Set<String> = [],
        knownCampaigns: Set<String>? = nil,
        companyTimeZone: TimeZone = TimeZone(identifier: "UTC")!,
        requestsPerWindow: Int = 250_000,
        window: Duration = .seconds(3600),
        audienceRequestsPerWindow: Int = 250,
        audienceWindow: Duration = .seconds(60),
        horizon: Duration = .seconds(90 * 86_400),
        maxBodyBytes: Int = 4 * 1024 * 1024,
        maxHang: Duration = .seconds(3600),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.keys = keys
        self.forbiddenKeys = forbiddenKeys
        self.knownCampaigns = knownCampaigns
        self.companyTimeZone = companyTimeZone
        self.requestsPerWindow = requestsPerWindow
        self.window = window
        self.audienceRequestsPerWindow = audienceRequestsPerWindow
        self.audienceWindow = audienceWindow
        self.horizon = horizon
        self.maxBodyBytes = maxBodyBytes
        self.maxHang = maxHang
        self.now = now
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var sandboxSeconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
