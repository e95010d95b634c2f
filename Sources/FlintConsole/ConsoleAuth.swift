import Crypto
import Foundation
import Webhook

/// Who may read the console: with tokens configured, a request carries one as
/// `Authorization: Bearer TOKEN`, or the `flint_console` cookie the login form set. The cookie holds
/// an HMAC of the token under a key drawn at start (so a restart logs everyone out), never the token.
/// Tokens are compared in constant time; none appears in logs, pages or URLs.
public struct ConsoleAuth: Sendable {
    let tokens: [String]
    /// The per-process HMAC key's bytes (`SymmetricKey` is not Sendable).
    private let key: [UInt8]

    public static let cookieName = "flint_console"

    public init(tokens: [String]) {
        self.tokens = tokens.filter { !$0.isEmpty }
        self.key = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }

    public var required: Bool { !tokens.isEmpty }

    /// Whether `token` is one of the configured tokens.
    public func accepts(token: String) -> Bool { ConstantTime.contains(tokens, token) }

    /// The cookie value for a valid token.
    public func cookieValue(for token: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Array(token.utf8), using: SymmetricKey(data: key)).map { String(format: "%02x", $0) }.joined()
    }

    /// Whether a cookie value is the HMAC of one of the tokens (every token is compared).
    public func accepts(cookie: String) -> Bool {
        var found = false
        for token in tokens { found = ConstantTime.equal(Array(cookieValue(for: token).utf8), Array(cookie.utf8)) || found }
        return found
    }

    /// Whether the request's headers let it in.
    func allows(authorization: String?, cookieHeader: String?) -> Bool {
        guard required else { return true }
        if let authorization, authorization.lowercased().hasPrefix("bearer ") {
            let token = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
            if accepts(token: token) { return true }
        }
        if let cookie = Self.cookie(Self.cookieName, in: cookieHeader), accepts(cookie: cookie) { return true }
        return false
    }

    /// The value of cookie `name` in a `Cookie` header (`a=1; flint_console=...`).
    static func cookie(_ name: String, in header: String?) -> String? {
        guard let header else { return nil }
        for part in header.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces)
            guard let eq = pair.firstIndex(of: "=") else { continue }
            if pair[..<eq] == name { return String(pair[pair.index(after: eq)...]) }
        }
        return nil
    }

    /// `Set-Cookie` for a session: HttpOnly, SameSite=Strict, Path=/.
    func setCookie(for token: String) -> String {
        "\(Self.cookieName)=\(cookieValue(for: token)); HttpOnly; SameSite=Strict; Path=/"
    }

    /// `Set-Cookie` that ends the session.
    static let clearCookie = "\(cookieName)=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
}

/// `application/x-www-form-urlencoded` (a query string or a form's body): `+` is a space, then
/// percent-decoding; the last value of a repeated key wins.
enum FormData {
    static func parse(_ text: String?) -> [String: String] {
        guard let text, !text.isEmpty else { return [:] }
        var out: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = decode(parts[0])
            let value = parts.count > 1 ? decode(parts[1]) : ""
            out[key] = value
        }
        return out
    }

    static func decode(_ s: Substring) -> String {
        let spaced = s.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
