import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import Foundation
import Testing

@Suite("One write, one transaction")
struct GroupCommitTests {
    @Test("one write commits 1000 events and their runs together", arguments: StoreKind.allCases)
    func thousandInOneWrite(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)

        // When one write inserts 1000 events, each with a run and every other one an outbox row
        let seqs = try await store.write { tx in
            var seqs: [Int64] = []
            for i in 0..<1000 {
                let (seq, run) = try tx.eventWithRun(Fixture.event("m-\(i)", user: "u-\(i % 10)"), receivedAt: Fixture.at(Double(i)))
                if i.isMultiple(of: 2) { _ = try tx.insertOutbox(Fixture.outbox(run: run, key: "k-\(i)")) }
                seqs.append(seq)
            }
            return seqs
        }

        // Then all are there, in commit order
        #expect(seqs == Array(1...1000))
        let status = try await store.status()
        #expect(status.events == 1000)
        #expect(status.runsByStatus == [.pending: 1000])
        #expect(status.outboxPending == 500)
        #expect(try await store.events(EventQuery(limit: 1)).first?.messageId == "m-999")
        if kind == .sqlite {
            let counts = try tableCounts(folder.path())
            #expect(counts["events"] == 1000 && counts["runs"] == 1000 && counts["outbox"] == 500)
        }
    }

    @Test("a write whose body throws midway leaves nothing behind", arguments: StoreKind.allCases)
    func rollback(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)

        // When a write inserts an event, its run, an outbox row and rule state, then throws
        await #expect(throws: FixtureError.self) {
            try await store.write { tx -> Void in
                let (_, run) = try tx.eventWithRun(Fixture.event("m-1"), receivedAt: Fixture.t0, consumedAt: Fixture.t0)
                _ = try tx.insertOutbox(Fixture.outbox(run: run, key: "k-1"))
                try tx.setOncePer(rule: "cart", key: "u-1", eventTime: Fixture.t0, runId: run)
                try tx.saveProfile(UserProfile(traits: ["plan": "pro"], timeZone: "Europe/Paris"), for: "u-1", at: Fixture.t0)
                try tx.recordRuleVersion(RuleVersionRecord(ruleId: "cart", version: "v1", file: "rules/cart.yaml", definition: [:], firstSeen: Fixture.t0))
                try tx.insertRejected(source: "test", index: 0, errors: ["bad"], body: "{}", receivedAt: Fixture.t0)
                throw FixtureError.deliberate
            }
        }

        // Then none of it is visible, and the same event is accepted again as the first one
        let status = try await store.status()
        #expect(status.events == 0 && status.rejected == 0 && status.runsByStatus.isEmpty && status.outboxPending == 0)
        #expect(status.ruleVersions == 0)
        let (oncePer, consumed, profile, seq) = try await store.write { tx in
            (
                try tx.oncePerLast(rule: "cart", key: "u-1"), try tx.consumedCount(rule: "cart", since: .distantPast),
                try tx.profile(for: "u-1"), try tx.insertEvent(Fixture.event("m-1"), source: "test", receivedAt: Fixture.t0)
            )
        }
        #expect(oncePer == nil && consumed == 0 && profile == nil)
        #expect(seq == 1)
        if kind == .sqlite {
            let counts = try tableCounts(folder.path())
            #expect(counts == ["events": 1, "rejected_events": 0, "profiles": 0, "rule_versions": 0, "runs": 0, "outbox": 0, "once_per": 0])
        }
    }

    @Test("profiles are saved, replaced and read back within and across writes", arguments: StoreKind.allCases)
    func profiles(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)
        let first = UserProfile(traits: ["plan": "free", "n": 1.5], timeZone: "America/Los_Angeles")
        let second = UserProfile(traits: ["plan": "pro"], timeZone: nil)

        let seenInside = try await store.write { tx in
            try tx.saveProfile(first, for: "u-1", at: Fixture.t0)
            return try tx.profile(for: "u-1")
        }
        try await store.write { tx in try tx.saveProfile(second, for: "u-1", at: Fixture.at(60)) }

        #expect(seenInside == first)
        #expect(try await store.write { tx in try tx.profile(for: "u-1") } == second)
        #expect(try await store.write { tx in try tx.profile(for: "u-2") } == nil)
    }
}

@Suite("Dedupe by messageId")
struct DedupeTests {
    @Test("the same messageId twice in one write: the second is refused and nothing of it is written", arguments: StoreKind.allCases)
    func sameWrite(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)

        let (first, second) = try await store.write { tx in
            (
                try tx.insertEvent(Fixture.event("m-1", user: "u-1"), source: "webhook", receivedAt: Fixture.t0),
                try tx.insertEvent(Fixture.event("m-1", user: "u-2", name: "Other"), source: "inbox", receivedAt: Fixture.at(1))
            )
        }

        #expect(first == 1)
        #expect(second == nil)
        let stored = try #require(try await store.event(id: "m-1"))
        #expect(stored.userKey == "u-1" && stored.source == "webhook" && stored.name == "Cart Abandoned")
        #expect(try await store.status().events == 1)
    }

    @Test("the same messageId in a later write is a duplicate", arguments: StoreKind.allCases)
    func laterWrite(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)

        let first = try await store.write { tx in try tx.insertEvent(Fixture.event("m-1"), source: "test", receivedAt: Fixture.t0) }
        let (again, next) = try await store.write { tx in
            (
                try tx.insertEvent(Fixture.event("m-1"), source: "test", receivedAt: Fixture.at(5)),
                try tx.insertEvent(Fixture.event("m-2"), source: "test", receivedAt: Fixture.at(5))
            )
        }

        #expect(first == 1 && again == nil && next == 2)
        #expect(try await store.event(id: "m-1")?.receivedAt == Fixture.t0)
    }

    @Test("a messageId accepted before a restart is still a duplicate after it")
    func acrossReopen() async throws {
        let folder = try TemporaryFolder()
        let path = folder.path()
        let before = try SQLiteStateStore(path: path)
        _ = try await before.write { tx in try tx.insertEvent(Fixture.event("m-1"), source: "test", receivedAt: Fixture.t0) }
        try before.close()

        let after = try SQLiteStateStore(path: path)
        let (again, next) = try await after.write { tx in
            (
                try tx.insertEvent(Fixture.event("m-1"), source: "test", receivedAt: Fixture.at(5)),
                try tx.insertEvent(Fixture.event("m-2"), source: "test", receivedAt: Fixture.at(5))
            )
        }

        #expect(again == nil)
        #expect(next == 2)
    }
}
