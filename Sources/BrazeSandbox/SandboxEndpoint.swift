/// The Braze endpoints the sandbox emulates (docs/braze.md, The call).
public enum SandboxEndpoint: String, Sendable, Hashable, CaseIterable {
    case create = "/campaigns/trigger/schedule/create"
    case update = "/campaigns/trigger/schedule/update"
    case delete = "/campaigns/trigger/schedule/delete"
    case send = "/campaigns/trigger/send"

    /// The request path, e.g. `/campaigns/trigger/schedule/create`.
    public var path: String { rawValue }

    /// The endpoint whose path is `path`, or nil.
    public init?(path: String) {
        self.init(rawValue: path)
    }

    /// True for the endpoints that take recipients, an audience and trigger properties.
    var targetsUsers: Bool { self == .create || self == .send }
}
