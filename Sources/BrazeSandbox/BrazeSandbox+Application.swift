import Hummingbird
import Logging
import NIOCore

/// A request context that keeps the connection's channel, so a `drop` or `hang` fault can close it
/// without answering.
public protocol SandboxChannelContext: RequestContext {
    var channel: any Channel { get }
}

/// The context of the sandbox's own listener.
public struct BrazeSandboxRequestContext: SandboxChannelContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

extension BrazeSandbox {
    /// The sandbox on a listener of its own, e.g. `flint sandbox --listen 127.0.0.1:4010`, or
    /// `flint serve` without `BRAZE_API_KEY`. The application is a ServiceLifecycle `Service`: put it
    /// in the `ServiceGroup`, or `runService()` it.
    ///
    /// - Parameters:
    ///   - host: the address to bind; keep it on loopback (the sandbox has no TLS and one known key).
    ///   - port: 0 picks a free port; `onServerRunning` tells which.
    ///   - onServerRunning: called once listening, with the bound port.
    public func makeApplication(
        host: String = "127.0.0.1", port: Int = 4010, logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> Application<RouterResponder<BrazeSandboxRequestContext>> {
        let router = Router(context: BrazeSandboxRequestContext.self)
        addRoutes(to: router)
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "flint-braze-sandbox"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }
}
