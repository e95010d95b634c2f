import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

/// Small builders for events, runs and outbox rows. Instants are whole (or half) seconds, which
/// survive the REAL column exactly, so records compare equal across the twins.
enum Fixture {
    static let t0 = Date(timeIntervalSince1970: 1_780_000_000)

    static func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    static func event(
        _ id: String, user: String = "u-1", name: String = "Cart Abandoned", at time: Date = t0, properties: JSONValue = [:]
    ) -> Event {
        Event(
            type: .track, name: name, messageId: id, userId: user, anonymousId: nil, timestamp: time,
            raw: [
                "type": "track", "event": .string(name), "messageId": .string(id), "userId": .string(user),
                "timestamp": .string(Timestamp.formatUTC(time)), "properties": properties,
            ])
    }

    static func run(
        seq: Int64, event: String, rule: String = "cart", version: String = "v1", user: String = "u-1",
        status: RunStatus = .pending, createdAt: Date = t0, consumedAt: Date? = nil, sendAt: Date? = nil, held: HeldBy? = nil,
        outboxKey: String? = nil
    ) -> NewRun {
        NewRun(
            eventSeq: seq, eventId: event, ruleId: rule, ruleVersion: version, user: user, status: status,
            reason: "\(status.rawValue) by \(rule)", action: "braze", sendAt: sendAt, outboxKey: outboxKey, held: held,
            consumedAt: consumedAt, createdAt: createdAt)
    }

    static func outbox(run: Int64, key: String, createdAt: Date = t0) -> NewOutboxItem {
        NewOutboxItem(
            runId: run, key: key, action: "braze", body: ["campaign_id": "c-1", "recipients": [["external_user_id": "u-1"]]],
            sendAt: createdAt.addingTimeInterval(3600), createdAt: createdAt)
    }

    /// A trace using every field, including a failure whose `seen` is an explicit null.
    static let fullTrace = RunTrace(
        gates: [
            Gate(name: "trigger", passed: true, detail: "event Cart Abandoned"),
            Gate(name: "conditions", passed: false, detail: "properties.cart_value gte 20: saw null"),
        ],
        steps: [
            PlanStep(kind: .delay, message: "after 2h", instant: at(7200)),
            PlanStep(kind: .quietHours, message: "quiet hours 21:00-08:00 in Europe/Paris: moved to 08:00", instant: at(40_000.5)),
            PlanStep(kind: .optimalNotice, message: "Braze may miss users"),
        ],
        zone: "Europe/Paris", oncePerKey: "u-1",
        failedCondition: ComparisonFailure(
            path: "properties.cart_value", op: "gte", expected: 20, seen: .null, explanation: "properties.cart_value gte 20: saw null",
            location: SourceLocation(file: "rules/cart.yaml", line: 7, column: 9)))
}

extension StateTransaction {
    /// Inserts an event and one run of it; returns (seq, run id).
    @discardableResult
    mutating func eventWithRun(
        _ event: Event, receivedAt: Date, rule: String = "cart", status: RunStatus = .pending, createdAt: Date? = nil,
        consumedAt: Date? = nil
    ) throws -> (seq: Int64, run: Int64) {
        guard let seq = try insertEvent(event, source: "test", receivedAt: receivedAt) else {
            throw FixtureError.duplicate(event.messageId)
        }
        let run = try insertRun(
            Fixture.run(
                seq: seq, event: event.messageId, rule: rule, user: event.userKey, status: status, createdAt: createdAt ?? receivedAt,
                consumedAt: consumedAt))
        return (seq, run)
    }
}

enum FixtureError: Error {
    case duplicate(String)
    case deliberate
}
