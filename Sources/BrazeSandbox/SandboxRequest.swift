import Foundation

/// A call as the sandbox's logic sees it, once the HTTP shell has read it.
struct SandboxRequest: Sendable {
    var method: String
    var endpoint: SandboxEndpoint
    /// Headers as recorded: lowercase names, `Authorization` redacted.
    var headers: [String: String]
    /// The `Authorization` value, used for the key check and then forgotten.
    var authorization: String?
    var body: [UInt8]
    /// Set when the body could not be read whole (too large): answered with this status and message.
    var bodyProblem: (status: Int, message: String)?
}

/// What the HTTP shell must do.
enum SandboxAction: Sendable {
    case answer(SandboxReply)
    /// Close the connection without an answer.
    case drop
    /// Hold the request, then close the connection.
    case hang
}
