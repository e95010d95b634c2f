import FlintCore
import FlintPluginAPI
import FlintRules
@testable import FlintStore
import Foundation
import Testing

@Suite("Ledger queries")
struct LedgerQueryTests {
    /// 60 events of 3 users and 2 names, each with runs of up to 3 rules in every status, created in
    /// commit order; some sends waiting, one cancelled, a few rejects.
    static func populate(_ store: any StateStore) async throws {
        let statuses = RunStatus.allCases
        try await store.write { tx in
            for i in 0..<60 {
                let user = "u-\(i % 3)"
                let name = i.isMultiple(of: 4) ? "Order Completed" : "Cart Abandoned"
                let at = Fixture.at(Double(i * 60))
                guard let seq = try tx.insertEvent(Fixture.event("m-\(i)", user: user, name: name, at: at, properties: ["i": .number(Double(i))]), source: "test", receivedAt: at) else {
                    throw FixtureError.duplicate("m-\(i)")
                }
                for (r, rule) in ["cart", "welcome", "winback"].enumerated() where (i + r) % 3 != 2 {
                    let status = statuses[(i + r) % statuses.count]
                    let run = try tx.insertRun(
                        Fixture.run(
                            seq: seq, event: "m-\(i)", rule: rule, version: "v\(r + 1)", user: user, status: status, createdAt: at,
                            consumedAt: status == .pending ? at : nil, sendAt: status == .pending ? at.addingTimeInterval(3600) : nil,
                            held: status == .skipped && i.isMultiple(of: 2) ? HeldBy(gate: "max_sends", detail: "max_sends: \(i)") : nil,
                            outboxKey: status == .pending ? "\(rule)/m-\(i)" : nil))
                    if status == .pending { _ = try tx.insertOutbox(Fixture.outbox(run: run, key: "\(rule)/m-\(i)", createdAt: at)) }
                }
            }
            try tx.insertRejected(source: "webhook", index: 0, errors: ["missing event"], body: "{}", receivedAt: Fixture.at(30))
            try tx.insertRejected(source: "inbox", index: 7, errors: ["bad timestamp", "no user"], body: "not json", receivedAt: Fixture.at(90))
        }
        try await store.write { tx in
            let open = try tx.openRuns(rule: "cart", user: "u-0")
            if let first = open.first { try tx.cancelRun(id: first.id, byEvent: "m-59", reason: "cancelled by Order Completed", at: Fixture.at(4000)) }
            try tx.recordRuleVersion(RuleVersionRecord(ruleId: "cart", version: "v1", file: "rules/cart.yaml", definition: ["id": "cart"], firstSeen: Fixture.t0))
        }
    }

    static let runQueries: [RunQuery] = [
        RunQuery(), RunQuery(limit: 3), RunQuery(limit: 0), RunQuery(rule: "cart"), RunQuery(status: .pending), RunQuery(status: .failed),
        RunQuery(user: "u-1"), RunQuery(event: "m-7"), RunQuery(event: "nothing"), RunQuery(since: Fixture.at(1800)),
        RunQuery(rule: "welcome", status: .skipped, user: "u-2"), RunQuery(rule: "cart", user: "u-0", since: Fixture.at(600), limit: 4),
        RunQuery(rule: "winback", event: "m-10"), RunQuery(status: .cancelled, limit: 200),
    ]

    static let eventQueries: [EventQuery] = [
        EventQuery(), EventQuery(limit: 2), EventQuery(name: "Order Completed"), EventQuery(user: "u-2"),
        EventQuery(since: Fixture.at(3000)), EventQuery(name: "Cart Abandoned", user: "u-1", since: Fixture.at(600), limit: 5),
        EventQuery(name: "Nothing"),
    ]

    @Test("the SQLite store answers every query exactly as the in-memory twin")
    func twinsAgree() async throws {
        let folder = try TemporaryFolder()
        let sqlite = try SQLiteStateStore(path: folder.path())
        let memory = MemoryStateStore()
        try await Self.populate(sqlite)
        try await Self.populate(memory)

        for query in Self.runQueries {
            let expected = try await memory.runs(query)
            #expect(try await sqlite.runs(query) == expected, "\(query)")
        }
        for query in Self.eventQueries {
            let expected = try await memory.events(query)
            #expect(try await sqlite.events(query) == expected, "\(query)")
            let rejected = try await memory.rejected(query)
            #expect(try await sqlite.rejected(query) == rejected, "\(query)")
        }
        for id in ["m-0", "m-42", "17", "0", "nothing"] {
            let expected = try await memory.event(id: id)
            #expect(try await sqlite.event(id: id) == expected, "\(id)")
        }
        let bySeq = try await memory.events(seqs: [1, 5, 17, 5, 999])
        #expect(bySeq.keys.sorted() == [1, 5, 17])
        #expect(try await sqlite.events(seqs: [1, 5, 17, 5, 999]) == bySeq)
        for id: Int64 in [1, 5, 77, 1000] {
            let expected = try await memory.run(id: id)
            #expect(try await sqlite.run(id: id) == expected, "\(id)")
        }
        let expectedStatus = try await memory.status()
        #expect(try await sqlite.status() == expectedStatus)
        let expectedPrune = try await memory.prune(RetentionPolicy(events: 1800, runs: 1200, notMatched: 600, rejected: 60), now: Fixture.at(3600))
        #expect(try await sqlite.prune(RetentionPolicy(events: 1800, runs: 1200, notMatched: 600, rejected: 60), now: Fixture.at(3600)) == expectedPrune)
        let afterPrune = try await memory.runs(RunQuery(limit: 500))
        #expect(try await sqlite.runs(RunQuery(limit: 500)) == afterPrune)
    }

