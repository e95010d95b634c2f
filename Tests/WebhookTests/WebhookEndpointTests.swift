import FlintPluginAPI
import Foundation
import HummingbirdTesting
import Testing
import Webhook

@Suite("Webhook endpoints: what a good request gets")
struct WebhookEndpointTests {
    @Test("POST /v1/events with one object commits it and answers 202")
    func oneObject() async throws {
        try await withWebhookServer { client, sink in
            let response = try await client.post("/v1/events", trackJSON("m-1"))
            #expect(response.status == .accepted)
            #expect(response.headers[.contentType] == "application/json")
            #expect(response.text == #"{"accepted":1,"duplicates":0,"rejected":[]}"#)
            #expect(await sink.committedIds == ["m-1"])
        }
    }

    @Test("POST /v1/events with a JSON array commits every event")
    func array() async throws {
        try await withWebhookServer { client, sink in
            let response = try await client.post("/v1/events", "[\(trackJSON("m-2")), \(trackJSON("m-3"))]")
            #expect(response.status == .accepted)
            #expect(response.text == #"{"accepted":2,"duplicates":0,"rejected":[]}"#)
            #expect(await sink.committedIds == ["m-2", "m-3"])
        }
    }

    @Test("POST /v1/events with NDJSON commits a line each, blank lines skipped")
    func ndjson() async throws {
        try await withWebhookServer { client, sink in
            let body = trackJSON("m-4") + "\r\n\n" + trackJSON("m-5") + "\n"
            let response = try await client.post("/v1/events", body, contentType: "application/x-ndjson")
            #expect(response.status == .accepted)
            #expect(response.text == #"{"accepted":2,"duplicates":0,"rejected":[]}"#)
            #expect(await sink.committedIds == ["m-4", "m-5"])
        }
    }

    @Test("POST /v1/track fills in type track and answers 200 with success")
    func track() async throws {
        try await withWebhookServer { client, sink in
            let response = try await client.post("/v1/track", #"{"event":"Signed Up","userId":"u-1","messageId":"t-1"}"#)
            #expect(response.status == .ok)
            #expect(response.text == #"{"accepted":1,"duplicates":0,"rejected":[],"success":true}"#)
            let event = try #require(await sink.committed.first)
            #expect(event.type == .track)
            #expect(event.raw["type"] == "track")
            #expect(event.name == "Signed Up")
        }
    }

    @Test("POST /v1/identify fills in type identify and answers 200 with success")
    func identify() async throws {
        try await withWebhookServer { client, sink in
            let body = #"{"userId":"u-1","messageId":"i-1","traits":{"email":"a@example.com"},"context":{"timezone":"Europe/Paris"}}"#
            let response = try await client.post("/v1/identify", body)
            #expect(response.status == .ok)
            #expect(response.text == #"{"accepted":1,"duplicates":0,"rejected":[],"success":true}"#)
            let event = try #require(await sink.committed.first)
            #expect(event.type == .identify)
            #expect(event.raw["type"] == "identify")
            #expect(event.contextTimeZone == "Europe/Paris")
        }
    }

    @Test("POST /v1/batch keeps each call's type, shares the top-level context and indexes rejects in batch")
    func batch() async throws {
        try await withWebhookServer { client, sink in
            let body = """
                {"batch": [
                  {"type": "identify", "userId": "u-1", "messageId": "b-1"},
                  {"type": "track", "event": "Viewed", "userId": "u-1", "messageId": "b-2", "context": {"ip": "1.2.3.4"}},
                  {"type": "track", "userId": "u-1"}
                ], "context": {"timezone": "Europe/Paris"}}
                """
            let response = try await client.post("/v1/batch", body)
            #expect(response.status == .ok)
            #expect(
                response.text
                    == #"{"accepted":2,"duplicates":0,"rejected":[{"index":2,"errors":["event: required for a track call (the event name, e.g. \"Cart Abandoned\")"]}],"success":true}"#
            )
            let committed = await sink.committed
            #expect(committed.map(\.type) == [.identify, .track])
            #expect(committed.map(\.contextTimeZone) == ["Europe/Paris", "Europe/Paris"])
            #expect(committed.last?.raw["context"]?["ip"] == "1.2.3.4")
        }
    }

