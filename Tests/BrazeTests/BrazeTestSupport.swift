import Braze
import FlintPluginAPI
import FlintTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// The API key every test uses: distinctive, so a leak is easy to find.
let testAPIKey = "brz-SECRET-4f1c9a7e-2b3d-4e5f-8a9b-0c1d2e3f4a5b"

let quietLogger = Logger(label: "braze.tests", factory: { _ in SwiftLogNoOpLogHandler() })

// MARK: - A scripted Braze on a real socket

/// One request as the test server received it.
struct RecordedRequest: Sendable {
    var method: String
    var path: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// What the test server answers.
struct Reply: Sendable {
    var status: Int
    var headers: [(name: String, value: String)] = []
    var body: String = ""

    static func json(_ status: Int, _ body: String, headers: [(name: String, value: String)] = []) -> Reply {
        Reply(status: status, headers: [("Content-Type", "application/json")] + headers, body: body)
    }
}

/// Strings gathered from concurrently running code.
final class TextBox: Sendable {
    private let texts = Mutex<[String]>([])
    var all: [String] { texts.withLock { $0 } }
    func append(_ more: [String]) { texts.withLock { $0 += more } }
}

/// The requests a test server received.
final class Recorder: Sendable {
    private let requests = Mutex<[RecordedRequest]>([])
    var all: [RecordedRequest] { requests.withLock { $0 } }
    func append(_ request: RecordedRequest) { requests.withLock { $0.append(request) } }
}

/// Holds a server handler until the test opens it: a "slow Braze" without a fixed sleep.
final class Gate: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() { (stream, continuation) = AsyncStream.makeStream(of: Void.self) }

    func wait() async { for await _ in stream {} }
    func open() { continuation.finish() }
}

/// Runs `test` with the port of a Hummingbird server (loopback, port 0) that records every POST and
/// answers it with `reply`.
func withBrazeServer(
    reply: @escaping @Sendable (RecordedRequest) async -> Reply,
    _ test: @Sendable (_ port: Int, _ recorder: Recorder) async throws -> Void
) async throws {
    let recorder = Recorder()
    let router = Router()
    router.post("**") { request, _ -> Response in
        let body = try await request.body.collect(upTo: 64 << 20)
        let recorded = RecordedRequest(
            method: request.method.rawValue,
            path: request.uri.path,
            headers: request.headers.map { (name: $0.name.rawName, value: $0.value) },
            body: Array(body.readableBytesView)
        )
        recorder.append(recorded)
        let answer = await reply(recorded)
        var fields = HTTPFields()
        for header in answer.headers {
            fields.append(HTTPField(name: HTTPField.Name(header.name)!, value: header.value))
        }
        return Response(
            status: .init(code: answer.status),
            headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(string: answer.body))
        )
    }
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: quietLogger)
    try await app.test(.live) { client in
        try await test(try #require(client.port), recorder)
    }
}

// MARK: - Raw servers for broken connections

/// How a raw TCP server misbehaves.
enum RawBehaviour: Sendable {
    /// Reads the whole request (head and Content-Length body), then closes without answering.
    case closeAfterRequest
    /// Resets the connection (SO_LINGER 0) as soon as the first bytes arrive.
    case resetOnFirstRead
}

private final class RawHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let behaviour: RawBehaviour
    var received: [UInt8] = []

    init(behaviour: RawBehaviour) { self.behaviour = behaviour }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        switch behaviour {
        case .resetOnFirstRead:
            context.close(promise: nil)
        case .closeAfterRequest:
            received.append(contentsOf: buffer.readableBytesView)
            if Self.isComplete(received) { context.close(promise: nil) }
        }
    }

    /// True once `bytes` hold a head and as many body bytes as its Content-Length says.
    static func isComplete(_ bytes: [UInt8]) -> Bool {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = bytes.indices.first(where: { bytes[$0...].starts(with: separator) }) else { return false }
        let head = String(decoding: bytes[..<end], as: UTF8.self).lowercased()
        let length = head.split(separator: "\r\n")
            .first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        return bytes.count >= end + separator.count + length
    }
}

/// Runs `test` with the port of a plain TCP server on loopback that behaves as `behaviour` says.
func withRawServer(_ behaviour: RawBehaviour, _ test: (_ port: Int) async throws -> Void) async throws {
    let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            // SO_LINGER 0: closing sends a reset, not an orderly FIN.
            let lingering = (channel as? any SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
                ?? channel.eventLoop.makeSucceededVoidFuture()
            return lingering.flatMapThrowing {
                try channel.pipeline.syncOperations.addHandler(RawHandler(behaviour: behaviour))
            }
        }
    let server = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
    do {
        try await test(try #require(server.localAddress?.port))
        try await server.close()
    } catch {
        try? await server.close()
        throw error
    }
}

/// A loopback port that refuses connections while `body` runs: bound and never listening, so a
/// connection gets a reset at once, and no server another test starts meanwhile can take the port
/// (a port bound, read and released could be handed to the next one that asks).
func withRefusingPort<T>(_ body: (Int) async throws -> T) async throws -> T {
    guard let bound = boundLoopbackSocket() else { throw RefusingPortError() }
    defer { close(bound.fd) }
    return try await body(bound.port)
}

struct RefusingPortError: Error {}

// MARK: - Clients

func makeClient(
    port: Int,
    timeout: Duration = .seconds(5),
    connectTimeout: Duration = .seconds(5),
    logs: LogCapture? = nil
) -> BrazeClient {
    BrazeClient(
        configuration: BrazeConfiguration(
            restEndpoint: "http://127.0.0.1:\(port)", apiKey: testAPIKey, timeout: timeout,
            connectTimeout: connectTimeout),
        logger: logs?.logger ?? quietLogger
    )
}

/// Runs `body` with a client of the server at `port`, and shuts the client down afterwards.
func withClient(
    port: Int,
    timeout: Duration = .seconds(5),
    connectTimeout: Duration = .seconds(5),
    logs: LogCapture? = nil,
    _ body: (BrazeClient) async throws -> Void
) async throws {
    let client = makeClient(port: port, timeout: timeout, connectTimeout: connectTimeout, logs: logs)
    do {
        try await body(client)
        try await client.shutdown()
    } catch {
        try? await client.shutdown()
        throw error
    }
}

let context = PluginContext(name: "braze", logger: quietLogger)

/// A typical create body.
let createBody: JSONValue = [
    "campaign_id": "camp-1",
    "broadcast": false,
    "recipients": [["external_user_id": "u-42", "trigger_properties": ["cart_value": 59.5]]],
    "schedule": ["time": "2026-11-30T18:00:00Z", "in_local_time": false, "at_optimal_time": false],
]

let successBody = #"{"dispatch_id":"disp-123","schedule_id":"sched-456","message":"success"}"#

extension BrazeResponse.Disposition {
    var failMessage: String? { if case .fail(let m) = self { m } else { nil } }
    var authMessage: String? { if case .authFailure(let m) = self { m } else { nil } }
    var unknownMessage: String? { if case .unknown(let m) = self { m } else { nil } }
    var retryDate: Date?? { if case .retryAfter(let d) = self { .some(d) } else { nil } }
}
