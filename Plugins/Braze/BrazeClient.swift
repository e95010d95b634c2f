import AsyncHTTPClient
import FlintPluginAPI
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Calls Braze's scheduling endpoints over one `HTTPClient` and classifies every answer.
///
/// Its methods never throw: every outcome, including transport failures, is a `BrazeResponse` whose
/// `disposition` tells the dispatcher what to do. The API key is sent only in the `Authorization`
/// header and never appears in logs, messages or responses.
public final class BrazeClient: Sendable {
    public let configuration: BrazeConfiguration
    private let httpClient: HTTPClient
    private let ownsHTTPClient: Bool
    private let logger: Logger
    private let now: @Sendable () -> Date

    /// - Parameters:
    ///   - httpClient: the client to use; nil creates one with `makeHTTPClient(configuration:)`, owned
    ///     (and shut down) by this instance. An injected client stays the caller's to shut down.
    ///   - logger: used when a call is not given its own.
    ///   - now: the wall clock, for `receivedAt` and `Retry-After` in seconds.
    public init(
        configuration: BrazeConfiguration,
        httpClient: HTTPClient? = nil,
        logger: Logger = Logger(label: "flint.braze"),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.configuration = configuration
        self.httpClient = httpClient ?? Self.makeHTTPClient(configuration: configuration)
        self.ownsHTTPClient = httpClient == nil
        self.logger = logger
        self.now = now
    }

