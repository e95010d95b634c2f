import FlintPluginAPI
import HTTPTypes
import Hummingbird

/// What the listener answers, as a value: decided by pure code, turned into a `Response` at the edge.
///
/// Every body is JSON. Errors are `{"error": "what, and how to fix it"}`; receipts are
/// `{"accepted": n, "duplicates": d, "rejected": [{"index": i, "errors": [...]}]}` (docs/architecture.md, HTTP).
struct WebhookReply: Error, Sendable, Equatable {
    var status: HTTPResponse.Status
    var body: String
    /// Seconds for `Retry-After` (503).
    var retryAfter: Int?
    /// Adds the `WWW-Authenticate` challenges (401).
    var challenge = false

    static func error(_ status: HTTPResponse.Status, _ message: String) -> WebhookReply {
        WebhookReply(status: status, body: errorBody(message))
    }

    static func badRequest(_ message: String) -> WebhookReply { .error(.badRequest, message) }

    static func unauthorized(_ message: String) -> WebhookReply {
        var reply = WebhookReply.error(.unauthorized, message)
        reply.challenge = true
        return reply
    }

    static func unavailable(_ error: SinkUnavailable) -> WebhookReply {
        let seconds = max(1, error.retryAfterSeconds)
        var reply = WebhookReply.error(
            .serviceUnavailable,
            "Flint cannot take events now (\(error.reason)); nothing was stored: retry after \(seconds) s")
        reply.retryAfter = seconds
        return reply
    }

    /// The answer to a committed batch: 202 (200 with `"success": true` on the Segment endpoints),
    /// or 400 with the rejected list when nothing in the body was valid.
    static func receipt(_ receipt: SubmitReceipt, endpoint: WebhookEndpoint) -> WebhookReply {
        if receipt.accepted == 0, receipt.duplicates == 0 {
            let message =
                receipt.rejected.count == 1
                ? "the event is not valid: see rejected[].errors" : "no event in the body is valid: see rejected[].errors"
            return WebhookReply(status: .badRequest, body: receiptBody(receipt, error: message, success: nil))
        }
        return WebhookReply(
            status: endpoint.isSegment ? .ok : .accepted,
            body: receiptBody(receipt, error: nil, success: endpoint.isSegment ? true : nil))
    }

    static func errorBody(_ message: String) -> String {
        "{\"error\":" + JSONValue.string(message).compactJSON + "}"
    }

    /// Written by hand so the keys keep the documented order (`compactJSON` sorts them).
    static func receiptBody(_ receipt: SubmitReceipt, error: String?, success: Bool?) -> String {
        var out = "{"
        if let error { out += "\"error\":" + JSONValue.string(error).compactJSON + "," }
        out += "\"accepted\":\(receipt.accepted),\"duplicates\":\(receipt.duplicates),\"rejected\":["
        for (position, rejected) in receipt.rejected.enumerated() {
            if position > 0 { out += "," }
            out += "{\"index\":\(rejected.index),\"errors\":" + JSONValue.array(rejected.errors.map(JSONValue.string)).compactJSON + "}"
        }
        out += "]"
        if let success { out += ",\"success\":\(success)" }
        out += "}"
        return out
    }

    var response: Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if challenge {
            headers.append(HTTPField(name: .wwwAuthenticate, value: "Bearer realm=\"flint\""))
            headers.append(HTTPField(name: .wwwAuthenticate, value: "Basic realm=\"flint\""))
        }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}
