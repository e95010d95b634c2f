import BrazeSandbox
import FlintPluginAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

let quietLogger: Logger = {
    if ProcessInfo.processInfo.environment["SANDBOX_TEST_LOG"] != nil {
        var logger = Logger(label: "braze-sandbox.tests", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .trace
        return logger
    }
    return Logger(label: "braze-sandbox.tests", factory: { _ in SwiftLogNoOpLogHandler() })
}()

/// 2026-11-29T12:00:00Z, a Sunday: "now" for every test that does not move the clock.
let testNow = Date(timeIntervalSince1970: 1_795_953_600)

/// A clock the test moves by hand.
final class TestClock: Sendable {
    private let current: Mutex<Date>

    init(_ start: Date = testNow) { current = Mutex(start) }

    var now: Date { current.withLock { $0 } }

    func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    var closure: @Sendable () -> Date { { self.now } }
}

let goodKey: HTTPFields = [.authorization: "Bearer sandbox-key"]

/// A valid create body: one recipient, an instant a day after `testNow`; `change` edits it.
func createBody(_ change: (inout [String: JSONValue]) -> Void = { _ in }) -> JSONValue {
    var body: [String: JSONValue] = [
        "campaign_id": "camp-1",
        "broadcast": false,
        "recipients": [["external_user_id": "u-1"]],
        "schedule": ["time": "2026-11-30T18:00:00Z", "in_local_time": false, "at_optimal_time": false],
    ]
    change(&body)
    return .object(body)
}

/// `{"k": "xxx..."}` of exactly `bytes` bytes of compact JSON.
func properties(ofSize bytes: Int) -> JSONValue {
    ["k": .string(String(repeating: "x", count: bytes - 8))]
}

/// `count` recipients with distinct external ids.
func recipients(_ count: Int) -> JSONValue {
    .array((0..<count).map { ["external_user_id": .string("u-\($0)")] })
}

/// Runs `test` against a sandbox on a real socket (port 0 on loopback).
func withSandbox(
    _ configuration: BrazeSandboxConfiguration = BrazeSandboxConfiguration(now: { testNow }),
    _ test: @Sendable (any TestClientProtocol, BrazeSandbox) async throws -> Void
) async throws {
    let sandbox = BrazeSandbox(configuration: configuration, logger: quietLogger)
    let app = sandbox.makeApplication(port: 0, logger: quietLogger)
    try await app.test(.live) { client in try await test(client, sandbox) }
}

extension TestClientProtocol {
    func post(_ path: String, _ body: JSONValue, headers: HTTPFields = goodKey) async throws -> TestResponse {
        try await post(path, text: body.compactJSON, headers: headers)
    }

    func post(_ path: String, text: String, headers: HTTPFields = goodKey) async throws -> TestResponse {
        var headers = headers
        headers[.contentType] = "application/json"
        return try await execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: text))
    }

    func create(_ body: JSONValue = createBody(), headers: HTTPFields = goodKey) async throws -> TestResponse {
        try await post(SandboxEndpoint.create.path, body, headers: headers)
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    var json: JSONValue? { try? JSONParser.parse(Array(body.readableBytesView)) }

    var message: String? { json?["message"]?.stringValue }

    func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { headers[$0] }
    }
}

/// How a request sent with `sendAlone` ended.
enum AloneOutcome: Sendable {
    case answered(TestClient.Response)
    /// The client gave up waiting and closed its connection.
    case timedOut
    /// The connection failed (closed by the server: `TestClient.Error.connectionClosing`).
    case failed(any Error)

    var wasClosedByServer: Bool {
        if case .failed(TestClient.Error.connectionClosing) = self { return true }
        return false
    }
}

/// Sends one request on a connection of its own and gives up after `timeout` by closing that
/// connection, as an HTTP client with a timeout does: for faults that never answer or that close
/// the connection (they would spoil the shared test client's connection).
///
/// `TestClient`'s own read timeout cannot do this: when nothing ever answers, its task group waits
/// for the pending response forever.
func sendAlone(
    port: Int, path: String = SandboxEndpoint.create.path, body: JSONValue = createBody(), timeout: Duration
) async -> AloneOutcome {
    let client = TestClient(host: "localhost", port: port, configuration: .init(timeout: .seconds(60)))
    client.connect()
    var headers = goodKey
    headers[.contentType] = "application/json"
    let request = TestClient.Request(path, method: .post, headers: headers, body: ByteBuffer(string: body.compactJSON))
    let outcome = await withTaskGroup(of: AloneOutcome?.self) { group in
        group.addTask {
            do {
                return .answered(try await client.execute(request))
            } catch {
                return .failed(error)
            }
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        let first = await group.next() ?? nil
        guard let first else {
            // The timer won: give up, which fails the pending request.
            try? await client.shutdown()
            _ = await group.next()
            return AloneOutcome.timedOut
        }
        group.cancelAll()
        return first
    }
    try? await client.shutdown()
    return outcome
}
