import FlintPluginAPI
import Foundation
import HummingbirdTesting
import Testing
import Webhook

@Suite("Webhook bad input: a precise answer, and the server keeps serving")
struct WebhookBadInputTests {
    @Test("malformed JSON is 400 with the line and column")
    func malformedJSON() async throws {
        try await withWebhookServer { client, sink in
            let oneLine = try await client.post("/v1/events", #"{"event": "X",}"#)
            #expect(oneLine.status == .badRequest)
            #expect(oneLine.errorMessage?.hasPrefix("the body is not valid JSON: line 1, column 15:") == true, "\(oneLine.text)")

            let multiLine = try await client.post("/v1/events", "{\n  \"event\": \"X\",\n  \"userId\": \n}")
            #expect(multiLine.status == .badRequest)
            #expect(multiLine.errorMessage?.hasPrefix("the body is not valid JSON: line 4, column 1:") == true, "\(multiLine.text)")

            let segment = try await client.post("/v1/track", "{")
            #expect(segment.status == .badRequest)
            #expect(await sink.submissions == 0)
            try await client.expectStillServes()
        }
    }

    @Test("form-encoded and other content types are 415 naming the header to use", arguments: [
        "application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x",
    ])
    func wrongContentType(type: String) async throws {
        try await withWebhookServer { client, sink in
            let response = try await client.post("/v1/events", "event=Cart+Abandoned&userId=u-1", contentType: type)
            #expect(response.status == .unsupportedMediaType)
            let message = try #require(response.errorMessage)
            #expect(message.contains(#""Content-Type: application/json""#))
            #expect(message.contains(#""Content-Type: application/x-ndjson""#))
            let segment = try await client.post("/v1/track", "event=X", contentType: type)
            #expect(segment.status == .unsupportedMediaType)
            #expect(segment.errorMessage?.contains(#""Content-Type: application/json""#) == true)
            #expect(await sink.submissions == 0)
            try await client.expectStillServes()
        }
    }

    @Test("form-encoded 415 tells curl users what to add")
    func formEncodedHint() async throws {
        try await withWebhookServer { client, _ in
            let response = try await client.post("/v1/events", "a=b", contentType: "application/x-www-form-urlencoded")
            #expect(
                response.text
                    == #"{"error":"Content-Type \"application/x-www-form-urlencoded\" is not supported: send \"Content-Type: application/json\" (one event or an array) or \"Content-Type: application/x-ndjson\" (one event a line) (curl -d sends form data unless given -H 'Content-Type: application/json')"}"#
            )
        }
    }

    @Test("NDJSON on a Segment endpoint, a non-UTF-8 charset and a compressed body are 415")
    func otherUnsupportedBodies() async throws {
        try await withWebhookServer { client, _ in
            let ndjson = try await client.post("/v1/track", trackJSON(), contentType: "application/x-ndjson")
            #expect(ndjson.status == .unsupportedMediaType)
            #expect(ndjson.errorMessage?.contains("application/json") == true)
            let latin1 = try await client.post("/v1/events", trackJSON(), contentType: "application/json; charset=iso-8859-1")
            #expect(latin1.status == .unsupportedMediaType)
            let gzip = try await client.post("/v1/events", trackJSON(), headers: [.contentEncoding: "gzip"])
            #expect(gzip.status == .unsupportedMediaType)
            #expect(gzip.errorMessage == #"Content-Encoding "gzip" is not supported: send the body uncompressed"#)
            try await client.expectStillServes()
        }
    }

    @Test("a body over the limit is 413, from Content-Length before anything is read")
    func tooLargeByLength() async throws {
        try await withWebhookServer(WebhookConfiguration(maxBodyBytes: 1024)) { client, sink in
            let padding = String(repeating: "x", count: 2000)
            let response = try await client.post("/v1/events", #"{"event":"X","userId":"u","properties":{"p":"\#(padding)"}}"#)
            #expect(response.status == .contentTooLarge)
            #expect(
                response.errorMessage
                    == "the body is larger than 1024 bytes (webhook.max_body_bytes): split the events into smaller requests")
            #expect(await sink.submissions == 0)
            try await client.expectStillServes()
        }
    }

    @Test("a chunked body over the limit is 413 once the limit is passed")
    func tooLargeChunked() async throws {
        try await withWebhookServer(WebhookConfiguration(maxBodyBytes: 1024)) { client, sink in
            let port = try #require(client.port)
            let chunk = String(repeating: " ", count: 800)
            var request = "POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            request += "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            for _ in 0..<2 { request += String(800, radix: 16) + "\r\n" + chunk + "\r\n" }
            request += "0\r\n\r\n"
            let (status, body) = try await rawExchange(port: port, request: Array(request.utf8))
            #expect(status.hasPrefix("HTTP/1.1 413 "))
            #expect(body.contains("larger than 1024 bytes"))

            // Under the limit, the same path commits.
            let event = trackJSON("chunked-1")
            let small = "POST /v1/events HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                + String(event.utf8.count, radix: 16) + "\r\n" + event + "\r\n0\r\n\r\n"
            let (okStatus, okBody) = try await rawExchange(port: port, request: Array(small.utf8))
            #expect(okStatus == "HTTP/1.1 202 Accepted")
            #expect(okBody == #"{"accepted":1,"duplicates":0,"rejected":[]}"#)
            #expect(await sink.committedIds == ["chunked-1"])
            try await client.expectStillServes()
        }
    }

