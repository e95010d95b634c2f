import FlintPluginAPI
import Foundation
import HummingbirdTesting
import Testing

@testable import Webhook

@Suite("Webhook: NDJSON sent as JSON gets a hint; each item carries the request and index it came in")
struct WebhookOriginTests {
    @Test("NDJSON sent as application/json is 400 with a hint to send it as application/x-ndjson")
    func ndjsonAsJSON() async throws {
        try await withWebhookServer { client, sink in
            let body = #"{"event":"A","userId":"u-1"}"# + "\n" + #"{"event":"B","userId":"u-2"}"# + "\n"
            let response = try await client.post("/v1/events", body)
            #expect(response.status == .badRequest)
            let message = try #require(response.errorMessage)
            #expect(message.hasPrefix("the body is not valid JSON: line 2, column 1: unexpected '{' after the JSON value"), "\(message)")
            #expect(
                message.hasSuffix("; this looks like NDJSON (one event per line): send it with Content-Type: application/x-ndjson"),
                "\(message)")
            #expect(await sink.submissions == 0)

            let segment = try await client.post("/v1/track", body)
            #expect(segment.errorMessage?.contains("send it to /v1/events with Content-Type: application/x-ndjson") == true, "\(segment.text)")

            // Two values on one line is not NDJSON: no hint.
            let oneLine = try await client.post("/v1/events", #"{"event":"A","userId":"u-1"} {"event":"B"}"#)
            #expect(oneLine.status == .badRequest)
            #expect(oneLine.errorMessage?.contains("NDJSON") == false, "\(oneLine.text)")
        }
    }

    func items(_ body: String, _ format: WebhookBody.Format, _ endpoint: WebhookEndpoint) throws -> [IncomingEvent] {
        let bytes = Array(body.utf8)
        let result = bytes.withUnsafeBufferPointer { WebhookBody.events(from: $0, format: format, endpoint: endpoint, maxDepth: 64) }
        return try result.get()
    }

    @Test("each item's origin is the endpoint and its 0-based index, as rejected[].index reports it")
    func origins() throws {
        let batch = try items(#"{"batch":[{"type":"track","event":"A","userId":"u"},{"type":"track"},{"type":"track"}]}"#, .json, .batch)
        #expect(batch.map(\.origin) == (0..<3).map { .request("/v1/batch", index: $0) })
        #expect(batch.last?.origin?.label == "POST /v1/batch #2")

        let array = try items(#"[{"event":"A"},{"event":"B"}]"#, .json, .events)
        #expect(array.map(\.origin) == [.request("/v1/events", index: 0), .request("/v1/events", index: 1)])

        let lines = try items("{\"event\":\"A\"}\n\nnot json\n", .ndjson, .events)
        #expect(lines.map(\.origin) == [.request("/v1/events", index: 0), .request("/v1/events", index: 1)])
        #expect(lines.last?.origin?.json == ["endpoint": "/v1/events", "index": 1])

        let track = try items(#"{"event":"A","userId":"u"}"#, .json, .track)
        #expect(track.first?.origin == .request("/v1/track", index: 0))
    }
}

