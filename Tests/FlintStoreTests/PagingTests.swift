import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import Foundation
import GRDB
import Testing

/// `--before ID` / `--after ID` on the listings: keyset pages over (time, id), newest first.
@Suite("Paging the ledger listings")
struct PagingTests {
    /// 40 events, three runs each, whose times repeat (five share each instant) and run backwards
    /// for a stretch, so the id alone is not the listing order: paging must order by (time, id).
    static func populate(_ store: any StateStore) async throws {
        try await store.write { tx in
            for i in 0..<40 {
                let minute = i < 20 ? i / 5 : 10 - (i - 20) / 5
                let at = Fixture.at(Double(minute * 60))
                guard let seq = try tx.insertEvent(Fixture.event("m-\(i)", user: "u-\(i % 2)", at: at), source: "test", receivedAt: at) else {
                    throw FixtureError.duplicate("m-\(i)")
                }
                for (r, rule) in ["cart", "welcome", "winback"].enumerated() {
                    let status: RunStatus = (i + r).isMultiple(of: 3) ? .failed : .pending
                    let run = try tx.insertRun(
                        Fixture.run(seq: seq, event: "m-\(i)", rule: rule, user: "u-\(i % 2)", status: status, createdAt: at))
                    if status == .pending { _ = try tx.insertOutbox(Fixture.outbox(run: run, key: "\(rule)/m-\(i)", createdAt: at)) }
                }
            }
        }
    }

    static let runFilters: [RunQuery] = [RunQuery(), RunQuery(rule: "cart"), RunQuery(status: .failed), RunQuery(user: "u-1", since: Fixture.at(120))]

    /// Walks every page older and older from the top, then newer and newer from the bottom.
    static func walk<Row>(
        pageSize: Int, id: (Row) -> Int64, fetch: (_ limit: Int, _ before: Int64?, _ after: Int64?) async throws -> [Row]
    ) async throws -> (down: [Int64], up: [Int64]) {
        var down: [Int64] = []
        var page = try await fetch(pageSize, nil, nil)
        while let last = page.last {
            #expect(page.count <= pageSize)
            down += page.map(id)
            page = try await fetch(pageSize, id(last), nil)
        }
        // Upwards from the oldest row: each page is still newest first; pages come in reverse.
        var pages: [[Int64]] = []
        guard let oldest = down.last else { return (down, []) }
        pages.append([oldest])
        page = try await fetch(pageSize, nil, oldest)
        while let first = page.first {
            #expect(page.count <= pageSize)
            pages.append(page.map(id))
            page = try await fetch(pageSize, nil, id(first))
        }
        return (down, pages.reversed().flatMap { $0 })
    }