    @Test("a mixed array commits the valid events and lists the rejected indexes")
    func mixedArray() async throws {
        try await withWebhookServer { client, sink in
            let body = "[\(trackJSON("m-8")), {\"event\": \"No User\"}, 42, \(trackJSON("m-9"))]"
            let response = try await client.post("/v1/events", body)
            #expect(response.status == .accepted)
            #expect(
                response.text
                    == #"{"accepted":2,"duplicates":0,"rejected":[{"index":1,"errors":["userId: one of userId or anonymousId is required"]},{"index":2,"errors":["event: expected a JSON object, got number"]}]}"#
            )
            #expect(await sink.committedIds == ["m-8", "m-9"])
        }
    }

    @Test("NDJSON: a line that is not JSON is rejected with its position, the good lines are committed")
    func mixedNDJSON() async throws {
        try await withWebhookServer { client, sink in
            let body = [trackJSON("n-1"), #"{"event": "Broken", "userId": "#, "", #"{"userId": "u-1"}"#, trackJSON("n-2")]
                .joined(separator: "\n")
            let response = try await client.post("/v1/events", body, contentType: "application/x-ndjson; charset=utf-8")
            #expect(response.status == .accepted)
            // Indexes count non-blank lines from 0; the JSON error names the body's own line (2).
            #expect(response.rejectedIndexes == [1, 2])
            let errors = response.rejectedErrors
            #expect(
                errors == [
                    ["invalid JSON: line 2, column 31: unexpected end of input, expected a value"],
                    [#"event: required for a track call (the event name, e.g. "Cart Abandoned")"#],
                ])
            #expect(await sink.committedIds == ["n-1", "n-2"])
            // The engine keeps the unreadable line's text for inspection.
            #expect(await sink.unreadable.map(\.value) == [#"{"event": "Broken", "userId": "#])
        }
    }

    @Test("a body of only duplicates is 202 with the duplicates counted")
    func onlyDuplicates() async throws {
        try await withWebhookServer { client, sink in
            _ = try await client.post("/v1/events", trackJSON("d-1"))
            let again = try await client.post("/v1/events", "[\(trackJSON("d-1")), \(trackJSON("d-1"))]")
            #expect(again.status == .accepted)
            #expect(again.text == #"{"accepted":0,"duplicates":2,"rejected":[]}"#)
            let segment = try await client.post("/v1/track", trackJSON("d-1"))
            #expect(segment.status == .ok)
            #expect(segment.text == #"{"accepted":0,"duplicates":1,"rejected":[],"success":true}"#)
            #expect(await sink.committedIds == ["d-1"])
        }
    }

    @Test("a request without Content-Type is read as JSON")
    func missingContentType() async throws {
        try await withWebhookServer { client, sink in
            let response = try await client.post("/v1/events", trackJSON("c-1"), contentType: nil)
            #expect(response.status == .accepted)
            #expect(response.text == #"{"accepted":1,"duplicates":0,"rejected":[]}"#)
            #expect(await sink.committedIds == ["c-1"])
        }
    }

    @Test("application/json with charset=utf-8 and +json types are JSON too")
    func jsonVariants() async throws {
        try await withWebhookServer { client, _ in
            for type in ["application/json; charset=utf-8", "application/JSON;charset=\"UTF-8\"", "application/vnd.segment+json"] {
                let response = try await client.post("/v1/events", trackJSON(), contentType: type)
                #expect(response.status == .accepted, "\(type)")
            }
        }
    }

    @Test("503 with Retry-After when the engine cannot take events; nothing is acknowledged")
    func sinkUnavailable() async throws {
        let sink = RecordingSink(unavailable: SinkUnavailable(reason: "store is closing", retryAfterSeconds: 7))
        try await withWebhookServer(sink: sink) { client, sink in
            let response = try await client.post("/v1/events", trackJSON("u-1"))
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] == "7")
            #expect(response.text == #"{"error":"Flint cannot take events now (store is closing); nothing was stored: retry after 7 s"}"#)
            let segment = try await client.post("/v1/track", trackJSON("u-1"))
            #expect(segment.status == .serviceUnavailable)
            #expect(await sink.committed.isEmpty)
            await sink.setUnavailable(nil)
            try await client.expectStillServes()
        }
    }
}
