import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation
import GRDB

/// The CLI's and HTTP endpoints' reads. Each call is one read transaction on a reader connection:
/// a consistent snapshot that never waits for the writer.
///
/// Listings are newest first by time, then by id (`created_at` for runs, `received_at` for events),
/// so every filter, alone or with `since`, walks an index and stops at `limit`.
extension SQLiteStateStore {
    public func runs(_ query: RunQuery) async throws -> [RunRecord] {
        let path = self.path
        return try await read { db in
            var conditions: [String] = []
            var arguments = StatementArguments()
            var from = Self.runsFrom
            if let user = query.user {
                // The user's events (events_by_user), then their runs (UNIQUE (event_seq, rule_id)):
                // CROSS JOIN keeps SQLite from walking every run in time order looking for the user's.
                from = Self.userRunsFrom
                conditions.append("e.user_key = ?")
                arguments += [user]
            }
            if let rule = query.rule {
                conditions.append("r.rule_id = ?")
                arguments += [rule]
            }
            if let status = query.status {
                conditions.append("r.status = ?")
                arguments += [status.rawValue]
            }
            if let event = query.event {
                // Through the event's seq (runs' UNIQUE (event_seq, rule_id) index).
                conditions.append("r.event_seq = (SELECT seq FROM events WHERE message_id = ?)")
                arguments += [event]
            }
            if let since = query.since {
                conditions.append("r.created_at >= ?")
                arguments += [since.timeIntervalSince1970]
            }
            let order = try Self.page(
                db, table: "runs r", time: "r.created_at", id: "r.id", before: query.before, after: query.after, conditions: &conditions,
                arguments: &arguments)
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments += [max(0, query.limit)]
            let rows = try Row.fetchAll(
                db, sql: "SELECT \(Self.runColumns) \(from) \(whereClause) ORDER BY \(order) LIMIT ?",
                arguments: arguments)
            var runs = try rows.map { try Self.runRecord($0, path: path) }
            if order.hasSuffix("ASC") { runs.reverse() }
            if query.traces {
                var rebuilder = TraceRebuilder(archive: SQLiteArchive(db: db, path: path))
                runs = try rebuilder.fill(runs)
            }
            return runs
        }
    }

    /// Keyset paging over a listing sorted newest first by (time, id): adds the conditions for rows
    /// older than `before` and newer than `after` (each an id of the same table), and returns the
    /// ORDER BY clause: descending, or ascending (nearest the cursor first; the caller reverses) for
    /// `after` alone. The cursor's time is read first and bound as a constant, so the time index
    /// bounds the walk (`time <= t AND (time < t OR id < i)`). A cursor that is gone (pruned)
    /// compares by id alone.
    static func page(
        _ db: Database, table: String, time: String, id: String, before: Int64?, after: Int64?, conditions: inout [String],
        arguments: inout StatementArguments
    ) throws -> String {
        func cursorTime(_ value: Int64) throws -> Double? {
            try Double.fetchOne(db, sql: "SELECT \(time) FROM \(table) WHERE \(id) = ?", arguments: [value])
        }
        if let before {
            if let t = try cursorTime(before) {
                conditions.append("\(time) <= ? AND (\(time) < ? OR \(id) < ?)")
                arguments += [t, t, before]
            } else {
                conditions.append("\(id) < ?")
                arguments += [before]
            }
        }
        if let after {
            if let t = try cursorTime(after) {
                conditions.append("\(time) >= ? AND (\(time) > ? OR \(id) > ?)")
                arguments += [t, t, after]
            } else {
                conditions.append("\(id) > ?")
                arguments += [after]
            }
        }
        return before == nil && after != nil ? "\(time) ASC, \(id) ASC" : "\(time) DESC, \(id) DESC"
    }

    public func run(id: Int64) async throws -> RunRecord? {
        let path = self.path
        return try await read { db in
            guard var run = try Row.fetchOne(db, sql: "SELECT \(Self.runColumns) \(Self.runsFrom) WHERE r.id = ?", arguments: [id])
                .map({ try Self.runRecord($0, path: path) })
            else { return nil }
            var rebuilder = TraceRebuilder(archive: SQLiteArchive(db: db, path: path))
            try rebuilder.fill(&run)
            return run
        }
    }

