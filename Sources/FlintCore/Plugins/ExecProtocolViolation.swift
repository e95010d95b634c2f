/// Thrown by a session when the plugin broke the protocol: the process is stopped at once, and
/// started again after the backoff.
public struct ExecProtocolViolation: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