    @Test("a compact run reads back exactly as written: outcome, held limit, outbox key, instants", arguments: StoreKind.allCases)
    func runRoundTrip(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)
        let held = HeldBy(gate: "once_per", detail: "once_per: key 'u-1' already sent \"quoted\" 🧦")

        let (id, other) = try await store.write { tx in
            let seq = try #require(try tx.insertEvent(Fixture.event("m-1"), source: "test", receivedAt: Fixture.t0))
            let id = try tx.insertRun(Fixture.run(seq: seq, event: "m-1", status: .skipped, sendAt: Fixture.at(7200.5), held: held))
            let seq2 = try #require(try tx.insertEvent(Fixture.event("m-2"), source: "test", receivedAt: Fixture.t0))
            let other = try tx.insertRun(
                Fixture.run(seq: seq2, event: "m-2", rule: "cart", consumedAt: Fixture.t0, sendAt: Fixture.at(60), outboxKey: "cart|v1|m-2|x"))
            return (id, other)
        }

        let run = try #require(try await store.run(id: id))
        #expect(run.held == held && run.status == .skipped && run.sendAt == Fixture.at(7200.5))
        #expect(run.eventSeq == 1 && run.eventId == "m-1" && run.user == "u-1" && run.outboxKey == nil && run.consumedAt == nil)
        // No rule version and no settings recorded: the trace says it cannot be rebuilt instead of inventing one.
        #expect(run.traced && run.trace.gates.isEmpty && run.trace.note?.contains("cannot be rebuilt") == true)
        let pending = try #require(try await store.run(id: other))
        #expect(pending.outboxKey == "cart|v1|m-2|x" && pending.consumedAt == Fixture.t0 && pending.held == nil)
        let listed = try await store.runs(RunQuery(traces: false))
        #expect(listed.map(\.id) == [other, id] && listed.allSatisfy { !$0.traced && $0.trace == RunTrace() })
    }

    @Test("a legacy trace's failed condition on a missing value reads back with `seen` absent, not null")
    func missingSeen() throws {
        var trace = Fixture.fullTrace
        #expect(RunTrace(stored: trace.storedJSON) == trace)
        trace.failedCondition?.seen = nil
        trace.failedCondition?.location = nil
        #expect(RunTrace(stored: trace.storedJSON) == trace)
    }

    @Test("an event reads back with its body, by messageId or by sequence number", arguments: StoreKind.allCases)
    func eventRoundTrip(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)
        let event = Fixture.event("m-1", properties: ["cart_value": 59.5, "items": [["sku": "A1", "name": "Socks"]], "big": 1e21, "neg": -0.001])

        try await store.write { tx in _ = try tx.insertEvent(event, source: "webhook", receivedAt: Fixture.at(0.5)) }

        let stored = try #require(try await store.event(id: "m-1"))
        #expect(stored.body == event.raw)
        #expect(stored.timestamp == event.timestamp && stored.receivedAt == Fixture.at(0.5))
        #expect(stored.source == "webhook" && stored.type == .track && stored.userId == "u-1" && stored.anonymousId == nil)
        #expect(try await store.event(id: "1") == stored)
        #expect(try await store.event(id: "2") == nil)
    }

    @Test("empty strings read back as empty strings, not as missing values", arguments: StoreKind.allCases)
    func emptyStrings(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)
        let event = Event(type: .track, name: "", messageId: "m-1", userId: nil, anonymousId: "", timestamp: Fixture.t0, raw: ["event": ""])

        let id = try await store.write { tx in
            let seq = try #require(try tx.insertEvent(event, source: "", receivedAt: Fixture.t0))
            try tx.saveProfile(UserProfile(traits: [:], timeZone: ""), for: "", at: Fixture.t0)
            return try tx.insertRun(
                NewRun(
                    eventSeq: seq, eventId: "m-1", ruleId: "r", ruleVersion: "", user: "", status: .skipped, reason: "", action: "",
                    sendAt: nil, outboxKey: "", held: HeldBy(gate: "", detail: ""), consumedAt: nil, createdAt: Fixture.t0))
        }

        let stored = try #require(try await store.event(id: "m-1"))
        #expect(stored.name == "" && stored.anonymousId == "" && stored.userId == nil && stored.source == "" && stored.userKey == "")
        let run = try #require(try await store.run(id: id))
        #expect(run.ruleVersion == "" && run.reason == "" && run.outboxKey == "" && run.held == HeldBy(gate: "", detail: ""))
        #expect(try await store.write { tx in try tx.profile(for: "") }?.timeZone == "")
    }

    @Test("instants keep their milliseconds")
    func milliseconds() async throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteStateStore(path: folder.path())
        let received = Date(timeIntervalSince1970: 1_780_000_000.123)

        try await store.write { tx in _ = try tx.insertEvent(Fixture.event("m-1"), source: "test", receivedAt: received) }

        let stored = try #require(try await store.event(id: "m-1"))
        #expect(abs(stored.receivedAt.timeIntervalSince(received)) < 0.0005)
    }
}
