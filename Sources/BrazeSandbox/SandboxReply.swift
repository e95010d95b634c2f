import FlintPluginAPI
import HTTPTypes
import Hummingbird

/// An answer as a value: decided by the sandbox's logic, turned into a `Response` at the edge.
struct SandboxReply: Sendable {
    var status: Int
    /// JSON text.
    var body: String
    var headers: [(name: String, value: String)] = []

    /// Braze's error shape: `{"message": "...", "errors": [...]}` (`errors` only when given).
    static func error(_ status: Int, _ message: String, errors: [String]? = nil, rateLimit: SandboxRateLimit? = nil) -> SandboxReply {
        var body = "{\"message\":" + JSONValue.string(message).compactJSON
        if let errors { body += ",\"errors\":" + JSONValue.array(errors.map(JSONValue.string)).compactJSON }
        body += "}"
        return SandboxReply(status: status, body: body, headers: rateLimit?.headers ?? [])
    }

    /// Braze's success shape, keys in its documented order: `dispatch_id`, `schedule_id`, `message`.
    static func success(dispatchID: String?, scheduleID: String?, rateLimit: SandboxRateLimit) -> SandboxReply {
        var body = "{"
        if let dispatchID { body += "\"dispatch_id\":" + JSONValue.string(dispatchID).compactJSON + "," }
        if let scheduleID { body += "\"schedule_id\":" + JSONValue.string(scheduleID).compactJSON + "," }
        body += "\"message\":\"success\"}"
        return SandboxReply(status: 201, body: body, headers: rateLimit.headers)
    }

    /// A JSON document answered by the `/_sandbox` endpoints.
    static func json(_ value: JSONValue, status: Int = 200) -> SandboxReply {
        SandboxReply(status: status, body: value.compactJSON)
    }

    var response: Response {
        var fields: HTTPFields = [.contentType: "application/json"]
        for header in headers {
            if let name = HTTPField.Name(header.name) { fields[name] = header.value }
        }
        return Response(
            status: HTTPResponse.Status(code: status), headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}
