import FlintPluginAPI
import Foundation
import Testing

@Suite("Events")
struct EventTests {
    let received = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("a Segment track call is read with its fields and defaults")
    func track() throws {
        let value: JSONValue = [
            "event": "Cart Abandoned", "messageId": "m-1", "userId": "u-42", "timestamp": "2026-11-29T18:05:00.250-08:00",
            "properties": ["cart_value": 59.5], "context": ["timezone": "America/Los_Angeles"],
        ]
        let event = try Event.decode(value, receivedAt: received, fallbackMessageId: "x").get()
        #expect(event.type == .track)
        #expect(event.name == "Cart Abandoned")
        #expect(event.messageId == "m-1")
        #expect(event.userKey == "u-42")
        #expect(event.contextTimeZone == "America/Los_Angeles")
        #expect(Timestamp.formatUTCMillis(event.timestamp) == "2026-11-30T02:05:00.250Z")
        #expect(event.raw["type"] == "track")
    }

    @Test(
        "an event name of spaces, tabs or no-break spaces alone is refused as empty; one with text is kept as sent",
        arguments: [("", false), ("   ", false), ("\t \t", false), ("\u{00A0}\u{2003}", false), (" Signed Up ", true), ("\n", true), ("é", true)])
    func blankNames(name: String, kept: Bool) {
        let result = Event.decode(["event": .string(name), "userId": "u-1"], receivedAt: received, fallbackMessageId: "x")
        switch result {
        case .success(let event):
            #expect(kept)
            #expect(event.name == name)
        case .failure(let rejection):
            #expect(!kept)
            #expect(rejection.errors == ["event: must not be empty"])
        }
    }

    @Test("without messageId and timestamp, the fallback id and the receive time apply")
    func defaults() throws {
        let event = try Event.decode(["event": "E", "anonymousId": "a-1"], receivedAt: received, fallbackMessageId: "file:abc:3").get()
        #expect(event.messageId == "file:abc:3")
        #expect(event.timestamp == received)
        #expect(event.userKey == "a-1")
    }

    @Test("identify calls need no event name")
    func identify() throws {
        let event = try Event.decode(
            ["type": "identify", "userId": "u-1", "traits": ["plan": "pro"]], receivedAt: received, fallbackMessageId: "x"
        ).get()
        #expect(event.type == .identify)
        #expect(event.traits["plan"] == "pro")
    }

    @Test("every problem of a bad event is named with its field")
    func rejection() {
        let value: JSONValue = ["type": "page", "timestamp": "yesterday", "properties": [1, 2], "messageId": 5]
        guard case .failure(let rejection) = Event.decode(value, receivedAt: received, fallbackMessageId: "x") else {
            Issue.record("a bad event was accepted")
            return
        }
        #expect(rejection.errors == [
            "type: \"page\" is not supported; use \"track\" or \"identify\"",
            "userId: one of userId or anonymousId is required",
            "messageId: expected a string, got number",
            "timestamp: \"yesterday\" is not an ISO 8601 time with an offset (e.g. 2026-11-29T18:05:00Z)",
            "properties: expected an object, got array",
        ])
    }

    @Test("a track call without an event name is rejected")
    func missingEvent() {
        guard case .failure(let rejection) = Event.decode(["userId": "u"], receivedAt: received, fallbackMessageId: "x") else {
            Issue.record("accepted")
            return
        }
        #expect(rejection.errors.first?.hasPrefix("event: required") == true)
    }

    @Test("numeric user ids become strings, as Braze's external_user_id is one")
    func numericUserId() throws {
        let event = try Event.decode(["event": "E", "userId": 42], receivedAt: received, fallbackMessageId: "x").get()
        #expect(event.userId == "42")
        #expect(event.raw["userId"] == "42")
    }

    @Test("timestamps", arguments: [
        ("2026-11-29T18:05:00Z", "2026-11-29T18:05:00.000Z"),
        ("2026-11-29T18:05:00.123456Z", "2026-11-29T18:05:00.123Z"),
        ("2026-11-29T18:05:00+05:30", "2026-11-29T12:35:00.000Z"),
        ("2026-11-29T18:05:00-0800", "2026-11-30T02:05:00.000Z"),
        ("2026-11-29 18:05Z", "2026-11-29T18:05:00.000Z"),
        ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00.000Z"),
        ("1969-12-31T23:59:59Z", "1969-12-31T23:59:59.000Z"),
    ])
    func timestamps(input: String, utc: String) throws {
        let date = try #require(Timestamp.parse(input))
        #expect(Timestamp.formatUTCMillis(date) == utc)
    }

    @Test("malformed timestamps are refused", arguments: [
        "2026-11-29", "2026-11-29T18:05:00", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-29T24:00:00Z",
        "2026-11-29T18:05:00ZZ", "2026-11-29T18:05:00.Z", "20261129T180500Z", "",
    ])
    func badTimestamps(input: String) {
        #expect(Timestamp.parse(input) == nil)
    }
}
