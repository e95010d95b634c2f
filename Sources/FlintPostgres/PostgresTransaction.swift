import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

/// The engine's writes and reads inside one PostgreSQL transaction, on the writer's thread. Every
/// method is one statement (one round trip), as the SQLite transaction's are; the SQL is the same
/// but for PostgreSQL's spelling (`RETURNING` for the new id, `= ANY(?)` for lists of ids,
/// `IS NOT DISTINCT FROM`, `greatest`).
struct PostgresTransaction: StateTransaction {
    let session: PGSession
    let url: PostgresURL
    /// Whether this transaction holds the event sequence's row lock (`insertEvent`).
    var holdsEventLock = false
    /// The last request recorded as sent, with its `sent_requests` row (one row per coalesced request).
    var lastRequest: (value: JSONValue, id: Int64)?

    init(session: PGSession, url: PostgresURL) {
        self.session = session
        self.url = url
    }

    @discardableResult
    private func query(_ sql: String, _ values: [PGValue] = []) throws -> PGResult {
        try session.query(sql, values)
    }

    mutating func insertEvent(_ event: Event, source: String, receivedAt: Date) throws -> Int64? {
        try insertEvent(event, body: event.raw.compactUTF8, source: source, receivedAt: receivedAt)
    }

    mutating func insertEvent(_ event: Event, body: [UInt8], source: String, receivedAt: Date) throws -> Int64? {
        // The sequence row, locked until this transaction ends, serializes the transactions that
        // accept events across processes, as SQLite's single writer does: a higher seq always
        // commits later (the decider reads `seq > decided_through`, and would skip an event whose
        // lower number committed after a higher one), and the duplicate check below cannot race.
        // Taken from the counter rather than an identity column, a number rolls back with its
        // transaction: no gaps, and never reused after a prune.
        if !holdsEventLock {
            try query("SELECT last FROM event_sequence WHERE id = 1 FOR UPDATE")
            holdsEventLock = true
        }
        let inserted = try query(
            """
            WITH next AS (
                UPDATE event_sequence SET last = last + 1 WHERE id = 1 AND NOT EXISTS (SELECT 1 FROM events WHERE message_id = ?)
                RETURNING last)
            INSERT INTO events (seq, message_id, type, name, user_key, user_id, anonymous_id, timestamp, received_at, source, body)
            SELECT next.last, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM next
            RETURNING seq
            """,
            binds(
                event.messageId, event.messageId, event.type.rawValue, event.name, event.userKey, event.userId, event.anonymousId,
                event.timestamp, receivedAt, source, String(decoding: body, as: UTF8.self)))
        return try inserted.rows.first?.int64(0)
    }

    mutating func insertRejected(source: String, index: Int, origin: EventOrigin?, errors: [String], body: String, receivedAt: Date) throws {
        try query(
            "INSERT INTO rejected_events (received_at, source, batch_index, errors, body, origin) VALUES (?, ?, ?, ?, ?, ?)",
            binds(receivedAt, source, index, JSONValue.array(errors.map(JSONValue.string)).compactJSON, body, origin?.json.compactJSON))
    }

    func profile(for userKey: String) throws -> UserProfile? {
        guard let row = try query("SELECT traits, time_zone FROM profiles WHERE user_key = ?", binds(userKey)).rows.first else { return nil }
        return UserProfile(traits: try PostgresStateStore.parseJSON(row.string(0)), timeZone: try row.stringOrNil(1))
    }

    mutating func saveProfile(_ profile: UserProfile, for userKey: String, at: Date) throws {
        try query(
            """
            INSERT INTO profiles (user_key, traits, time_zone, updated_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (user_key) DO UPDATE SET traits = excluded.traits, time_zone = excluded.time_zone, updated_at = excluded.updated_at
            """, binds(userKey, profile.traits.compactJSON, profile.timeZone, at))
    }

    mutating func noteUnknownZone(_ zone: String, user: String, at: Date) throws {
        try query(
            """
            INSERT INTO unknown_zones (zone, runs, last_seen, last_user) VALUES (?, 1, ?, ?)
            ON CONFLICT (zone) DO UPDATE SET runs = unknown_zones.runs + 1, last_seen = excluded.last_seen, last_user = excluded.last_user
            """, binds(zone, at, user))
    }

    /// Locks the position's row until this transaction ends: a decider in another process (`flint
    /// ingest` beside `flint serve`) reads it after this one committed, as SQLite's single writer
    /// orders them, instead of deciding the same events again.
    func decidedThrough() throws -> Int64 {
        try query("SELECT decided_through FROM decide_position WHERE id = 1 FOR UPDATE").rows.first?.int64(0) ?? 0
    }

    mutating func setDecidedThrough(_ seq: Int64, at: Date) throws {
        try query("UPDATE decide_position SET decided_through = greatest(decided_through, ?), updated_at = ? WHERE id = 1", binds(seq, at))
    }

