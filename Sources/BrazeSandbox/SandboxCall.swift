import FlintPluginAPI
import Foundation

/// One call the sandbox received on a Braze endpoint, as `GET /_sandbox/calls` shows it.
/// The `Authorization` value is never kept: only its scheme survives (`Bearer [REDACTED]`).
public struct SandboxCall: Sendable, Hashable {
    /// How the call ended for the client.
    public enum Outcome: String, Sendable, Hashable {
        /// An HTTP answer was sent (see `status`).
        case answered
        /// No answer: the request was held (a `hang` fault).
        case hung
        /// No answer: the connection was closed (a `drop` fault).
        case dropped
    }

    /// What the call changed in the sandbox.
    public enum Effect: String, Sendable, Hashable {
        case none
        /// A schedule was created (`scheduleID`).
        case created
        /// A schedule was replaced.
        case updated
        /// The update was accepted but ignored: a local-time schedule whose time has already come
        /// in some zone (docs/braze.md, Cancelling and moving schedules).
        case ignored
        case deleted
        /// An immediate send was accepted (`dispatchID`).
        case sent
    }

    /// 1, 2, 3... in arrival order.
    public var sequence: Int
    /// When the sandbox decided the answer, by its clock.
    public var at: Date
    public var method: String
    public var path: String
    /// Header names in lowercase; several values of one name joined with ", ".
    public var headers: [String: String]
    /// The body, when it was JSON.
    public var body: JSONValue?
    /// The body as text, when it was not JSON (at most 64 KiB).
    public var bodyText: String?
    /// The status answered; nil when nothing was answered.
    public var status: Int?
    public var outcome: Outcome
    /// The fault applied (`status 504`, `latency 250ms`, `hang`, `drop`), if any.
    public var fault: String?
    public var effect: Effect
    /// The schedule created, updated or deleted.
    public var scheduleID: String?
    public var dispatchID: String?
    /// The validation errors of a 400.
    public var errors: [String]

    /// The call as JSON.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "sequence": .number(Double(sequence)),
            "at": .string(Timestamp.formatUTCMillis(at)),
            "method": .string(method),
            "path": .string(path),
            "headers": .object(headers.mapValues(JSONValue.string)),
            "body": body ?? .null,
            "status": status.map { .number(Double($0)) } ?? .null,
            "outcome": .string(outcome.rawValue),
            "fault": fault.map(JSONValue.string) ?? .null,
            "effect": .string(effect.rawValue),
            "created": .bool(effect == .created),
            "schedule_id": scheduleID.map(JSONValue.string) ?? .null,
            "dispatch_id": dispatchID.map(JSONValue.string) ?? .null,
            "errors": .array(errors.map(JSONValue.string)),
        ]
        if let bodyText { object["body_text"] = .string(bodyText) }
        return .object(object)
    }

    /// The `Authorization` value as recorded: the scheme, never the credential.
    static func redacted(authorization value: String) -> String {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let space = trimmed.firstIndex(of: " ") {
            return String(trimmed[..<space]) + " [REDACTED]"
        }
        return "[REDACTED]"
    }
}