    /// An `HTTPClient` set up for Braze: HTTP/1.1 only (the write-completion signal that separates
    /// "retry" from "unknown" is the HTTP/1 connection's), no redirects (a redirected POST is a
    /// misconfigured endpoint), `connectTimeout` for connecting and `timeout` as the idle read limit.
    public static func makeHTTPClient(
        configuration: BrazeConfiguration,
        eventLoopGroup: any EventLoopGroup = HTTPClient.defaultEventLoopGroup
    ) -> HTTPClient {
        var http = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: TimeAmount(configuration.connectTimeout), read: TimeAmount(configuration.timeout)),
            connectionPool: .init(idleTimeout: .seconds(30))
        )
        http.httpVersion = .http1Only
        return HTTPClient(eventLoopGroup: eventLoopGroup, configuration: http)
    }

    /// Shuts down the HTTP client if this instance created it. Call once, after the last request.
    public func shutdown() async throws {
        if ownsHTTPClient { try await httpClient.shutdown() }
    }

    /// `POST /campaigns/trigger/schedule/create` with `body` (compact JSON). Not idempotent.
    public func createSchedule(_ body: JSONValue, logger: Logger? = nil) async -> BrazeResponse {
        await send(.createSchedule, body: body, logger: logger ?? self.logger)
    }

    /// `POST /campaigns/trigger/schedule/delete`: cancels a schedule ("best effort" near send time).
    public func deleteSchedule(campaignId: String, scheduleId: String, logger: Logger? = nil) async -> BrazeResponse {
        await send(
            .deleteSchedule,
            body: ["campaign_id": .string(campaignId), "schedule_id": .string(scheduleId)],
            logger: logger ?? self.logger)
    }

    /// `POST /campaigns/trigger/schedule/update`: replaces the whole schedule object of a schedule.
    public func updateSchedule(
        campaignId: String, scheduleId: String, schedule: JSONValue, logger: Logger? = nil
    ) async -> BrazeResponse {
        await send(
            .updateSchedule,
            body: ["campaign_id": .string(campaignId), "schedule_id": .string(scheduleId), "schedule": schedule],
            logger: logger ?? self.logger)
    }

    // MARK: - The exchange

    private func send(_ operation: BrazeOperation, body: JSONValue, logger: Logger) async -> BrazeResponse {
        // Everything logged from here on, by this client or by AsyncHTTPClient, goes through redaction.
        let configuration = self.configuration
        var logger = logger.redacting { configuration.redacting($0) }
        logger[metadataKey: "braze.operation"] = "\(operation.rawValue)"
        if let campaign = body["campaign_id"]?.stringValue { logger[metadataKey: "braze.campaign_id"] = "\(campaign)" }

        guard let url = configuration.url(for: operation) else {
            return finish(
                BrazeResponse(
                    operation: operation,
                    transportError: .invalidRequest(
                        "braze.rest_endpoint \(configuration.redacting(configuration.restEndpoint).debugDescription) is not an http(s) URL"),
                    receivedAt: now()),
                logger: logger)
        }
        if let problem = configuration.apiKeyProblem {
            return finish(
                BrazeResponse(operation: operation, transportError: .invalidRequest(problem), receivedAt: now()),
                logger: logger)
        }

        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "Authorization", value: "Bearer \(configuration.apiKey)")
        headers.add(name: "User-Agent", value: "flint")

        let request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(url: url, method: .POST, headers: headers, body: .bytes(body.compactUTF8))
        } catch {
            let failure = BrazeTransportError.classify(error, requestWritten: false, redact: configuration.redacting)
            return finish(
                BrazeResponse(operation: operation, transportError: .invalidRequest(failure.detail), receivedAt: now()),
                logger: logger)
        }

        let collector = Collector()
        // The delegate, the channel and the deadline timer on one event loop: see `Collector`.
        let eventLoop = httpClient.eventLoopGroup.next()
        let task = httpClient.execute(
            request: request,
            delegate: collector,
            eventLoop: .delegateAndChannel(on: eventLoop),
            deadline: .now() + TimeAmount(configuration.timeout),
            logger: logger
        )
        logger.debug("braze request started", metadata: ["braze.url": "\(url.absoluteString)"])

        do {
            let exchange = try await withTaskCancellationHandler {
                try await task.get()
            } onCancel: {
                task.cancel()
            }
            if let head = exchange.head {
                return finish(answer(operation, head, exchange.body, transportError: nil), logger: logger)
            }
            // A finished exchange always has a head; should it not, the request was written and the
            // answer is missing: unknown, never resent.
            let failure = BrazeTransportError.classify(
                HTTPClientError.remoteConnectionClosed, requestWritten: true, redact: configuration.redacting)
            return finish(BrazeResponse(operation: operation, transportError: failure, receivedAt: now()), logger: logger)
        } catch {
            let exchange = collector.snapshot
            let failure = BrazeTransportError.classify(
                error, requestWritten: exchange.requestWritten, redact: configuration.redacting)
            if let head = exchange.head {
                // The status arrived and decides; the rest of the answer was lost.
                return finish(answer(operation, head, exchange.body, transportError: failure), logger: logger)
            }
            return finish(BrazeResponse(operation: operation, transportError: failure, receivedAt: now()), logger: logger)
        }
    }

    private func answer(
        _ operation: BrazeOperation, _ head: HTTPResponseHead, _ body: [UInt8], transportError: BrazeTransportError?
    ) -> BrazeResponse {
        BrazeResponse(
            operation: operation,
            status: Int(head.status.code),
            headers: head.headers.map { (name: $0.name, value: $0.value) },
            body: body,
            receivedAt: now(),
            transportError: transportError,
            redact: configuration.redacting
        )
    }

    /// Logs the classified response (no secrets: every text in it went through `redacting`).
    private func finish(_ response: BrazeResponse, logger: Logger) -> BrazeResponse {
        var metadata: Logger.Metadata = ["braze.disposition": "\(response.disposition.label)"]
        if let status = response.status { metadata["braze.status"] = "\(status)" }
        if let scheduleId = response.scheduleId { metadata["braze.schedule_id"] = "\(scheduleId)" }
        if let dispatchId = response.dispatchId { metadata["braze.dispatch_id"] = "\(dispatchId)" }
        if let remaining = response.rateLimit.remaining { metadata["braze.rate_limit.remaining"] = "\(remaining)" }
        if let failure = response.transportError {
            metadata["braze.transport_error"] = "\(failure.label)"
            metadata["braze.phase"] = "\(failure.phase.rawValue)"
        }
        let line = configuration.redacting(response.summary)
        switch response.disposition {
        case .success:
            logger.debug("braze \(response.operation.rawValue): \(line)", metadata: metadata)
        case .retry, .retryAfter:
            logger.notice("braze \(response.operation.rawValue) will be retried: \(line)", metadata: metadata)
        case .fail:
            logger.warning("braze \(response.operation.rawValue) failed: \(line)", metadata: metadata)
        case .authFailure:
            logger.error(
                "braze \(response.operation.rawValue) refused the API key (check BRAZE_API_KEY and braze.rest_endpoint): \(line)",
                metadata: metadata)
        case .unknown:
            logger.warning("braze \(response.operation.rawValue) outcome unknown: \(line)", metadata: metadata)
        }
        return response
    }
}
