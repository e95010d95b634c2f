import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import Foundation
import GRDB
import Testing

@Suite("Rule versions, limits, the outbox and cancellation")
struct RuleStateTests {
    static func version(_ v: String, definition: JSONValue, at: Date = Fixture.t0) -> RuleVersionRecord {
        RuleVersionRecord(ruleId: "cart", version: v, file: "rules/cart.yaml", definition: definition, firstSeen: at)
    }

    @Test("a rule version is recorded once; a new version adds a row", arguments: StoreKind.allCases)
    func ruleVersions(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)
        let v1: JSONValue = ["id": "cart", "send": ["campaign_id": "c-1"], "schedule": ["after": "2h"]]

        try await store.write { tx in try tx.recordRuleVersion(Self.version("v1", definition: v1)) }
        try await store.write { tx in try tx.recordRuleVersion(Self.version("v1", definition: ["changed": true], at: Fixture.at(60))) }
        #expect(try await store.status().ruleVersions == 1)

        try await store.write { tx in try tx.recordRuleVersion(Self.version("v2", definition: ["id": "cart"], at: Fixture.at(120))) }
        #expect(try await store.status().ruleVersions == 2)

        // The first recording of a version is the one kept
        #expect(try await store.ruleVersion(rule: "cart", version: "v1") == Self.version("v1", definition: v1))
        #expect(try await store.ruleVersion(rule: "cart", version: "v2")?.firstSeen == Fixture.at(120))
        #expect(try await store.ruleVersion(rule: "cart", version: "v3") == nil)
        #expect(try await store.ruleVersion(rule: "other", version: "v1") == nil)
    }

    @Test("once_per keeps the event time of the last consuming send per (rule, key)", arguments: StoreKind.allCases)
    func oncePer(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)

        let (none, first) = try await store.write { tx in
            let none = try tx.oncePerLast(rule: "cart", key: "u-1")
            try tx.setOncePer(rule: "cart", key: "u-1", eventTime: Fixture.at(100), runId: 1)
            return (none, try tx.oncePerLast(rule: "cart", key: "u-1"))
        }
        try await store.write { tx in try tx.setOncePer(rule: "cart", key: "u-1", eventTime: Fixture.at(50), runId: 2) }
        let (replaced, otherKey, otherRule) = try await store.write { tx in
            (
                try tx.oncePerLast(rule: "cart", key: "u-1"), try tx.oncePerLast(rule: "cart", key: "u-2"),
                try tx.oncePerLast(rule: "welcome", key: "u-1")
            )
        }

        #expect(none == nil)
        #expect(first == Fixture.at(100))
        #expect(replaced == Fixture.at(50))  // the last write wins, even an earlier event time
        #expect(otherKey == nil && otherRule == nil)
    }

    @Test("consumedCount counts a rule's runs consumed at or after `since`, cancelled ones included", arguments: StoreKind.allCases)
    func consumedCount(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)

        // Given runs of `cart` consumed at t0, t0+10, t0+20 (then cancelled), one never consumed, and one of another rule
        try await store.write { tx in
            try tx.eventWithRun(Fixture.event("m-1"), receivedAt: Fixture.t0, consumedAt: Fixture.t0)
            try tx.eventWithRun(Fixture.event("m-2"), receivedAt: Fixture.at(10), consumedAt: Fixture.at(10))
            let (_, third) = try tx.eventWithRun(Fixture.event("m-3"), receivedAt: Fixture.at(20), consumedAt: Fixture.at(20))
            try tx.eventWithRun(Fixture.event("m-4"), receivedAt: Fixture.at(30), status: .skipped)
            try tx.eventWithRun(Fixture.event("m-5"), receivedAt: Fixture.at(30), rule: "welcome", consumedAt: Fixture.at(30))
            try tx.cancelRun(id: third, byEvent: "m-9", reason: "cancelled by Order Completed", at: Fixture.at(40))
        }

        let counts = try await store.write { tx in
            [
                try tx.consumedCount(rule: "cart", since: .distantPast), try tx.consumedCount(rule: "cart", since: Fixture.at(10)),
                try tx.consumedCount(rule: "cart", since: Fixture.at(10.5)), try tx.consumedCount(rule: "cart", since: Fixture.at(21)),
                try tx.consumedCount(rule: "welcome", since: Fixture.t0), try tx.consumedCount(rule: "nothing", since: .distantPast),
            ]
        }
        #expect(counts == [3, 2, 1, 0, 1, 0])
    }

    @Test("an outbox key is written once: the same key again is refused and writes nothing", arguments: StoreKind.allCases)
    func outboxKey(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)

        let results = try await store.write { tx in
            let (_, a) = try tx.eventWithRun(Fixture.event("m-1"), receivedAt: Fixture.t0)
            let (_, b) = try tx.eventWithRun(Fixture.event("m-2"), receivedAt: Fixture.t0)
            return [
                try tx.insertOutbox(Fixture.outbox(run: a, key: "cart/v1/m-1/u-1")),
                try tx.insertOutbox(Fixture.outbox(run: b, key: "cart/v1/m-1/u-1")),
            ]
        }
        let later = try await store.write { tx in
            let (_, c) = try tx.eventWithRun(Fixture.event("m-3"), receivedAt: Fixture.t0)
            return try tx.insertOutbox(Fixture.outbox(run: c, key: "cart/v1/m-1/u-1"))
        }

        #expect(results == [true, false])
        #expect(later == false)
        #expect(try await store.status().outboxPending == 1)
        if kind == .sqlite {
            #expect(try inspect(folder.path()) { try Int64.fetchAll($0, sql: "SELECT run_id FROM outbox") } == [1])
        }
    }

    @Test("openRuns lists a user's pending and scheduled runs of a rule; cancelRun withdraws the pending send", arguments: StoreKind.allCases)
    func cancel(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)

        // Given u-1 has a pending run (with its outbox row), a skipped run and a second pending run of `cart`,
        // plus a pending run of another rule, and u-2 a pending run of `cart`
        let ids = try await store.write { tx in
            let (_, pending) = try tx.eventWithRun(Fixture.event("m-1"), receivedAt: Fixture.t0)
            _ = try tx.insertOutbox(Fixture.outbox(run: pending, key: "k-1"))
            try tx.eventWithRun(Fixture.event("m-2"), receivedAt: Fixture.at(1), status: .skipped)
            let (_, second) = try tx.eventWithRun(Fixture.event("m-3"), receivedAt: Fixture.at(2))
            try tx.eventWithRun(Fixture.event("m-4"), receivedAt: Fixture.at(3), rule: "welcome")
            try tx.eventWithRun(Fixture.event("m-5", user: "u-2"), receivedAt: Fixture.at(4))
            return (pending, second)
        }

        let open = try await store.write { tx in try tx.openRuns(rule: "cart", user: "u-1") }
        #expect(open == [OpenRun(id: ids.0, status: .pending, eventSeq: 1, scheduleId: nil), OpenRun(id: ids.1, status: .pending, eventSeq: 3, scheduleId: nil)])

        // When a later event cancels the first
        let remaining = try await store.write { tx in
            try tx.cancelRun(id: ids.0, byEvent: "m-6", reason: "cancelled by Order Completed", at: Fixture.at(60))
            return try tx.openRuns(rule: "cart", user: "u-1")
        }

        // Then it is cancelled, by that event, and its send is no longer waiting
        #expect(remaining.map(\.id) == [ids.1])
        let run = try #require(try await store.run(id: ids.0))
        #expect(run.status == .cancelled && run.cancelledBy == "m-6" && run.reason == "cancelled by Order Completed")
        #expect(run.updatedAt == Fixture.at(60) && run.createdAt == Fixture.t0)
        #expect(try await store.status().outboxPending == 0)
        if kind == .sqlite {
            #expect(try inspect(folder.path()) { try String.fetchAll($0, sql: "SELECT state FROM outbox") } == ["cancelled"])
        }
    }
}
