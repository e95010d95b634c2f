import FlintCore
import FlintStore
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
        #expect(migrations == ["v1-ledger", "v2-dispatch", "v3-plugins", "v4-zones", "v5-health", "v6-rejected-origin", "v7-decide"])
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
        #expect(try inspect(path) { try Int.fetchOne($0, sql: "SELECT count(*) FROM grdb_migrations") } == 7)
        #expect(try await second.event(id: "m-1")?.seq == 1)
    }

    @Test("every listing query walks an index rather than scanning its table")
    func queriesUseIndexes() throws {
        let folder = try TemporaryFolder()
        let path = folder.path()
        _ = try SQLiteStateStore(path: path)
        let queries = [
            "SELECT * FROM runs WHERE rule_id = 'r' ORDER BY created_at DESC, id DESC LIMIT 50",
            "SELECT * FROM runs WHERE user_key = 'u' AND created_at >= 1 ORDER BY created_at DESC, id DESC LIMIT 50",
            "SELECT * FROM runs WHERE status = 'failed' ORDER BY created_at DESC, id DESC LIMIT 5",
            "SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT 50",
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
        // An event has a handful of runs: sorting them is fine, finding them must not scan.
        let byEvent = try inspect(path) { db in
            try Row.fetchAll(
                db,
                sql: """
                    EXPLAIN QUERY PLAN SELECT * FROM runs WHERE event_seq = (SELECT seq FROM events WHERE message_id = 'm')
                    AND event_id = 'm' ORDER BY created_at DESC, id DESC LIMIT 50
                    """
            ).map { $0["detail"] as String }
        }
        #expect(!byEvent.contains { $0.hasPrefix("SCAN") && !$0.contains("INDEX") }, "\(byEvent)")
    }
}
