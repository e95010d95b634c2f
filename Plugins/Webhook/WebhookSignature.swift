import Crypto
import Foundation

/// The `X-Flint-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
///
/// Several `v1=` entries may be sent (a sender rotating secrets); one match is enough.
public struct WebhookSignature: Sendable, Hashable {
    public static let headerName = "X-Flint-Signature"

    /// `t=` exactly as sent: the signed text uses these characters, not a re-formatted number.
    public var timestampText: String
    public var timestamp: Int64
    /// The decoded `v1=` MACs.
    public var signatures: [[UInt8]]

    /// Reads the header value; the error says what is wrong and how a correct one looks.
    public static func parse(_ header: String) -> Result<WebhookSignature, SignatureProblem> {
        var timestampText: String?
        var signatures: [[UInt8]] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { return .failure(.malformed) }
            let key = String(pair[0].trimmedOWS)
            let value = String(pair[1].trimmedOWS)
            switch key {
            case "t":
                timestampText = value
            case "v1":
                guard let bytes = hexBytes(value), bytes.count == SHA256.byteCount else {
                    return .failure(.notHex)
                }
                signatures.append(bytes)
            default:
                continue  // other schemes (v0, future versions) are ignored, as Stripe-style headers allow
            }
        }
        guard let timestampText, !signatures.isEmpty else { return .failure(.malformed) }
        guard let timestamp = Int64(timestampText), timestamp >= 0 else { return .failure(.badTimestamp) }
        return .success(WebhookSignature(timestampText: timestampText, timestamp: timestamp, signatures: signatures))
    }

    /// The header value a sender puts on `body` at `time`: for clients, tests and docs.
    public static func header(body: some DataProtocol, secret: String, at time: Date) -> String {
        let t = String(Int64(time.timeIntervalSince1970.rounded(.down)))
        let mac = code(timestampText: t, body: body, secret: secret)
        return "t=\(t),v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    /// True when one of the `v1=` MACs matches `body` under `secret`; compares in constant time.
    public func matches(body: some DataProtocol, secret: String) -> Bool {
        let expected = Self.code(timestampText: timestampText, body: body, secret: secret)
        var any = false
        for candidate in signatures {
            // No early exit: every candidate is compared in full.
            any = ConstantTime.equal(candidate, expected) || any
        }
        return any
    }

    static func code(timestampText: String, body: some DataProtocol, secret: String) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: Array(secret.utf8)))
        hmac.update(data: Array((timestampText + ".").utf8))
        hmac.update(data: body)
        return Array(hmac.finalize())
    }

    static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Why an `X-Flint-Signature` header could not be read.
public enum SignatureProblem: Error, Sendable, Hashable, CustomStringConvertible {
    case malformed
    case notHex
    case badTimestamp

    public var description: String {
        switch self {
        case .malformed:
            "X-Flint-Signature must look like t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\">"
        case .notHex:
            "X-Flint-Signature v1= must be the 64 hex digits of an HMAC-SHA256"
        case .badTimestamp:
            "X-Flint-Signature t= must be the signing time in whole Unix seconds"
        }
    }
}
