import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation
import GRDB

/// The engine's writes and reads inside one GRDB write transaction.
///
/// Hot path (the engine commits ~1000 events per transaction): every statement is a cached prepared
/// statement, the per-event ones bound through `HotStatement`; JSON is written with the plugin API's
/// compact writer, never `JSONEncoder`.
struct SQLiteTransaction: StateTransaction {
    let db: Database
    /// The last request recorded as sent, with its `sent_requests` row: a coalesced request is
    /// recorded for each of its (up to 50) runs, and writing it once per request instead of once per
    /// run keeps the single writer free.
    var lastRequest: (value: JSONValue, id: Int64)?

    init(db: Database) {
        self.db = db
    }

    mutating func insertEvent(_ event: Event, source: String, receivedAt: Date) throws -> Int64? {
        try insertEvent(event, body: event.raw.compactUTF8, source: source, receivedAt: receivedAt)
    }

    mutating func insertEvent(_ event: Event, body: [UInt8], source: String, receivedAt: Date) throws -> Int64? {
        // Looked up first rather than `ON CONFLICT DO NOTHING`: with AUTOINCREMENT a refused insert
        // would still use up a seq number, and duplicates would leave gaps in the commit order.
        let existing = try HotStatement(db, "SELECT 1 FROM events WHERE message_id = ?")
        existing.bind(1, event.messageId)
        if try existing.exists() { return nil }
        let insert = try HotStatement(
            db,
            """
            INSERT INTO events (message_id, type, name, user_key, user_id, anonymous_id, timestamp, received_at, source, body)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        insert.bind(1, event.messageId)
        insert.bind(2, event.type.rawValue)
        insert.bind(3, event.name)
        insert.bind(4, event.userKey)
        insert.bind(5, event.userId)
        insert.bind(6, event.anonymousId)
        insert.bind(7, event.timestamp.timeIntervalSince1970)
        insert.bind(8, receivedAt.timeIntervalSince1970)
        insert.bind(9, source)
        insert.bind(10, text: body)
        try insert.execute()
        return db.lastInsertedRowID
    }

    mutating func insertRejected(source: String, index: Int, origin: EventOrigin?, errors: [String], body: String, receivedAt: Date) throws {
        let statement = try db.cachedStatement(
            sql: "INSERT INTO rejected_events (received_at, source, batch_index, errors, body, origin) VALUES (?, ?, ?, ?, ?, ?)")
        try statement.execute(arguments: [
            receivedAt.timeIntervalSince1970, source, index, JSONValue.array(errors.map(JSONValue.string)).compactJSON, body,
            origin?.json.compactJSON,
        ])
    }

    func profile(for userKey: String) throws -> UserProfile? {
        let select = try HotStatement(db, "SELECT traits, time_zone FROM profiles WHERE user_key = ?")
        select.bind(1, userKey)
        return try select.first { row in
            UserProfile(traits: try row.json(0) ?? .object([:]), timeZone: row.text(1))
        }
    }

    mutating func saveProfile(_ profile: UserProfile, for userKey: String, at: Date) throws {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO profiles (user_key, traits, time_zone, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (user_key) DO UPDATE SET traits = excluded.traits, time_zone = excluded.time_zone, updated_at = excluded.updated_at
                """)
        try statement.execute(arguments: [userKey, profile.traits.compactJSON, profile.timeZone, at.timeIntervalSince1970])
    }

    func decidedThrough() throws -> Int64 {
        let select = try HotStatement(db, "SELECT decided_through FROM decide_position WHERE id = 1")
        return try select.first { row in row.int64(0) } ?? 0
    }

    mutating func setDecidedThrough(_ seq: Int64, at: Date) throws {
        let update = try db.cachedStatement(
            sql: "UPDATE decide_position SET decided_through = max(decided_through, ?), updated_at = ? WHERE id = 1")
        try update.execute(arguments: [seq, at.timeIntervalSince1970])
    }

