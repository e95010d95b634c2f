import Foundation

/// Decides whether a request's credentials let it in. Pure: headers and the time are parameters.
///
/// Any one valid credential is enough: a Bearer token, HTTP Basic with the token as user name (what
/// Segment's SDKs send with the write key; the password is ignored), or an `X-Flint-Signature`. A
/// signature can only be checked against the body, so the first step answers `.verifySignature`
/// and the caller finishes with `verify(_:body:)` once the body is read.
struct WebhookAuthenticator: Sendable {
    enum Verdict: Sendable, Equatable {
        case allowed
        case denied(String)
        /// The signature header is well formed and fresh; its MAC is checked after the body is read.
        case verifySignature(WebhookSignature)
    }

    private let tokens: [String]
    private let secret: String?
    private let toleranceSeconds: Double

    init(configuration: WebhookConfiguration) {
        self.tokens = configuration.usableTokens
        self.secret = configuration.usableSecret
        let parts = configuration.hmacTolerance.components
        self.toleranceSeconds = Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }

    var requiresAuth: Bool { !tokens.isEmpty || secret != nil }

    static let missingCredentials =
        "missing credentials: send \"Authorization: Bearer <token>\", HTTP Basic auth with the token as user name, "
        + "or an X-Flint-Signature header (t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\">)"

    /// The first step, from the headers alone.
    func check(authorization: String?, signature: String?, now: Date) -> Verdict {
        guard requiresAuth else { return .allowed }
        var problem: String?
        if let authorization {
            switch token(in: authorization) {
            case .success(let token):
                if tokens.isEmpty {
                    problem = "no tokens are configured on this server: sign the body with X-Flint-Signature instead"
                } else if ConstantTime.contains(tokens, token) {
                    return .allowed
                } else {
                    problem = "the token is not valid: check webhook.tokens (FLINT_WEBHOOK_TOKEN) on the server and the token the client sends"
                }
            case .failure(let message):
                problem = message.text
            }
        }
        guard let signature else { return .denied(problem ?? Self.missingCredentials) }
        guard secret != nil else {
            return .denied(problem ?? "signatures are not configured on this server (webhook.hmac_secret): send \"Authorization: Bearer <token>\" instead")
        }
        let parsed: WebhookSignature
        switch WebhookSignature.parse(signature) {
        case .success(let value): parsed = value
        case .failure(let error): return .denied(error.description)
        }
        let age = now.timeIntervalSince1970 - Double(parsed.timestamp)
        let tolerance = Int(toleranceSeconds)
        if age > toleranceSeconds {
            return .denied(
                "X-Flint-Signature is stale: t=\(parsed.timestampText) is \(Int(age)) s in the past, more than the \(tolerance) s allowed; sign each request when sending it")
        }
        if -age > toleranceSeconds {
            return .denied(
                "X-Flint-Signature is from the future: t=\(parsed.timestampText) is \(Int(-age)) s ahead of the server's clock, more than the \(tolerance) s allowed; check the sender's clock")
        }
        return .verifySignature(parsed)
    }

    /// The second step: the MAC against the raw body.
    func verify(_ signature: WebhookSignature, body: UnsafeRawBufferPointer) -> Verdict {
        guard let secret else { return .denied(Self.missingCredentials) }
        if signature.matches(body: body, secret: secret) { return .allowed }
        return .denied(
            "X-Flint-Signature does not match the body: v1 must be the hex HMAC-SHA256, keyed with webhook.hmac_secret, of \"<t>.<raw body>\" (the bytes sent, unchanged)")
    }

    private struct Message: Error { var text: String }

    /// The token of a Bearer or Basic `Authorization` value.
    private func token(in authorization: String) -> Result<String, Message> {
        let trimmed = authorization.trimmedOWS
        let parts = trimmed.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        let scheme = parts.first.map { $0.lowercased() } ?? ""
        let credential = parts.count == 2 ? String(parts[1].trimmedOWS) : ""
        switch scheme {
        case "bearer":
            guard !credential.isEmpty else { return .failure(Message(text: "Authorization: Bearer needs a token after it")) }
            return .success(credential)
        case "basic":
            guard let data = Data(base64Encoded: credential), let decoded = String(data: data, encoding: .utf8) else {
                return .failure(Message(text: "Authorization: Basic credentials must be base64 of \"<token>:\" (the token as user name)"))
            }
            let user = decoded.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            guard !user.isEmpty else {
                return .failure(Message(text: "Authorization: Basic needs the token as user name (\"<token>:\", password ignored)"))
            }
            return .success(user)
        default:
            return .failure(Message(text: "unsupported Authorization scheme: use \"Bearer <token>\" or HTTP Basic with the token as user name"))
        }
    }
}