    public func decision(ofRun id: Int64) async throws -> DecidedRun? {
        let path = self.path
        return try await read { db in
            guard let run = try Row.fetchOne(db, sql: "SELECT \(Self.runColumns) \(Self.runsFrom) WHERE r.id = ?", arguments: [id])
                .map({ try Self.runRecord($0, path: path) })
            else { return nil }
            var rebuilder = TraceRebuilder(archive: SQLiteArchive(db: db, path: path))
            return try rebuilder.decision(of: run)
        }
    }

    public func events(_ query: EventQuery) async throws -> [EventRecord] {
        let path = self.path
        return try await read { db in
            var conditions: [String] = []
            var arguments = StatementArguments()
            if let name = query.name {
                conditions.append("name = ?")
                arguments += [name]
            }
            if let user = query.user {
                conditions.append("user_key = ?")
                arguments += [user]
            }
            if let since = query.since {
                conditions.append("received_at >= ?")
                arguments += [since.timeIntervalSince1970]
            }
            let order = try Self.page(
                db, table: "events", time: "received_at", id: "seq", before: query.before, after: query.after, conditions: &conditions,
                arguments: &arguments)
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments += [max(0, query.limit)]
            let rows = try Row.fetchAll(
                db, sql: "SELECT \(Self.eventColumns) FROM events \(whereClause) ORDER BY \(order) LIMIT ?",
                arguments: arguments)
            let events = try rows.map { try Self.eventRecord($0, path: path) }
            return order.hasSuffix("ASC") ? events.reversed() : events
        }
    }

    public func events(seqs: [Int64]) async throws -> [Int64: EventRecord] {
        guard !seqs.isEmpty else { return [:] }
        let path = self.path
        return try await read { db in
            var found: [Int64: EventRecord] = [:]
            // By primary key, one lookup each, in one snapshot.
            let statement = try db.cachedStatement(sql: "SELECT \(Self.eventColumns) FROM events WHERE seq = ?")
            for seq in Set(seqs) {
                if let row = try Row.fetchOne(statement, arguments: [seq]) { found[seq] = try Self.eventRecord(row, path: path) }
            }
            return found
        }
    }

    public func event(id: String) async throws -> EventRecord? {
        let path = self.path
        return try await read { db in
            if let row = try Row.fetchOne(db, sql: "SELECT \(Self.eventColumns) FROM events WHERE message_id = ?", arguments: [id]) {
                return try Self.eventRecord(row, path: path)
            }
            guard let seq = Int64(id) else { return nil }
            return try Row.fetchOne(db, sql: "SELECT \(Self.eventColumns) FROM events WHERE seq = ?", arguments: [seq])
                .map { try Self.eventRecord($0, path: path) }
        }
    }

    /// Rejected events, newest first; of the query only `since` and `limit` apply.
    public func rejected(_ query: EventQuery) async throws -> [RejectedRecord] {
        let path = self.path
        return try await read { db in
            var sql = "SELECT id, received_at, source, batch_index, errors, body, origin FROM rejected_events"
            var arguments = StatementArguments()
            var conditions: [String] = []
            if let since = query.since {
                conditions.append("received_at >= ?")
                arguments += [since.timeIntervalSince1970]
            }
            let order = try Self.page(
                db, table: "rejected_events", time: "received_at", id: "id", before: query.before, after: query.after,
                conditions: &conditions, arguments: &arguments)
            if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
            sql += " ORDER BY \(order) LIMIT ?"
            arguments += [max(0, query.limit)]
            let rows = try Row.fetchAll(db, sql: sql, arguments: arguments)
            return try (order.hasSuffix("ASC") ? Array(rows.reversed()) : rows).map { row in
                let id: Int64 = row[0]
                let errorsText: String = row[4]
                guard let errors = try SQLiteStateStore.parseJSON(errorsText).arrayValue?.compactMap(\.stringValue) else {
                    throw SQLiteStoreError.corruptRow(path, table: "rejected_events", id: id, detail: "errors is not an array")
                }
                let originText: String? = row[6]
                return RejectedRecord(
                    id: id, receivedAt: Date(timeIntervalSince1970: row[1]), source: row[2], index: row[3], errors: errors, body: row[5],
                    origin: (originText.flatMap { try? SQLiteStateStore.parseJSON($0) }).flatMap(EventOrigin.init(json:)))
            }
        }
    }

