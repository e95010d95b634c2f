import FlintPluginAPI

/// A failure the sandbox plays on purpose, for the next matching calls: what Braze or the network
/// does on a bad day (docs/braze.md, Errors and retries).
public struct SandboxFault: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// Answer with this status (400-599) and a Braze-like body `{"message": "..."}`.
        case status(Int)
        /// Wait this many milliseconds, then handle the call normally.
        case latency(milliseconds: Int)
        /// Never answer: hold the request until the client gives up, the fault is cleared
        /// (`clearFaults()` releases held requests), the task is cancelled or the server shuts down;
        /// then close the connection.
        case hang
        /// Read the request, then close the connection without an answer.
        case drop
    }

    public var kind: Kind
    /// The endpoint it applies to; nil for every Braze endpoint.
    public var endpoint: SandboxEndpoint?
    /// How many matching calls it applies to; nil for every matching call until cleared.
    public var count: Int?
    /// For `status`, `hang` and `drop`: handle the call first (a valid create makes its schedule),
    /// then fail. Emulates "Braze created it, but the answer was lost" (a 504 or a timeout).
    public var createBeforeFault: Bool
    /// The `message` of a `status` answer; nil for a default per status.
    public var message: String?
    /// For a 429: `X-RateLimit-Reset` and `Retry-After` this many seconds from now; nil for the end
    /// of the current window.
    public var resetAfterSeconds: Int?

    public init(
        _ kind: Kind, endpoint: SandboxEndpoint? = nil, count: Int? = 1, createBeforeFault: Bool = false, message: String? = nil,
        resetAfterSeconds: Int? = nil
    ) {
        self.kind = kind
        self.endpoint = endpoint
        self.count = count
        self.createBeforeFault = createBeforeFault
        self.message = message
        self.resetAfterSeconds = resetAfterSeconds
    }

    /// A status answer, e.g. `.status(504, createBeforeFault: true)`.
    public static func status(
        _ code: Int, endpoint: SandboxEndpoint? = nil, count: Int? = 1, createBeforeFault: Bool = false, message: String? = nil,
        resetAfterSeconds: Int? = nil
    ) -> SandboxFault {
        SandboxFault(
            .status(code), endpoint: endpoint, count: count, createBeforeFault: createBeforeFault, message: message,
            resetAfterSeconds: resetAfterSeconds)
    }

    /// A delay before a normal answer.
    public static func latency(milliseconds: Int, endpoint: SandboxEndpoint? = nil, count: Int? = 1) -> SandboxFault {
        SandboxFault(.latency(milliseconds: milliseconds), endpoint: endpoint, count: count)
    }

    /// No answer ever.
    public static func hang(endpoint: SandboxEndpoint? = nil, count: Int? = 1, createBeforeFault: Bool = false) -> SandboxFault {
        SandboxFault(.hang, endpoint: endpoint, count: count, createBeforeFault: createBeforeFault)
    }

    /// A closed connection instead of an answer.
    public static func drop(endpoint: SandboxEndpoint? = nil, count: Int? = 1, createBeforeFault: Bool = false) -> SandboxFault {
        SandboxFault(.drop, endpoint: endpoint, count: count, createBeforeFault: createBeforeFault)
    }

    /// A short label for recorded calls: `status 504`, `latency 250ms`, `hang`, `drop`.
    public var label: String {
        switch kind {
        case .status(let code): "status \(code)"
        case .latency(let milliseconds): "latency \(milliseconds)ms"
        case .hang: "hang"
        case .drop: "drop"
        }
    }

    /// Braze's kind of message for a status.
    static func defaultMessage(for status: Int) -> String {
        switch status {
        case 400: "Bad Request"
        case 401: "Invalid API key"
        case 403: "Forbidden: this API key lacks the permission for this endpoint"
        case 404: "Not Found"
        case 429: "API rate limit exceeded"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Error"
        }
    }

    func matches(_ candidate: SandboxEndpoint) -> Bool {
        endpoint == nil || endpoint == candidate
    }
}