    @Test("paging the runs shows every row exactly once, in the listing's order, in both directions", arguments: StoreKind.allCases)
    func runsRoundTrip(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)
        try await Self.populate(store)
        for filter in Self.runFilters {
            var all = filter
            all.limit = 1000
            let expected = try await store.runs(all).map(\.id)
            #expect(Set(expected).count == expected.count)
            for size in [1, 4, 7, 200] {
                let (down, up) = try await Self.walk(pageSize: size, id: \RunRecord.id) { limit, before, after in
                    var q = filter
                    (q.limit, q.before, q.after) = (limit, before, after)
                    return try await store.runs(q)
                }
                #expect(down == expected, "\(filter) by \(size), down")
                #expect(up == expected, "\(filter) by \(size), up")
            }
        }
    }

    @Test("paging the events and the outbox shows every row exactly once, in both directions", arguments: StoreKind.allCases)
    func eventsAndOutboxRoundTrip(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)
        try await Self.populate(store)
        for filter in [EventQuery(), EventQuery(user: "u-0"), EventQuery(name: "Cart Abandoned", since: Fixture.at(180))] {
            var all = filter
            all.limit = 1000
            let expected = try await store.events(all).map(\.seq)
            for size in [1, 3, 50] {
                let (down, up) = try await Self.walk(pageSize: size, id: \EventRecord.seq) { limit, before, after in
                    var q = filter
                    (q.limit, q.before, q.after) = (limit, before, after)
                    return try await store.events(q)
                }
                #expect(down == expected, "\(filter) by \(size), down")
                #expect(up == expected, "\(filter) by \(size), up")
            }
        }
        let expected = try await store.write { t in try t.outbox(states: [.pending], limit: 1000) }.map(\.id)
        #expect(expected.count == 80)
        for size in [1, 6, 100] {
            let (down, up) = try await Self.walk(pageSize: size, id: \OutboxItem.id) { limit, before, after in
                try await store.write { t in try t.outbox(states: [.pending], limit: limit, before: before, after: after) }
            }
            #expect(down == expected)
            #expect(up == expected)
        }
    }

    @Test("the SQLite store pages exactly as the in-memory twin, a pruned cursor included")
    func twinsAgree() async throws {
        let folder = try TemporaryFolder()
        let sqlite = try SQLiteStateStore(path: folder.path())
        let memory = MemoryStateStore()
        try await Self.populate(sqlite)
        try await Self.populate(memory)
        for filter in Self.runFilters {
            for cursor: Int64 in [1, 17, 60, 61, 119, 120, 500] {
                var q = filter
                q.limit = 5
                q.before = cursor
                #expect(try await sqlite.runs(q) == memory.runs(q), "\(q)")
                (q.before, q.after) = (nil, cursor)
                #expect(try await sqlite.runs(q) == memory.runs(q), "\(q)")
            }
        }
    }

    @Test("a page walks an index: no table scan, no sort, with every filter and in both directions")
    func queryPlans() throws {
        let folder = try TemporaryFolder()
        let path = folder.path()
        _ = try SQLiteStateStore(path: path)
        let older = "created_at <= 5 AND (created_at < 5 OR id < 9)"
        let newer = "created_at >= 5 AND (created_at > 5 OR id > 9)"
        let queries = [
            "SELECT * FROM runs WHERE \(older) ORDER BY created_at DESC, id DESC LIMIT 51",
            "SELECT * FROM runs WHERE \(newer) ORDER BY created_at ASC, id ASC LIMIT 51",
            "SELECT * FROM runs WHERE rule_id = 'r' AND \(older) ORDER BY created_at DESC, id DESC LIMIT 51",
            "SELECT * FROM runs WHERE status = 'failed' AND \(newer) ORDER BY created_at ASC, id ASC LIMIT 51",
            "SELECT * FROM runs WHERE user_key = 'u' AND created_at >= 1 AND \(older) ORDER BY created_at DESC, id DESC LIMIT 51",
            "SELECT * FROM events WHERE received_at <= 5 AND (received_at < 5 OR seq < 9) ORDER BY received_at DESC, seq DESC LIMIT 51",
            "SELECT * FROM events WHERE name = 'n' AND received_at >= 5 AND (received_at > 5 OR seq > 9) ORDER BY received_at ASC, seq ASC LIMIT 51",
            "SELECT * FROM events WHERE user_key = 'u' AND received_at <= 5 AND (received_at < 5 OR seq < 9) ORDER BY received_at DESC, seq DESC LIMIT 51",
            "SELECT * FROM outbox o JOIN runs r ON r.id = o.run_id WHERE o.id < 9 ORDER BY o.id DESC LIMIT 51",
            "SELECT * FROM outbox o JOIN runs r ON r.id = o.run_id WHERE o.id > 9 ORDER BY o.id ASC LIMIT 51",
        ]
        for query in queries {
            let plan = try inspect(path) { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + query).map { $0["detail"] as String }
            }
            #expect(!plan.contains { $0.hasPrefix("SCAN") && !$0.contains("INDEX") }, "\(query): \(plan)")
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(query): \(plan)")
        }
    }
}
