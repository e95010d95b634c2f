import FlintPluginAPI
import Foundation
import Hummingbird
import Logging

/// The webhook as an `EventSource`, started like every other source (the plugin registry, then a
/// source service): an HTTP listener serving `POST /v1/events`, `/v1/track`, `/v1/identify` and
/// `/v1/batch` into the sink. The host may add routes of its own to the same listener (`flint serve`:
/// `/healthz`, `/readyz`, `/metrics`).
///
/// On graceful shutdown the listener stops accepting, answers the requests in flight (each after its
/// commit), then `run` returns.
public struct WebhookSource: EventSource {
    public let name: String
    public let configuration: WebhookConfiguration
    public let host: String
    public let port: Int
    private let extraRoutes: @Sendable (Router<BasicRequestContext>) -> Void
    private let onListening: @Sendable (String) -> Void

    /// - Parameters:
    ///   - extraRoutes: called once, when the listener starts, to add the host's routes.
    ///   - onListening: called with the bound `host:port` once the listener accepts connections.
    public init(
        name: String = "webhook", configuration: WebhookConfiguration, host: String, port: Int,
        extraRoutes: @escaping @Sendable (Router<BasicRequestContext>) -> Void = { _ in },
        onListening: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.name = name
        self.configuration = configuration
        self.host = host
        self.port = port
        self.extraRoutes = extraRoutes
        self.onListening = onListening
    }

    /// The listener answers its requests in flight before it stops: it is not cancelled.
    public var handlesGracefulShutdown: Bool { true }

    public func run(sink: any EventSink, context: PluginContext) async throws {
        let router = Router()
        WebhookRoutes(sink: sink, configuration: configuration, source: name, logger: context.logger).addRoutes(to: router)
        extraRoutes(router)
        let host = self.host
        let port = self.port
        let onListening = self.onListening
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "flint"),
            onServerRunning: { channel in
                let address = channel.localAddress.flatMap { a in a.port.map { "\(a.ipAddress ?? host):\($0)" } } ?? "\(host):\(port)"
                onListening(address)
            },
            logger: context.logger)
        try await app.run()
    }
}
