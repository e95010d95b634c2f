import FlintPluginAPI
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The HTTP event source: `POST /v1/events` and Segment's `/v1/track`, `/v1/identify`, `/v1/batch`.
///
/// It owns no server: `flint serve` adds these routes to its one listener beside `/healthz`,
/// `/readyz` and `/metrics`. A request is answered 202 (200 on the Segment endpoints) only after
/// `sink.submit` returned, that is after the accepted events are committed.
///
/// Order of checks: credentials from the headers (401), content type and encoding (415), size (413,
/// from `Content-Length` before reading, else while reading), the signature over the body (401), the
/// JSON (400), then the engine. Tokens, signatures and bodies are never logged.
public struct WebhookRoutes: Sendable {
    public let sink: any EventSink
    public let configuration: WebhookConfiguration
    /// The `source` name given to the engine (the plugin's configured name).
    public let source: String
    let authenticator: WebhookAuthenticator
    let logger: Logger
    let now: @Sendable () -> Date
    static let signatureField = HTTPField.Name(WebhookSignature.headerName)!

    public init(
        sink: any EventSink, configuration: WebhookConfiguration, source: String = "webhook", logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.sink = sink
        self.configuration = configuration
        self.source = source
        self.authenticator = WebhookAuthenticator(configuration: configuration)
        self.logger = logger
        self.now = now
    }

    /// True when requests must carry a credential (see `WebhookConfiguration.requiresAuth`).
    public var requiresAuth: Bool { configuration.requiresAuth }

    /// Adds the four `POST` routes to `router` (a `Router` or a group of one).
    public func addRoutes<Methods: RouterMethods>(to router: Methods) {
        for endpoint in WebhookEndpoint.allCases {
            router.post(RouterPath(stringLiteral: endpoint.path)) { request, _ -> Response in
                await self.respond(to: request, endpoint: endpoint).response
            }
        }
    }

    /// Handles one request; never throws, every outcome is a reply.
    func respond(to request: Request, endpoint: WebhookEndpoint) async -> WebhookReply {
        let reply = await decide(request, endpoint: endpoint)
        if reply.status.code >= 400 {
            // Status and route only: the reply text can quote the body.
            let level: Logger.Level = reply.status.code >= 500 ? .warning : .debug
            logger.log(level: level, "webhook request refused", metadata: ["http.path": "\(endpoint.path)", "http.status": "\(reply.status.code)"])
        }
        return reply
    }

    private func decide(_ request: Request, endpoint: WebhookEndpoint) async -> WebhookReply {
        var pending: WebhookSignature?
        switch authenticator.check(
            authorization: request.headers[.authorization], signature: request.headers[Self.signatureField], now: now())
        {
        case .allowed: break
        case .denied(let message): return .unauthorized(message)
        case .verifySignature(let signature): pending = signature
        }

        let format: WebhookBody.Format
        switch WebhookBody.format(
            contentType: request.headers[.contentType], contentEncoding: request.headers[.contentEncoding], endpoint: endpoint)
        {
        case .success(let value): format = value
        case .failure(let reply): return reply
        }

        let limit = configuration.maxBodyBytes
        let tooLarge = WebhookReply.error(
            .contentTooLarge,
            "the body is larger than \(limit) bytes (webhook.max_body_bytes): split the events into smaller requests")
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit { return tooLarge }
        let buffer: ByteBuffer
        do {
            // Stops reading as soon as the limit is passed; Hummingbird discards the rest.
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            return tooLarge
        } catch {
            return .badRequest("the body could not be read: the connection failed while receiving it")
        }

        let decoded: Result<[IncomingEvent], WebhookReply> = buffer.withUnsafeReadableBytes { raw in
            if let pending, case .denied(let message) = authenticator.verify(pending, body: raw) {
                return .failure(.unauthorized(message))
            }
            return WebhookBody.events(
                from: raw.assumingMemoryBound(to: UInt8.self), format: format, endpoint: endpoint, maxDepth: configuration.maxDepth)
        }
        let batch: [IncomingEvent]
        switch decoded {
        case .success(let events): batch = events
        case .failure(let reply): return reply
        }

        do {
            let receipt = try await sink.submit(batch, source: source)
            return .receipt(receipt, endpoint: endpoint)
        } catch let unavailable as SinkUnavailable {
            return .unavailable(unavailable)
        } catch {
            logger.error("webhook batch not stored", metadata: ["error": "\(String(describing: type(of: error)))"])
            return .error(.internalServerError, "the events could not be stored and none were accepted: retry later")
        }
    }
}

/// A router with only the webhook routes, for tests and for embedding in a bare `Application`.
public func buildWebhookRouter(
    sink: any EventSink, configuration: WebhookConfiguration, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }
) -> Router<BasicRequestContext> {
    let router = Router()
    WebhookRoutes(sink: sink, configuration: configuration, logger: logger, now: now).addRoutes(to: router)
    return router
}
