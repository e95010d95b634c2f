import FlintCore
import FlintPluginAPI
@testable import FlintStore
import Foundation
import GRDB
import Testing

@Suite("Migrations")
struct MigrationTests {
    static let tables: Set = ["events", "rejected_events", "profiles", "rule_versions", "runs", "outbox", "once_per", "cancellations"]

    func schema(_ path: String) throws -> [String] {
        try inspect(path) { db in
            try String.fetchAll(db, sql: "SELECT type || ' ' || name || ': ' || ifnull(sql, '') FROM sqlite_master ORDER BY name")
        }
    }

    @Test("opening a new file creates every table and records the migration by name")
    func fromEmpty() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("state/nested/flint.db")

        _ = try SQLiteStateStore(path: path)

        #expect(FileManager.default.fileExists(atPath: path))
        let (tables, migrations, journal) = try inspect(path) { db in
            (
                Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")),
                try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"),
                try String.fetchOne(db, sql: "PRAGMA journal_mode")
            )
        }
        #expect(tables.isSuperset(of: Self.tables))
        #expect(migrations == ["v1-ledger", "v2-dispatch", "v3-plugins", "v4-zones", "v5-health", "v6-rejected-origin", "v7-decide", "v8-compact-runs", "v9-console"])
        #expect(journal == "wal")
    }

    @Test("reopening a migrated file changes neither the schema nor the data")
    func reopen() async throws {
        let folder = try TemporaryFolder()
        let path = folder.path()
        let first = try SQLiteStateStore(path: path)
        _ = try await first.write { tx in try tx.insertEvent(Fixture.event("m-1"), source: "test", receivedAt: Fixture.t0) }
        try first.close()
        let before = try schema(path)

        let second = try SQLiteStateStore(path: path)

        #expect(try schema(path) == before)
        #expect(try inspect(path) { try Int.fetchOne($0, sql: "SELECT count(*) FROM grdb_migrations") } == 9)
        #expect(try await second.event(id: "m-1")?.seq == 1)
    }

    @Test("every listing query walks an index rather than scanning its table")
    func queriesUseIndexes() throws {
        let folder = try TemporaryFolder()
        let path = folder.path()
        _ = try SQLiteStateStore(path: path)
        let runs = "SELECT \(SQLiteStateStore.runColumns) \(SQLiteStateStore.runsFrom)"
        let queries = [
            "\(runs) WHERE r.rule_id = 'r' ORDER BY r.created_at DESC, r.id DESC LIMIT 50",
            "\(runs) WHERE r.status = 'failed' ORDER BY r.created_at DESC, r.id DESC LIMIT 5",
            "\(runs) WHERE r.created_at >= 1 ORDER BY r.created_at DESC, r.id DESC LIMIT 50",
            "\(runs) ORDER BY r.created_at DESC, r.id DESC LIMIT 50",
            "SELECT count(*) FROM runs WHERE rule_id = 'r' AND consumed_at >= 1",
            "SELECT id FROM runs WHERE rule_id = 'r' AND user_key = 'u' AND status IN ('pending', 'scheduled') ORDER BY id",
            "SELECT * FROM events WHERE name = 'n' ORDER BY received_at DESC, seq DESC LIMIT 50",
            "SELECT * FROM events WHERE user_key = 'u' ORDER BY received_at DESC, seq DESC LIMIT 50",
            "SELECT * FROM events ORDER BY received_at DESC, seq DESC LIMIT 50",
            "SELECT * FROM outbox WHERE state = 'pending' ORDER BY send_at LIMIT 50",
        ]
        for query in queries {
            let plan = try inspect(path) { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + query).map { $0["detail"] as String }
            }
            #expect(!plan.contains { $0.hasPrefix("SCAN") && !$0.contains("INDEX") }, "\(query): \(plan)")
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(query): \(plan)")
        }
        // An event (a user) has a handful of runs (hundreds): sorting them is fine, finding them must
        // not scan, and a user's runs are reached through their events (events_by_user).
        for query in [
            "\(runs) WHERE r.event_seq = (SELECT seq FROM events WHERE message_id = 'm') ORDER BY r.created_at DESC, r.id DESC LIMIT 50",
            "SELECT \(SQLiteStateStore.runColumns) \(SQLiteStateStore.userRunsFrom) WHERE e.user_key = 'u' AND r.created_at >= 1 "
                + "ORDER BY r.created_at DESC, r.id DESC LIMIT 50",
        ] {
            let plan = try inspect(path) { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + query).map { $0["detail"] as String }
            }
            #expect(!plan.contains { $0.hasPrefix("SCAN") && !$0.contains("INDEX") }, "\(query): \(plan)")
            if query.contains("e.user_key = ") { #expect(plan.contains { $0.contains("events_by_user") }, "\(plan)") }
        }
    }

    @Test("a file from before compact runs migrates: old runs keep their trace, request and schedule; outbox rows and deletes keep their runs")
    func compactRuns() async throws {
        let folder = try TemporaryFolder()
        let path = folder.path()
        let trace = #"{"gates":[{"name":"trigger","passed":true,"detail":"the event's name is in when.event"}],"zone":"Asia/Tokyo"}"#
        let request = #"{"campaign_id":"c-1","recipients":[{"external_user_id":"u-1"}]}"#
        let schedule = #"{"time":"2026-11-30T01:00:00Z","in_local_time":false,"at_optimal_time":false}"#
        // Given a v7 file with three runs: one pending with its outbox row, one scheduled with a
        // Braze delete pending, and the newest one removed (its id must not be used again).
        do {
            let queue = try DatabaseQueue(path: path)
            try Migrations.migrator.migrate(queue, upTo: "v7-decide")
            try await queue.write { db in
                for i in 1...3 {
                    try db.execute(
                        sql: """
                            INSERT INTO events (message_id, type, name, user_key, user_id, timestamp, received_at, source, body)
                            VALUES (?, 'track', 'E', 'u-1', 'u-1', 0, 0, 'test', '{}')
                            """, arguments: ["m-\(i)"])
                    try db.execute(
                        sql: """
                            INSERT INTO runs (event_seq, event_id, rule_id, rule_version, user_key, status, reason, action, send_at, schedule,
                                              request, trace, schedule_id, consumed_at, created_at, updated_at)
                            VALUES (?, ?, 'cart', 'v1', 'u-1', ?, 'planned', 'braze', 100, ?, ?, ?, ?, 1, 1, 2)
                            """, arguments: [i, "m-\(i)", i == 2 ? "scheduled" : "pending", schedule, request, trace, i == 2 ? "s-2" : nil])
                }
                try db.execute(
                    sql: "INSERT INTO outbox (run_id, key, action, body, send_at, created_at, updated_at) VALUES (1, 'k-1', 'braze', ?, 100, 1, 1)",
                    arguments: [request])
                try db.execute(
                    sql: """
                        INSERT INTO cancellations (run_id, campaign_id, schedule_id, reason, created_at, updated_at)
                        VALUES (2, 'c-1', 's-2', 'cancelled by Done', 1, 1)
                        """)
                try db.execute(sql: "DELETE FROM runs WHERE id = 3")
            }
            try queue.close()
        }

        // When Flint opens it
        let store = try SQLiteStateStore(path: path)

        // Then the old runs read back as they were, the dispatcher still finds what it needs
        let old = try #require(try await store.run(id: 1))
        #expect(old.legacy && old.trace.zone == "Asia/Tokyo" && old.trace.gates.map(\.name) == ["trigger"])
        let requestJSON = try JSONParser.parse(request), scheduleJSON = try JSONParser.parse(schedule)
        #expect(old.request == requestJSON && old.schedule == scheduleJSON && old.eventId == "m-1")
        #expect(old.outboxKey == "k-1")
        let item = try #require(try await store.write { tx in try tx.outbox(id: 1) })
        #expect(item.zone == "Asia/Tokyo" && item.schedule == scheduleJSON && item.runId == 1)
        #expect(try await store.write { tx in try tx.dueCancellations(now: Fixture.at(0), limit: 10).map(\.runId) } == [2])
        // the foreign keys hold, and still cascade to the rebuilt table; a new run takes a new id
        #expect(try inspect(path) { try Row.fetchAll($0, sql: "PRAGMA foreign_key_check") }.isEmpty)
        let newId = try await store.write { tx in
            let seq = try #require(try tx.insertEvent(Fixture.event("m-4"), source: "test", receivedAt: Fixture.t0))
            return try tx.insertRun(Fixture.run(seq: seq, event: "m-4"))
        }
        #expect(newId == 4)
        // an old pending run sent since shows the request sent
        let sent: JSONValue = ["campaign_id": "c-1", "recipients": [["external_user_id": "u-1"], ["external_user_id": "u-9"]]]
        try await store.write { tx in
            try tx.updateRun(id: 1, RunUpdate(status: .scheduled, reason: "scheduled: schedule_id s-1", scheduleId: "s-1", request: sent), at: Fixture.t0)
        }
        #expect(try await store.run(id: 1)?.request == sent)
        _ = try await store.prune(RetentionPolicy(events: 0, runs: 0, notMatched: 0, rejected: 0), now: Fixture.at(1_000_000))
        try await store.write { tx in try tx.updateRun(id: 1, RunUpdate(status: .failed, reason: "gone"), at: Fixture.t0) }
        _ = try await store.prune(RetentionPolicy(events: 0, runs: 0, notMatched: 0, rejected: 0), now: Fixture.at(1_000_000))
        #expect(try inspect(path) { try Int.fetchOne($0, sql: "SELECT count(*) FROM outbox") } == 0, "the outbox row went with its run")
        #expect(try inspect(path) { try Row.fetchAll($0, sql: "PRAGMA foreign_key_check") }.isEmpty)
    }
}