    mutating func replacePluginStatuses(_ statuses: [PluginStatus]) throws {
        try db.execute(sql: "DELETE FROM plugin_status")
        for (position, p) in statuses.enumerated() {
            try db.execute(
                sql: """
                    INSERT INTO plugin_status (position, name, kind, origin, command, state, pid, restarts, garbage_lines, handled, failures,
                        last_error, last_error_at, started_at, next_start_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    position, p.name, p.kind.rawValue, p.origin.rawValue, p.command, p.state.rawValue, p.pid, p.restarts, p.garbageLines,
                    p.handled, p.failures, p.lastError, p.lastErrorAt?.timeIntervalSince1970, p.startedAt?.timeIntervalSince1970,
                    p.nextStartAt?.timeIntervalSince1970, p.updatedAt.timeIntervalSince1970,
                ])
        }
    }

    mutating func recordRuleVersion(_ version: RuleVersionRecord) throws {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO rule_versions (rule_id, version, file, definition, first_seen, text) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (rule_id, version) DO UPDATE SET text = excluded.text WHERE rule_versions.text IS NULL
                """)
        try statement.execute(arguments: [
            version.ruleId, version.version, version.file, version.definition.compactJSON, version.firstSeen.timeIntervalSince1970,
            version.text,
        ])
    }

    func oncePerLast(rule: String, key: String) throws -> Date? {
        let select = try HotStatement(db, "SELECT event_time FROM once_per WHERE rule_id = ? AND key = ?")
        select.bind(1, rule)
        select.bind(2, key)
        return try select.double().map { Date(timeIntervalSince1970: $0) }
    }

    mutating func setOncePer(rule: String, key: String, eventTime: Date, runId: Int64) throws {
        let upsert = try HotStatement(
            db,
            """
            INSERT INTO once_per (rule_id, key, event_time, run_id) VALUES (?, ?, ?, ?)
            ON CONFLICT (rule_id, key) DO UPDATE SET event_time = excluded.event_time, run_id = excluded.run_id
            """)
        upsert.bind(1, rule)
        upsert.bind(2, key)
        upsert.bind(3, eventTime.timeIntervalSince1970)
        upsert.bind(4, runId)
        try upsert.execute()
    }

    func consumedCount(rule: String, since: Date) throws -> Int {
        let count = try HotStatement(db, "SELECT count(*) FROM runs WHERE rule_id = ? AND consumed_at >= ?")
        count.bind(1, rule)
        count.bind(2, since.timeIntervalSince1970)
        return try count.int()
    }

    mutating func decideContextId(_ context: DecideContext) throws -> Int64 {
        let select = try HotStatement(
            db, "SELECT id FROM decide_contexts WHERE default_zone = ? AND company_zone IS ? AND lead = ? ORDER BY id LIMIT 1")
        select.bind(1, context.defaultZone)
        select.bind(2, context.companyZone)
        select.bind(3, Int64(context.lead))
        if let id = try select.first({ row in row.int64(0) }) { return id }
        try db.cachedStatement(sql: "INSERT INTO decide_contexts (default_zone, company_zone, lead) VALUES (?, ?, ?)")
            .execute(arguments: [context.defaultZone, context.companyZone, context.lead])
        return db.lastInsertedRowID
    }

    mutating func insertRun(_ run: NewRun) throws -> Int64 {
        let insert = try HotStatement(
            db,
            """
            INSERT INTO runs (event_seq, rule_id, rule_version, user_key, status, reason, action, send_at, outbox_key, held,
                              context_id, consumed_at, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let createdAt = run.createdAt.timeIntervalSince1970
        insert.bind(1, run.eventSeq)
        insert.bind(2, run.ruleId)
        insert.bind(3, run.ruleVersion)
        insert.bind(4, run.user)
        insert.bind(5, run.status.rawValue)
        insert.bind(6, run.reason)
        insert.bind(7, run.action)
        insert.bind(8, run.sendAt?.timeIntervalSince1970)
        insert.bind(9, run.outboxKey)
        insert.bind(10, json: run.held?.json)
        insert.bind(11, run.contextId)
        insert.bind(12, run.consumedAt?.timeIntervalSince1970)
        insert.bind(13, createdAt)
        insert.bind(14, createdAt)
        try insert.execute()
        return db.lastInsertedRowID
    }

    mutating func insertOutbox(_ item: NewOutboxItem) throws -> Bool {
        let insert = try HotStatement(
            db,
            """
            INSERT INTO outbox (run_id, key, action, body, send_at, created_at, updated_at, schedule, zone) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (key) DO NOTHING
            """)
        let createdAt = item.createdAt.timeIntervalSince1970
        insert.bind(1, item.runId)
        insert.bind(2, item.key)
        insert.bind(3, item.action)
        if let bytes = item.encodedBody { insert.bind(4, text: bytes) } else { insert.bind(4, json: item.body) }
        insert.bind(5, item.sendAt?.timeIntervalSince1970)
        insert.bind(6, createdAt)
        insert.bind(7, createdAt)
        if let bytes = item.encodedSchedule { insert.bind(8, text: bytes) } else { insert.bind(8, json: item.schedule) }
        insert.bind(9, item.zone)
        try insert.execute()
        return db.changesCount == 1
    }

    func openRuns(rule: String, user: String) throws -> [OpenRun] {
        // The condition repeats `runs_open`'s WHERE word for word, so SQLite uses that partial index.
        let statement = try db.cachedStatement(
            sql: """
                SELECT id, status, event_seq, schedule_id FROM runs
                WHERE rule_id = ? AND user_key = ? AND status IN ('pending', 'scheduled') ORDER BY id
                """)
        return try Row.fetchAll(statement, arguments: [rule, user]).map { row in
            let status: String = row[1]
            return OpenRun(id: row[0], status: RunStatus(rawValue: status) ?? .pending, eventSeq: row[2], scheduleId: row[3])
        }
    }

    mutating func cancelRun(id: Int64, byEvent messageId: String, reason: String, at: Date) throws {
        let run = try db.cachedStatement(
            sql: "UPDATE runs SET status = 'cancelled', cancelled_by = ?, reason = ?, updated_at = ? WHERE id = ?")
        try run.execute(arguments: [messageId, reason, at.timeIntervalSince1970, id])
        let outbox = try db.cachedStatement(
            sql: "UPDATE outbox SET state = 'cancelled', updated_at = ? WHERE run_id = ? AND state = 'pending'")
        try outbox.execute(arguments: [at.timeIntervalSince1970, id])
    }
}