    public func status() async throws -> StoreStatus {
        let path = self.path
        return try await read { db in
            var runsByStatus: [RunStatus: Int] = [:]
            // One count per status on runs_by_status: a third faster than GROUP BY over the index on
            // a million runs (no grouping per entry), which the console's overview pays on every load.
            let count = try db.cachedStatement(sql: "SELECT count(*) FROM runs WHERE status = ?")
            for status in RunStatus.allCases {
                let n = try Int.fetchOne(count, arguments: [status.rawValue]) ?? 0
                if n > 0 { runsByStatus[status] = n }
            }
            let events = try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0
            let rejected = try Int.fetchOne(db, sql: "SELECT count(*) FROM rejected_events") ?? 0
            // Waiting to be sent: a pending outbox row whose run is still pending.
            let outbox = try Row.fetchOne(
                db,
                sql: """
                    SELECT count(*), min(o.created_at) FROM outbox o JOIN runs r ON r.id = o.run_id
                    WHERE o.state IN ('pending', 'sending') AND r.status = 'pending'
                    """)
            // Given up on, and sent with no known outcome: both need a person (outbox_by_state).
            var stuck: [String: (count: Int, oldest: Double?)] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT state, count(*), min(created_at) FROM outbox WHERE state IN ('dead', 'unknown') GROUP BY state")
            {
                stuck[row[0]] = (row[1], row[2])
            }
            let ruleVersions = try Int.fetchOne(db, sql: "SELECT count(*) FROM rule_versions") ?? 0
            let lastFailures = try Row.fetchAll(
                db, sql: "SELECT \(Self.runColumns) \(Self.runsFrom) WHERE r.status = 'failed' ORDER BY r.created_at DESC, r.id DESC LIMIT 5"
            ).map { try Self.runRecord($0, path: path) }
            let lastEventAt = try Double.fetchOne(db, sql: "SELECT received_at FROM events ORDER BY seq DESC LIMIT 1")
            let oldest: Double? = outbox?[1]
            let backlog = try Self.decisionBacklog(db)
            return StoreStatus(
                runsByStatus: runsByStatus, events: events, rejected: rejected, outboxPending: outbox?[0] ?? 0,
                oldestPendingCreatedAt: oldest.map { Date(timeIntervalSince1970: $0) }, ruleVersions: ruleVersions,
                lastFailures: lastFailures, lastEventAt: lastEventAt.map { Date(timeIntervalSince1970: $0) },
                outboxDead: stuck["dead"]?.count ?? 0, oldestDeadCreatedAt: stuck["dead"]?.oldest.map { Date(timeIntervalSince1970: $0) },
                outboxUnknown: stuck["unknown"]?.count ?? 0,
                oldestUnknownCreatedAt: stuck["unknown"]?.oldest.map { Date(timeIntervalSince1970: $0) },
                decisionBacklog: backlog.count, oldestUndecidedAt: backlog.oldest)
        }
    }