    @Test("nesting deeper than 64 is a clean 400; 64 levels are accepted")
    func nesting() async throws {
        try await withWebhookServer { client, sink in
            // The event object and `properties` are two levels; the arrays make up the rest.
            func body(arrays: Int) -> String {
                #"{"event":"Deep","userId":"u","properties":{"a":"# + String(repeating: "[", count: arrays)
                    + String(repeating: "]", count: arrays) + "}}"
            }
            let deep = try await client.post("/v1/events", body(arrays: 63))
            #expect(deep.status == .badRequest)
            #expect(deep.errorMessage?.hasSuffix("nesting deeper than 64 levels") == true, "\(deep.text)")
            #expect(await sink.submissions == 0)

            let limit = try await client.post("/v1/events", body(arrays: 62))
            #expect(limit.status == .accepted)
            try await client.expectStillServes()
        }
    }

    @Test("invalid UTF-8 is a clean 400")
    func invalidUTF8() async throws {
        try await withWebhookServer { client, sink in
            let bytes = Array(#"{"event":"Caf"#.utf8) + [0xC3, 0x28] + Array(#"","userId":"u"}"#.utf8)
            let response = try await client.post("/v1/events", bytes: bytes)
            #expect(response.status == .badRequest)
            #expect(response.errorMessage == "the body is not valid JSON: line 1, column 14: invalid UTF-8 byte 0xC3")
            #expect(await sink.submissions == 0)
            try await client.expectStillServes()
        }
    }

    @Test("an event without `event` is 400 naming the field")
    func missingEvent() async throws {
        try await withWebhookServer { client, sink in
            let response = try await client.post("/v1/events", #"{"userId":"u-1"}"#)
            #expect(response.status == .badRequest)
            #expect(
                response.text
                    == #"{"error":"the event is not valid: see rejected[].errors","accepted":0,"duplicates":0,"rejected":[{"index":0,"errors":["event: required for a track call (the event name, e.g. \"Cart Abandoned\")"]}]}"#
            )
            #expect(await sink.committed.isEmpty)
            try await client.expectStillServes()
        }
    }

    @Test("fields of the wrong type are 400 with one reason each")
    func wrongTypes() async throws {
        try await withWebhookServer { client, _ in
            let response = try await client.post("/v1/events", #"{"event":5,"userId":true,"properties":"cheap"}"#)
            #expect(response.status == .badRequest)
            #expect(
                response.rejectedErrors == [[
                    "event: expected a string, got number", "userId: expected a string, got boolean",
                    "properties: expected an object, got string",
                ]])
            try await client.expectStillServes()
        }
    }

    @Test("a timestamp that is not ISO 8601 is 400 with the reason")
    func badTimestamp() async throws {
        try await withWebhookServer { client, _ in
            let response = try await client.post("/v1/events", #"{"event":"X","userId":"u","timestamp":"yesterday"}"#)
            #expect(response.status == .badRequest)
            #expect(
                response.rejectedErrors == [[
                    #"timestamp: "yesterday" is not an ISO 8601 time with an offset (e.g. 2026-11-29T18:05:00Z)"#
                ]])
            try await client.expectStillServes()
        }
    }

    @Test("an empty array is 400 and reaches no engine")
    func emptyArray() async throws {
        try await withWebhookServer { client, sink in
            let response = try await client.post("/v1/events", " [ ] ")
            #expect(response.status == .badRequest)
            #expect(response.text == #"{"error":"the array is empty: send at least one event"}"#)
            let batch = try await client.post("/v1/batch", #"{"batch": []}"#)
            #expect(batch.status == .badRequest)
            #expect(batch.errorMessage == #""batch" is empty: send at least one call"#)
            #expect(await sink.submissions == 0)
            try await client.expectStillServes()
        }
    }

    @Test("bodies of the wrong shape are 400", arguments: [
        ("/v1/events", "42", "expected an event (a JSON object) or an array of events, got number"),
        ("/v1/events", "", "the body is not valid JSON: line 1, column 1: empty input, expected a JSON value"),
        ("/v1/track", "[]", "/v1/track takes one call (a JSON object), got array: send several calls to /v1/batch"),
        ("/v1/batch", #"{"calls": []}"#, #"expected {"batch": [...]}: the "batch" key is missing"#),
        ("/v1/batch", #"{"batch": {}}"#, #""batch" must be an array of calls, got object"#),
    ])
    func wrongShape(path: String, body: String, message: String) async throws {
        try await withWebhookServer { client, sink in
            let response = try await client.post(path, body)
            #expect(response.status == .badRequest)
            #expect(response.errorMessage == message)
            #expect(await sink.submissions == 0)
            try await client.expectStillServes()
        }
    }

    @Test("when every item is rejected the answer is 400 with the whole rejected list")
    func everyItemRejected() async throws {
        try await withWebhookServer { client, sink in
            let ndjson = try await client.post("/v1/events", "nope\n{\"userId\":\"u\"}\n", contentType: "application/x-ndjson")
            #expect(ndjson.status == .badRequest)
            #expect(ndjson.errorMessage == "no event in the body is valid: see rejected[].errors")
            #expect(ndjson.rejectedIndexes == [0, 1])
            let batch = try await client.post("/v1/batch", #"{"batch": [{"type": "page", "userId": "u"}]}"#)
            #expect(batch.status == .badRequest)
            #expect(batch.rejectedErrors == [[#"type: "page" is not supported; use "track" or "identify""#]])
            #expect(await sink.committed.isEmpty)
            try await client.expectStillServes()
        }
    }
}
