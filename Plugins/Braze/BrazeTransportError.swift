import AsyncHTTPClient
import NIOCore
import NIOPosix

/// A call to Braze that ended without a usable HTTP status: nothing answered, or the answer was lost.
///
/// What matters for Flint is `phase`: `create` is not idempotent (docs/braze.md, Errors and retries), so a
/// failure before the request was fully written is safe to retry, and one after it is `unknown`.
/// The phase is observed, not guessed from the error type: the client marks a request as written when
/// AsyncHTTPClient reports `didSendRequest`, which fires only once the write of the request's last
/// byte has completed (handed to the kernel). Everything before that point is `beforeRequestWritten`.
///
/// Error mapping (AsyncHTTPClient 1.37 / SwiftNIO 2.101), `code` then phase:
///
/// | reported error | code | phase |
/// | --- | --- | --- |
/// | `HTTPClientError.invalidURL`, `.emptyHost`, `.emptyScheme`, `.unsupportedScheme`, header field errors | `invalid_request` | before, never retried |
/// | `NIOConnectionError` (refused, unreachable, DNS: `dnsAError`/`dnsAAAAError`), `IOError` ECONNREFUSED, ENETUNREACH, EHOSTUNREACH | `connect_failed` | before |
/// | `HTTPClientError.connectTimeout`, `.getConnectionFromPoolTimeout`, proxy/SOCKS handshake timeouts, `ChannelError.connectTimeout` | `connect_timeout` | before |
/// | `NIOSSLError`, BoringSSL errors, `HTTPClientError.tlsHandshakeTimeout`, `.serverOfferedUnsupportedApplicationProtocol` | `tls_failed` | before |
/// | `HTTPClientError.deadlineExceeded`, `.readTimeout`, `.writeTimeout` | `timeout` | as observed |
/// | `HTTPClientError.remoteConnectionClosed`, `IOError` ECONNRESET/EPIPE, `ChannelError.ioOnClosedChannel`, `.eof`, `.outputClosed`, `.alreadyClosed` | `connection_lost` | as observed |
/// | `HTTPClientError.cancelled`, `.requestStreamCancelled`, `CancellationError` | `cancelled` | as observed |
/// | `HTTPClientError.alreadyShutdown`, `.uncleanShutdown` | `shutdown` | as observed |
/// | anything else | `other` | as observed |
///
/// "As observed": before the request was fully written the error is retryable; after it, the outcome
/// is unknown (a read timeout, the deadline, or the connection closing before a response, e.g. a
/// stale keep-alive connection reset by the server, all fall here). Connect, DNS and TLS failures
/// happen before the first byte of the request is written, so they are always `beforeRequestWritten`.
/// A request cut off halfway through its body cannot have been processed: Braze needs the whole
/// `Content-Length` body to parse it.
public struct BrazeTransportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Where the request was when the call failed.
    public enum Phase: String, Sendable, Hashable {
        /// The request's last byte was never written: Braze cannot have acted on it.
        case beforeRequestWritten = "before_write"
        /// The whole request was written and no (complete) response came: Braze may have acted on it.
        case afterRequestWritten = "after_write"
    }

    private enum Code: String, Sendable, Hashable {
        case invalidRequest = "invalid_request"
        case connectFailed = "connect_failed"
        case connectTimeout = "connect_timeout"
        case tlsFailed = "tls_failed"
        case timeout
        case connectionLost = "connection_lost"
        case cancelled
        case shutdown
        case other
    }

    private var code: Code
    /// Where the request was when the call failed.
    public var phase: Phase
    /// A short human explanation of the underlying error, with the API key redacted.
    public var detail: String

    private init(code: Code, phase: Phase, detail: String) {
        self.code = code
        self.phase = phase
        self.detail = detail
    }

    /// A bounded label for metrics and logs: `connect_failed`, `timeout`, `connection_lost`, ...
    public var label: String { code.rawValue }

    /// True when sending the same request again cannot create a second schedule and may succeed.
    public var isRetryable: Bool { code != .invalidRequest && phase == .beforeRequestWritten }

    /// True when Braze may have received and acted on the request.
    public var mayHaveReachedBraze: Bool { phase == .afterRequestWritten }

    public var description: String {
        let where_ = phase == .beforeRequestWritten ? "before the request was fully written" : "after the request was written"
        return "\(code.rawValue) \(where_): \(detail)"
    }

    // Equality and hashing by code, as AsyncHTTPClient's errors do: `error == .timeout`.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public static let invalidRequest = Self(code: .invalidRequest, phase: .beforeRequestWritten, detail: "")
    public static let connectFailed = Self(code: .connectFailed, phase: .beforeRequestWritten, detail: "")
    public static let connectTimeout = Self(code: .connectTimeout, phase: .beforeRequestWritten, detail: "")
    public static let tlsFailed = Self(code: .tlsFailed, phase: .beforeRequestWritten, detail: "")
    public static let timeout = Self(code: .timeout, phase: .beforeRequestWritten, detail: "")
    public static let connectionLost = Self(code: .connectionLost, phase: .beforeRequestWritten, detail: "")
    public static let cancelled = Self(code: .cancelled, phase: .beforeRequestWritten, detail: "")
    public static let shutdown = Self(code: .shutdown, phase: .beforeRequestWritten, detail: "")
    public static let other = Self(code: .other, phase: .beforeRequestWritten, detail: "")

    /// A request that could not be built (bad endpoint, unusable key): never sent, never retried.
    static func invalidRequest(_ detail: String) -> Self {
        Self(code: .invalidRequest, phase: .beforeRequestWritten, detail: detail)
    }

    /// Classifies an error thrown by AsyncHTTPClient (see the table above).
    ///
    /// - Parameters:
    ///   - requestWritten: whether `didSendRequest` fired before the error.
    ///   - redact: removes the API key from the error's text.
    static func classify(_ error: any Error, requestWritten: Bool, redact: (String) -> String) -> Self {
        // Connect, DNS and TLS errors cannot follow `didSendRequest`, so the observed phase is
        // `beforeRequestWritten` for them by construction.
        let phase: Phase = requestWritten ? .afterRequestWritten : .beforeRequestWritten
        let text: String
        if let error = error as? HTTPClientError {
            // `shortDescription` never carries associated values (header values could hold the key).
            text = error.shortDescription
        } else {
            text = String(describing: error)
        }
        return Self(code: code(of: error), phase: phase, detail: String(redact(text).prefix(300)))
    }

    private static func code(of error: any Error) -> Code {
        switch error {
        case let error as HTTPClientError:
            switch error {
            case .invalidURL, .emptyHost, .emptyScheme, .missingSocketPath, .traceRequestWithBody,
                .invalidProxyConfiguration, .invalidLocalAddress:
                return .invalidRequest
            case .connectTimeout, .getConnectionFromPoolTimeout, .socksHandshakeTimeout, .httpProxyHandshakeTimeout:
                return .connectTimeout
            case .tlsHandshakeTimeout:
                return .tlsFailed
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return .timeout
            case .remoteConnectionClosed:
                return .connectionLost
            case .cancelled, .requestStreamCancelled:
                return .cancelled
            case .alreadyShutdown, .uncleanShutdown:
                return .shutdown
            default:
                // Cases with payloads (unsupported scheme, header field names/values, ALPN) cannot be
                // compared with `==`; their bounded `shortDescription` names them.
                switch error.shortDescription {
                case "Unsupported scheme", "Invalid header field names", "Invalid header field values":
                    return .invalidRequest
                case "Server offered unsupported application protocol":
                    return .tlsFailed
                default:
                    return .other
                }
            }
        case is NIOConnectionError:
            return .connectFailed
        case let error as IOError:
            switch error.errnoCode {
            case ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL: return .connectFailed
            case ECONNRESET, EPIPE, ECONNABORTED, ETIMEDOUT: return .connectionLost
            default: return .other
            }
        case let error as ChannelError:
            switch error {
            case .connectTimeout: return .connectTimeout
            case .ioOnClosedChannel, .eof, .outputClosed, .alreadyClosed, .inputClosed: return .connectionLost
            default: return .other
            }
        case is CancellationError:
            return .cancelled
        default:
            // NIOSSL's error types, without importing NIOSSL for a type check.
            let type = String(reflecting: Swift.type(of: error))
            if type.contains("NIOSSL") || type.contains("BoringSSL") { return .tlsFailed }
            return .other
        }
    }
}