    public func serveHeartbeat() async throws -> ServeHeartbeat? {
        let path = self.path
        return try await read { db in
            guard try db.tableExists("serve_health") else { return nil }
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT pid, host, listen, started_at, last_seen, stopped_at, paused_action, paused_reason, paused_since, next_probe_at,
                            rules_loaded, rule_errors, rule_errors_since FROM serve_health LIMIT 1
                        """)
            else { return nil }
            func date(_ i: Int) -> Date? { (row[i] as Double?).map { Date(timeIntervalSince1970: $0) } }
            var pause: DispatchPause?
            if let action: String = row[6], let reason: String = row[7], let since = date(8), let next = date(9) {
                pause = DispatchPause(action: action, reason: reason, since: since, nextProbe: next)
            }
            let errorsText: String = row[11]
            guard let errors = try SQLiteStateStore.parseJSON(errorsText).arrayValue?.compactMap(\.stringValue) else {
                throw SQLiteStoreError.corruptRow(path, table: "serve_health", id: 1, detail: "rule_errors is not an array")
            }
            return ServeHeartbeat(
                pid: row[0], host: row[1], listen: row[2], startedAt: date(3) ?? Date(timeIntervalSince1970: 0),
                lastSeen: date(4) ?? Date(timeIntervalSince1970: 0), stoppedAt: date(5), pause: pause, rulesLoaded: row[10],
                ruleErrors: errors, ruleErrorsSince: date(12))
        }
    }

    public func pluginStatuses() async throws -> [PluginStatus] {
        try await read { db in
            guard try db.tableExists("plugin_status") else { return [] }
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT name, kind, origin, command, state, pid, restarts, garbage_lines, handled, failures, last_error, last_error_at,
                        started_at, next_start_at, updated_at FROM plugin_status ORDER BY position
                    """
            ).map { row in
                func date(_ i: Int) -> Date? { (row[i] as Double?).map { Date(timeIntervalSince1970: $0) } }
                return PluginStatus(
                    name: row[0], kind: PluginStatus.Kind(rawValue: row[1]) ?? .source, origin: PluginStatus.Origin(rawValue: row[2]) ?? .exec,
                    command: row[3], state: PluginStatus.State(rawValue: row[4]) ?? .stopped, pid: row[5], restarts: row[6], garbageLines: row[7],
                    handled: row[8], failures: row[9], lastError: row[10], lastErrorAt: date(11), startedAt: date(12), nextStartAt: date(13),
                    updatedAt: date(14) ?? Date(timeIntervalSince1970: 0))
            }
        }
    }

    public func ruleVersion(rule: String, version: String) async throws -> RuleVersionRecord? {
        try await read { db in try Self.ruleVersion(db, rule: rule, version: version) }
    }

    static func ruleVersion(_ db: Database, rule: String, version: String) throws -> RuleVersionRecord? {
        guard
            let row = try Row.fetchOne(
                db, sql: "SELECT file, definition, first_seen, text FROM rule_versions WHERE rule_id = ? AND version = ?",
                arguments: [rule, version])
        else { return nil }
        let definition: String = row[1]
        return RuleVersionRecord(
            ruleId: rule, version: version, file: row[0], definition: try SQLiteStateStore.parseJSON(definition),
            firstSeen: Date(timeIntervalSince1970: row[2]), text: row[3])
    }

    public func outboxRows(runIds: [Int64]) async throws -> [Int64: OutboxRef] {
        guard !runIds.isEmpty else { return [:] }
        return try await read { db in
            var rows: [Int64: OutboxRef] = [:]
            // outbox.run_id is UNIQUE: one index lookup per run.
            for runId in runIds {
                guard let row = try Row.fetchOne(db, sql: "SELECT id, state FROM outbox WHERE run_id = ?", arguments: [runId]) else { continue }
                let state: String = row[1]
                rows[runId] = OutboxRef(id: row[0], runId: runId, state: OutboxState(rawValue: state) ?? .pending)
            }
            return rows
        }
    }

    public func knownRuleIds() async throws -> [String] {
        try await read { db in try String.fetchAll(db, sql: "SELECT DISTINCT rule_id FROM rule_versions ORDER BY rule_id") }
    }

    // MARK: Rows

    /// A run with what listings show beside it: its event's id, the outbox row's schedule and the
    /// request sent, the settings it was decided with, and the legacy trace of runs decided before
    /// compact runs. LEFT JOINs on keys: the runs' own index still drives the walk.
    static let runColumns = """
        r.id, r.event_seq, e.message_id, r.rule_id, r.rule_version, r.user_key, r.status, r.reason, r.action, r.send_at, o.schedule, \
        s.body, r.legacy, r.schedule_id, r.dispatch_id, r.cancelled_by, r.created_at, r.updated_at, r.outbox_key, r.held, \
        c.default_zone, c.company_zone, c.lead, r.consumed_at
        """

    static let runJoins = """
        LEFT JOIN outbox o ON o.run_id = r.id LEFT JOIN sent_requests s ON s.id = o.sent_id \
        LEFT JOIN decide_contexts c ON c.id = r.context_id
        """

    static let runsFrom = "FROM runs r LEFT JOIN events e ON e.seq = r.event_seq " + runJoins

    /// The runs of one user (`e.user_key = ?`): their events first.
    static let userRunsFrom = "FROM events e CROSS JOIN runs r ON r.event_seq = e.seq " + runJoins

    static let eventColumns = "seq, message_id, type, name, user_key, user_id, anonymous_id, timestamp, received_at, source, body"

    static func runRecord(_ row: Row, path: String) throws -> RunRecord {
        let id: Int64 = row[0]
        let statusText: String = row[6]
        guard let status = RunStatus(rawValue: statusText) else {
            throw SQLiteStoreError.corruptRow(path, table: "runs", id: id, detail: "unknown status '\(statusText)'")
        }
        let sendAt: Double? = row[9]
        let schedule: String? = row[10]
        let sent: String? = row[11]
        let legacyText: String? = row[12]
        let heldText: String? = row[19]
        var context: DecideContext?
        if let zone: String = row[20] { context = DecideContext(defaultZone: zone, companyZone: row[21], lead: row[22]) }
        let consumedAt: Double? = row[23]
        var run = RunRecord(
            id: id, eventSeq: row[1], eventId: row[2] ?? "", ruleId: row[3], ruleVersion: row[4], user: row[5], status: status,
            reason: row[7], action: row[8], sendAt: sendAt.map { Date(timeIntervalSince1970: $0) },
            schedule: try schedule.map(parseJSON), request: try sent.map(parseJSON), trace: RunTrace(),
            scheduleId: row[13], dispatchId: row[14], cancelledBy: row[15], createdAt: Date(timeIntervalSince1970: row[16]),
            updatedAt: Date(timeIntervalSince1970: row[17]), outboxKey: row[18], held: try heldText.map(parseJSON).flatMap(HeldBy.init(json:)),
            context: context, consumedAt: consumedAt.map { Date(timeIntervalSince1970: $0) })
        if let legacyText {
            // Decided before compact runs: the trace, request and schedule as they were stored.
            let legacy = try parseJSON(legacyText)
            run.trace = RunTrace(stored: legacy["trace"] ?? .null)
            // A request sent (or a schedule re-planned) since the migration is the newer record.
            if run.request == nil, let r = legacy["request"], !r.isNull { run.request = r }
            if run.schedule == nil, let s = legacy["schedule"], !s.isNull { run.schedule = s }
            run.legacy = true
            run.traced = true
        }
        return run
    }

    static func eventRecord(_ row: Row, path: String) throws -> EventRecord {
        let seq: Int64 = row[0]
        let typeText: String = row[2]
        guard let type = Event.Kind(rawValue: typeText) else {
            throw SQLiteStoreError.corruptRow(path, table: "events", id: seq, detail: "unknown type '\(typeText)'")
        }
        let body: String = row[10]
        return EventRecord(
            seq: seq, messageId: row[1], type: type, name: row[3], userKey: row[4], userId: row[5], anonymousId: row[6],
            timestamp: Date(timeIntervalSince1970: row[7]), receivedAt: Date(timeIntervalSince1970: row[8]), source: row[9],
            body: try parseJSON(body))
    }
}

/// The rebuilder's reads inside one read transaction.
struct SQLiteArchive: DecisionArchive {
    let db: Database
    let path: String

    func event(seq: Int64) throws -> EventRecord? {
        try Row.fetchOne(db, sql: "SELECT \(SQLiteStateStore.eventColumns) FROM events WHERE seq = ?", arguments: [seq])
            .map { try SQLiteStateStore.eventRecord($0, path: path) }
    }

    func ruleVersion(rule: String, version: String) throws -> RuleVersionRecord? {
        try SQLiteStateStore.ruleVersion(db, rule: rule, version: version)
    }

    func identifies(user: String, before seq: Int64) throws -> [EventRecord] {
        // events_by_user, then the user's identify calls in commit order.
        try Row.fetchAll(
            db, sql: "SELECT \(SQLiteStateStore.eventColumns) FROM events WHERE user_key = ? AND type = 'identify' AND seq < ? ORDER BY seq",
            arguments: [user, seq]
        ).map { try SQLiteStateStore.eventRecord($0, path: path) }
    }
}
