import Foundation

/// How to reach one Braze workspace: its REST endpoint, a REST API key and the time budget of a call.
///
/// The key is a secret (docs/braze.md, Secrets): `description`, `debugDescription` and the mirror
/// that `dump` and `String(reflecting:)` read all redact it, so interpolating a configuration into a
/// log line is safe.
public struct BrazeConfiguration: Sendable {
    /// The instance's REST endpoint, e.g. `https://rest.iad-01.braze.com` (a trailing `/` is ignored).
    public var restEndpoint: String
    /// A REST API key with `campaigns.trigger.schedule.*` permissions. Never printed.
    public var apiKey: String
    /// The whole budget of one call: connecting, writing, waiting and reading (the request deadline).
    public var timeout: Duration
    /// The budget for establishing a connection (TCP + TLS). Kept below `timeout`, so a connection that
    /// never comes up is reported as a connect failure (safe to retry), not as a generic deadline.
    public var connectTimeout: Duration

    public init(
        restEndpoint: String,
        apiKey: String,
        timeout: Duration = .seconds(10),
        connectTimeout: Duration = .seconds(3)
    ) {
        self.restEndpoint = restEndpoint
        self.apiKey = apiKey
        self.timeout = timeout
        self.connectTimeout = connectTimeout
    }

    public init(
        restEndpoint: URL,
        apiKey: String,
        timeout: Duration = .seconds(10),
        connectTimeout: Duration = .seconds(3)
    ) {
        self.init(restEndpoint: restEndpoint.absoluteString, apiKey: apiKey, timeout: timeout, connectTimeout: connectTimeout)
    }

    /// The URL of `operation` on this instance, or nil when `restEndpoint` is not an http(s) URL.
    public func url(for operation: BrazeOperation) -> URL? {
        var base = restEndpoint.trimmingCharacters(in: .whitespaces)
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = URL(string: base + "/" + operation.path),
            let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty
        else { return nil }
        return url
    }

    /// The problem with `apiKey`, if it cannot be sent at all (never quotes the key).
    var apiKeyProblem: String? {
        if apiKey.isEmpty { return "the Braze API key is empty (set BRAZE_API_KEY or braze.api_key)" }
        // An HTTP header value: visible ASCII only. Anything else would be refused by the HTTP layer,
        // whose error message would quote the header value, i.e. the key.
        if !apiKey.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            return "the Braze API key contains characters that cannot be sent in an HTTP header"
        }
        return nil
    }

    /// `text` with every occurrence of the API key replaced by `<redacted>`.
    ///
    /// Applied to every string that leaves the client (messages, Braze's echoed text, transport error
    /// details), as a second line of defence: no code path is meant to put the key there.
    public func redacting(_ text: String) -> String {
        guard apiKey.count >= 4, text.contains(apiKey) else { return text }
        return text.replacingOccurrences(of: apiKey, with: "<redacted>")
    }
}

extension BrazeConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "BrazeConfiguration(restEndpoint: \(restEndpoint), apiKey: <redacted>, timeout: \(timeout), connectTimeout: \(connectTimeout))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "restEndpoint": restEndpoint, "apiKey": "<redacted>", "timeout": timeout,
                "connectTimeout": connectTimeout,
            ],
            displayStyle: .struct
        )
    }
}
