import FlintPluginAPI

/// How the HTTP listener authenticates and limits requests (`webhook.*` in `flint.yaml`).
///
/// Secrets never print: `description` and `debugDescription` say how many tokens there are and
/// whether a signing secret is set, nothing more.
public struct WebhookConfiguration: Sendable {
    /// Accepted tokens, for `Authorization: Bearer <token>` or HTTP Basic with the token as user name.
    /// Empty strings are ignored (they would let an empty credential in).
    public var tokens: [String]
    /// The shared secret for `X-Flint-Signature`; nil or empty turns signatures off.
    public var hmacSecret: String?
    /// The largest body read, in bytes (`webhook.max_body_bytes`); larger ones get 413.
    public var maxBodyBytes: Int
    /// The deepest JSON nesting accepted (arrays and objects).
    public var maxDepth: Int
    /// How far a signature's `t=` may be from the server's clock, either way.
    public var hmacTolerance: Duration

    public static let defaultMaxBodyBytes = 4 * 1024 * 1024

    public init(
        tokens: [String] = [],
        hmacSecret: String? = nil,
        maxBodyBytes: Int = WebhookConfiguration.defaultMaxBodyBytes,
        maxDepth: Int = JSONParser.defaultMaxDepth,
        hmacTolerance: Duration = .seconds(300)
    ) {
        self.tokens = tokens
        self.hmacSecret = hmacSecret
        self.maxBodyBytes = maxBodyBytes
        self.maxDepth = maxDepth
        self.hmacTolerance = hmacTolerance
    }

    /// True when some credential is configured, so every request must present one. When false every
    /// request is let in: the composition root then binds only to loopback, and says so.
    public var requiresAuth: Bool { !usableTokens.isEmpty || usableSecret != nil }

    var usableTokens: [String] { tokens.filter { !$0.isEmpty } }
    var usableSecret: String? { hmacSecret.flatMap { $0.isEmpty ? nil : $0 } }
}

extension WebhookConfiguration: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        "WebhookConfiguration(tokens: \(usableTokens.count), hmac_secret: \(usableSecret == nil ? "unset" : "set"), "
            + "max_body_bytes: \(maxBodyBytes), max_depth: \(maxDepth), hmac_tolerance: \(hmacTolerance))"
    }

    public var debugDescription: String { description }
}
