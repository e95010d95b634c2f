import FlintPluginAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import Webhook

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let quietLogger = Logger(label: "webhook.tests", factory: { _ in SwiftLogNoOpLogHandler() })

/// Runs `test` against the webhook routes on a real socket (port 0 on loopback).
func withWebhookServer(
    _ configuration: WebhookConfiguration = WebhookConfiguration(),
    sink: RecordingSink = RecordingSink(),
    _ test: @Sendable (any TestClientProtocol, RecordingSink) async throws -> Void
) async throws {
    let router = buildWebhookRouter(sink: sink, configuration: configuration, logger: quietLogger)
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: quietLogger)
    try await app.test(.live) { client in try await test(client, sink) }
}

extension TestClientProtocol {
    /// POSTs `body`; `contentType` nil sends no Content-Type at all.
    func post(
        _ path: String, _ body: String, contentType: String? = "application/json", headers: HTTPFields = [:]
    ) async throws -> TestResponse {
        try await post(path, bytes: Array(body.utf8), contentType: contentType, headers: headers)
    }

    func post(
        _ path: String, bytes: [UInt8], contentType: String? = "application/json", headers: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = headers
        if let contentType { headers[.contentType] = contentType }
        return try await execute(uri: path, method: .post, headers: headers, body: ByteBuffer(bytes: bytes))
    }

    /// The server still takes a good event after whatever came before (same connection).
    func expectStillServes(headers: HTTPFields = [:], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let id = "alive-" + UUID().uuidString
        let response = try await post(
            "/v1/events", #"{"event":"Still There","userId":"u-1","messageId":"\#(id)"}"#, headers: headers)
        #expect(response.status == .accepted, sourceLocation: sourceLocation)
        #expect(response.text == #"{"accepted":1,"duplicates":0,"rejected":[]}"#, sourceLocation: sourceLocation)
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    /// The `error` member of a JSON error body.
    var errorMessage: String? {
        (try? JSONParser.parse(Array(body.readableBytesView)))?["error"]?.stringValue
    }

    /// `rejected[].index` of a receipt body.
    var rejectedIndexes: [Int] {
        let value = try? JSONParser.parse(Array(body.readableBytesView))
        return (value?["rejected"]?.arrayValue ?? []).compactMap { $0["index"]?.numberValue.map { Int($0) } }
    }

    /// `rejected[].errors` of a receipt body.
    var rejectedErrors: [[String]] {
        let value = try? JSONParser.parse(Array(body.readableBytesView))
        return (value?["rejected"]?.arrayValue ?? []).map { ($0["errors"]?.arrayValue ?? []).compactMap(\.stringValue) }
    }
}

/// Sends raw HTTP/1.1 bytes on a fresh connection and returns the status line and body. Used where
/// the test client cannot go: a chunked body, which has no Content-Length to check up front.
/// Blocking socket I/O runs on its own thread, with a 10 s receive timeout.
func rawExchange(port: Int, request: [UInt8]) async throws -> (statusLine: String, body: String) {
    struct RawSocketError: Error { var step: String }
    let text: String = try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return continuation.resume(throwing: RawSocketError(step: "socket")) }
            defer { close(fd) }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { return continuation.resume(throwing: RawSocketError(step: "connect")) }
            var sent = 0
            while sent < request.count {
                let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { return continuation.resume(throwing: RawSocketError(step: "send")) }
                sent += n
            }
            var received: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                received += chunk[0..<n]
            }
            continuation.resume(returning: String(decoding: received, as: UTF8.self))
        }
        thread.start()
    }
    let statusLine = text.split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? ""
    let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
    return (statusLine, body)
}

/// A track call with a unique `messageId`.
func trackJSON(_ id: String = UUID().uuidString, event: String = "Cart Abandoned", user: String = "u-42") -> String {
    #"{"type":"track","event":"\#(event)","messageId":"\#(id)","userId":"\#(user)"}"#
}