    mutating func replacePluginStatuses(_ statuses: [PluginStatus]) throws {
        try query("DELETE FROM plugin_status")
        for (position, p) in statuses.enumerated() {
            try query(
                """
                INSERT INTO plugin_status (position, name, kind, origin, command, state, pid, restarts, garbage_lines, handled, failures,
                    last_error, last_error_at, started_at, next_start_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                binds(
                    position, p.name, p.kind.rawValue, p.origin.rawValue, p.command, p.state.rawValue, p.pid, p.restarts,
                    p.garbageLines, p.handled, p.failures, p.lastError, p.lastErrorAt, p.startedAt, p.nextStartAt, p.updatedAt))
        }
    }

    mutating func saveServeHeartbeat(_ h: ServeHeartbeat) throws {
        try query(
            """
            INSERT INTO serve_health (id, pid, host, listen, started_at, last_seen, stopped_at, paused_action, paused_reason,
                paused_since, next_probe_at, rules_loaded, rule_errors, rule_errors_since)
            VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, host = excluded.host, listen = excluded.listen,
                started_at = excluded.started_at, last_seen = excluded.last_seen, stopped_at = excluded.stopped_at,
                paused_action = excluded.paused_action, paused_reason = excluded.paused_reason, paused_since = excluded.paused_since,
                next_probe_at = excluded.next_probe_at, rules_loaded = excluded.rules_loaded, rule_errors = excluded.rule_errors,
                rule_errors_since = excluded.rule_errors_since
            """,
            binds(
                h.pid, h.host, h.listen, h.startedAt, h.lastSeen, h.stoppedAt, h.pause?.action, h.pause?.reason, h.pause?.since,
                h.pause?.nextProbe, h.rulesLoaded, JSONValue.array(h.ruleErrors.map(JSONValue.string)).compactJSON, h.ruleErrorsSince))
    }

    mutating func recordRuleVersion(_ version: RuleVersionRecord) throws {
        try query(
            """
            INSERT INTO rule_versions (rule_id, version, file, definition, first_seen, text) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (rule_id, version) DO UPDATE SET text = excluded.text WHERE rule_versions.text IS NULL
            """,
            binds(version.ruleId, version.version, version.file, version.definition.compactJSON, version.firstSeen, version.text))
    }

    func oncePerLast(rule: String, key: String) throws -> Date? {
        try query("SELECT event_time FROM once_per WHERE rule_id = ? AND key = ?", binds(rule, key)).rows.first?.date(0)
    }

    mutating func setOncePer(rule: String, key: String, eventTime: Date, runId: Int64) throws {
        try query(
            """
            INSERT INTO once_per (rule_id, key, event_time, run_id) VALUES (?, ?, ?, ?)
            ON CONFLICT (rule_id, key) DO UPDATE SET event_time = excluded.event_time, run_id = excluded.run_id
            """, binds(rule, key, eventTime, runId))
    }

    func consumedCount(rule: String, since: Date) throws -> Int {
        try query("SELECT count(*) FROM runs WHERE rule_id = ? AND consumed_at >= ?", binds(rule, since)).rows.first?.int(0) ?? 0
    }

    mutating func decideContextId(_ context: DecideContext) throws -> Int64 {
        if let row = try query(
            "SELECT id FROM decide_contexts WHERE default_zone = ? AND company_zone IS NOT DISTINCT FROM ? AND lead = ? ORDER BY id LIMIT 1",
            binds(context.defaultZone, context.companyZone, context.lead)
        ).rows.first {
            return try row.int64(0)
        }
        return try query(
            "INSERT INTO decide_contexts (default_zone, company_zone, lead) VALUES (?, ?, ?) RETURNING id",
            binds(context.defaultZone, context.companyZone, context.lead)
        ).rows[0].int64(0)
    }

    mutating func insertRun(_ run: NewRun) throws -> Int64 {
        try query(
            """
            INSERT INTO runs (event_seq, rule_id, rule_version, user_key, status, reason, action, send_at, outbox_key, held,
                              context_id, consumed_at, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
            """,
            binds(
                run.eventSeq, run.ruleId, run.ruleVersion, run.user, run.status.rawValue, run.reason, run.action, run.sendAt, run.outboxKey,
                run.held?.json.compactJSON, run.contextId, run.consumedAt, run.createdAt, run.createdAt)
        ).rows[0].int64(0)
    }

    mutating func insertOutbox(_ item: NewOutboxItem) throws -> Bool {
        let body = item.encodedBody.map { String(decoding: $0, as: UTF8.self) } ?? item.body.compactJSON
        let schedule = item.encodedSchedule.map { String(decoding: $0, as: UTF8.self) } ?? item.schedule?.compactJSON
        return try query(
            """
            INSERT INTO outbox (run_id, key, action, body, send_at, created_at, updated_at, schedule, zone) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (key) DO NOTHING
            """, binds(item.runId, item.key, item.action, body, item.sendAt, item.createdAt, item.createdAt, schedule, item.zone)
        ).changed == 1
    }

    func openRuns(rule: String, user: String) throws -> [OpenRun] {
        try query(
            """
            SELECT id, status, event_seq, schedule_id FROM runs
            WHERE rule_id = ? AND user_key = ? AND status IN ('pending', 'scheduled') ORDER BY id
            """, binds(rule, user)
        ).rows.map { row in
            OpenRun(
                id: try row.int64(0), status: RunStatus(rawValue: try row.string(1)) ?? .pending, eventSeq: try row.int64(2),
                scheduleId: try row.stringOrNil(3))
        }
    }

    mutating func cancelRun(id: Int64, byEvent messageId: String, reason: String, at: Date) throws {
        try query("UPDATE runs SET status = 'cancelled', cancelled_by = ?, reason = ?, updated_at = ? WHERE id = ?", binds(messageId, reason, at, id))
        try query("UPDATE outbox SET state = 'cancelled', updated_at = ? WHERE run_id = ? AND state = 'pending'", binds(at, id))
    }
}
