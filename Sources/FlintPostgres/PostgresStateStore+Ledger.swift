import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

/// The CLI's and HTTP endpoints' reads, the decider's, and the trace rebuilder's: the SQLite store's
/// queries (FlintStore's SQLiteStateStore+Ledger.swift), each read one snapshot on a reader connection.
extension PostgresStateStore {
    public func runs(_ query: RunQuery) async throws -> [RunRecord] {
        let url = self.url
        return try await read { db in
            var conditions: [String] = []
            var arguments: [PGValue] = []
            var from = Self.runsFrom
            if let user = query.user {
                // The user's events (events_by_user), then their runs (UNIQUE (event_seq, rule_id)).
                from = Self.userRunsFrom
                conditions.append("e.user_key = ?")
                arguments.append(.text(user))
            }
            if let rule = query.rule {
                conditions.append("r.rule_id = ?")
                arguments.append(.text(rule))
            }
            if let status = query.status {
                conditions.append("r.status = ?")
                arguments.append(.text(status.rawValue))
            }
            if let event = query.event {
                conditions.append("r.event_seq = (SELECT seq FROM events WHERE message_id = ?)")
                arguments.append(.text(event))
            }
            if let since = query.since {
                conditions.append("r.created_at >= ?")
                arguments.append(since.pgValue)
            }
            let order = try Self.page(
                db, table: "runs r", time: "r.created_at", id: "r.id", before: query.before, after: query.after, conditions: &conditions,
                arguments: &arguments)
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments.append(.int(Int64(max(0, query.limit))))
            var runs = try db.query("SELECT \(Self.runColumns) \(from) \(whereClause) ORDER BY \(order) LIMIT ?", arguments).rows.map {
                try Self.runRecord($0, url: url)
            }
            if order.hasSuffix("ASC") { runs.reverse() }
            if query.traces {
                var rebuilder = TraceRebuilder(archive: PostgresArchive(db: db, url: url))
                runs = try rebuilder.fill(runs)
            }
            return runs
        }
    }

    /// Keyset paging over a listing sorted newest first by (time, id), as the SQLite store pages:
    /// adds the conditions for rows older than `before` and newer than `after`, and returns the
    /// ORDER BY clause (ascending for `after` alone: the caller reverses).
    static func page(
        _ db: PGSession, table: String, time: String, id: String, before: Int64?, after: Int64?, conditions: inout [String],
        arguments: inout [PGValue]
    ) throws -> String {
        func cursorTime(_ value: Int64) throws -> Double? {
            try db.query("SELECT \(time) FROM \(table) WHERE \(id) = ?", binds(value)).rows.first?.double(0)
        }
        if let before {
            if let t = try cursorTime(before) {
                conditions.append("\(time) <= ? AND (\(time) < ? OR \(id) < ?)")
                arguments += binds(t, t, before)
            } else {
                conditions.append("\(id) < ?")
                arguments += binds(before)
            }
        }
        if let after {
            if let t = try cursorTime(after) {
                conditions.append("\(time) >= ? AND (\(time) > ? OR \(id) > ?)")
                arguments += binds(t, t, after)
            } else {
                conditions.append("\(id) > ?")
                arguments += binds(after)
            }
        }
        return before == nil && after != nil ? "\(time) ASC, \(id) ASC" : "\(time) DESC, \(id) DESC"
    }

    public func run(id: Int64) async throws -> RunRecord? {
        let url = self.url
        return try await read { db in
            guard var run = try db.query("SELECT \(Self.runColumns) \(Self.runsFrom) WHERE r.id = ?", binds(id)).rows.first
                .map({ try Self.runRecord($0, url: url) })
            else { return nil }
            var rebuilder = TraceRebuilder(archive: PostgresArchive(db: db, url: url))
            try rebuilder.fill(&run)
            return run
        }
    }

    public func decision(ofRun id: Int64) async throws -> DecidedRun? {
        let url = self.url
        return try await read { db in
            guard let run = try db.query("SELECT \(Self.runColumns) \(Self.runsFrom) WHERE r.id = ?", binds(id)).rows.first
                .map({ try Self.runRecord($0, url: url) })
            else { return nil }
            var rebuilder = TraceRebuilder(archive: PostgresArchive(db: db, url: url))
            return try rebuilder.decision(of: run)
        }
    }

    public func events(_ query: EventQuery) async throws -> [EventRecord] {
        let url = self.url
        return try await read { db in
            var conditions: [String] = []
            var arguments: [PGValue] = []
            if let name = query.name {
                conditions.append("name = ?")
                arguments.append(.text(name))
            }
            if let user = query.user {
                conditions.append("user_key = ?")
                arguments.append(.text(user))
            }
            if let since = query.since {
                conditions.append("received_at >= ?")
                arguments.append(since.pgValue)
            }
            let order = try Self.page(
                db, table: "events", time: "received_at", id: "seq", before: query.before, after: query.after, conditions: &conditions,
                arguments: &arguments)
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments.append(.int(Int64(max(0, query.limit))))
            let events = try db.query("SELECT \(Self.eventColumns) FROM events \(whereClause) ORDER BY \(order) LIMIT ?", arguments).rows.map {
                try Self.eventRecord($0, url: url)
            }
            return order.hasSuffix("ASC") ? events.reversed() : events
        }
    }

    public func events(seqs: [Int64]) async throws -> [Int64: EventRecord] {
        guard !seqs.isEmpty else { return [:] }
        let url = self.url
        return try await read { db in
            var found: [Int64: EventRecord] = [:]
            for row in try db.query("SELECT \(Self.eventColumns) FROM events WHERE seq = ANY(?)", binds(Array(Set(seqs)))).rows {
                let event = try Self.eventRecord(row, url: url)
                found[event.seq] = event
            }
            return found
        }
    }

    public func event(id: String) async throws -> EventRecord? {
        let url = self.url
        return try await read { db in
            if let row = try db.query("SELECT \(Self.eventColumns) FROM events WHERE message_id = ?", binds(id)).rows.first {
                return try Self.eventRecord(row, url: url)
            }
            guard let seq = Int64(id) else { return nil }
            return try db.query("SELECT \(Self.eventColumns) FROM events WHERE seq = ?", binds(seq)).rows.first.map { try Self.eventRecord($0, url: url) }
        }
    }

    /// Rejected events, newest first; of the query only `since` and `limit` apply.
    public func rejected(_ query: EventQuery) async throws -> [RejectedRecord] {
        let url = self.url
        return try await read { db in
            var sql = "SELECT id, received_at, source, batch_index, errors, body, origin FROM rejected_events"
            var arguments: [PGValue] = []
            var conditions: [String] = []
            if let since = query.since {
                conditions.append("received_at >= ?")
                arguments.append(since.pgValue)
            }
            let order = try Self.page(
                db, table: "rejected_events", time: "received_at", id: "id", before: query.before, after: query.after,
                conditions: &conditions, arguments: &arguments)
            if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
            sql += " ORDER BY \(order) LIMIT ?"
            arguments.append(.int(Int64(max(0, query.limit))))
            let rows = try db.query(sql, arguments).rows
            return try (order.hasSuffix("ASC") ? Array(rows.reversed()) : rows).map { row in
                let id = try row.int64(0)
                guard let errors = try Self.parseJSON(row.string(4)).arrayValue?.compactMap(\.stringValue) else {
                    throw PostgresStoreError.corruptRow(url, table: "rejected_events", id: id, detail: "errors is not an array")
                }
                return RejectedRecord(
                    id: id, receivedAt: try row.date(1), source: try row.string(2), index: try row.int(3), errors: errors, body: try row.string(5),
                    origin: (try row.stringOrNil(6).flatMap { try? Self.parseJSON($0) }).flatMap(EventOrigin.init(json:)))
            }
        }
    }

    public func status() async throws -> StoreStatus {
        let url = self.url
        return try await read { db in
            var runsByStatus: [RunStatus: Int] = [:]
            for row in try db.query("SELECT status, count(*) FROM runs GROUP BY status").rows {
                guard let status = RunStatus(rawValue: try row.string(0)) else { continue }
                runsByStatus[status] = try row.int(1)
            }
            let events = try db.query("SELECT count(*) FROM events").rows.first?.int(0) ?? 0
            let rejected = try db.query("SELECT count(*) FROM rejected_events").rows.first?.int(0) ?? 0
            // Waiting to be sent: a pending outbox row whose run is still pending.
            let outbox = try db.query(
                """
                SELECT count(*), min(o.created_at) FROM outbox o JOIN runs r ON r.id = o.run_id
                WHERE o.state IN ('pending', 'sending') AND r.status = 'pending'
                """
            ).rows.first
            var stuck: [String: (count: Int, oldest: Date?)] = [:]
            for row in try db.query("SELECT state, count(*), min(created_at) FROM outbox WHERE state IN ('dead', 'unknown') GROUP BY state").rows {
                stuck[try row.string(0)] = (try row.int(1), try row.dateOrNil(2))
            }
            let ruleVersions = try db.query("SELECT count(*) FROM rule_versions").rows.first?.int(0) ?? 0
            let lastFailures = try db.query(
                "SELECT \(Self.runColumns) \(Self.runsFrom) WHERE r.status = 'failed' ORDER BY r.created_at DESC, r.id DESC LIMIT 5"
            ).rows.map { try Self.runRecord($0, url: url) }
            let lastEventAt = try db.query("SELECT received_at FROM events ORDER BY seq DESC LIMIT 1").rows.first?.date(0)
            let backlog = try Self.decisionBacklog(db)
            return StoreStatus(
                runsByStatus: runsByStatus, events: events, rejected: rejected, outboxPending: try outbox?.int(0) ?? 0,
                oldestPendingCreatedAt: try outbox?.dateOrNil(1), ruleVersions: ruleVersions, lastFailures: lastFailures, lastEventAt: lastEventAt,
                outboxDead: stuck["dead"]?.count ?? 0, oldestDeadCreatedAt: stuck["dead"]?.oldest, outboxUnknown: stuck["unknown"]?.count ?? 0,
                oldestUnknownCreatedAt: stuck["unknown"]?.oldest, decisionBacklog: backlog.count, oldestUndecidedAt: backlog.oldest)
        }
    }

    public func serveHeartbeat() async throws -> ServeHeartbeat? {
        let url = self.url
        return try await read { db in
            guard
                let row = try db.query(
                    """
                    SELECT pid, host, listen, started_at, last_seen, stopped_at, paused_action, paused_reason, paused_since, next_probe_at,
                        rules_loaded, rule_errors, rule_errors_since FROM serve_health LIMIT 1
                    """
                ).rows.first
            else { return nil }
            var pause: DispatchPause?
            if let action = try row.stringOrNil(6), let reason = try row.stringOrNil(7), let since = try row.dateOrNil(8),
                let next = try row.dateOrNil(9)
            {
                pause = DispatchPause(action: action, reason: reason, since: since, nextProbe: next)
            }
            guard let errors = try Self.parseJSON(row.string(11)).arrayValue?.compactMap(\.stringValue) else {
                throw PostgresStoreError.corruptRow(url, table: "serve_health", id: 1, detail: "rule_errors is not an array")
            }
            return ServeHeartbeat(
                pid: try row.int(0), host: try row.string(1), listen: try row.string(2), startedAt: try row.date(3), lastSeen: try row.date(4),
                stoppedAt: try row.dateOrNil(5), pause: pause, rulesLoaded: try row.int(10), ruleErrors: errors,
                ruleErrorsSince: try row.dateOrNil(12))
        }
    }

    public func pluginStatuses() async throws -> [PluginStatus] {
        try await read { db in
            try db.query(
                """
                SELECT name, kind, origin, command, state, pid, restarts, garbage_lines, handled, failures, last_error, last_error_at,
                    started_at, next_start_at, updated_at FROM plugin_status ORDER BY position
                """
            ).rows.map { row in
                PluginStatus(
                    name: try row.string(0), kind: PluginStatus.Kind(rawValue: try row.string(1)) ?? .source,
                    origin: PluginStatus.Origin(rawValue: try row.string(2)) ?? .exec, command: try row.stringOrNil(3),
                    state: PluginStatus.State(rawValue: try row.string(4)) ?? .stopped, pid: try row.intOrNil(5), restarts: try row.int(6),
                    garbageLines: try row.int(7), handled: try row.int(8), failures: try row.int(9), lastError: try row.stringOrNil(10),
                    lastErrorAt: try row.dateOrNil(11), startedAt: try row.dateOrNil(12), nextStartAt: try row.dateOrNil(13),
                    updatedAt: try row.date(14))
            }
        }
    }

    public func ruleVersion(rule: String, version: String) async throws -> RuleVersionRecord? {
        try await read { db in try Self.ruleVersion(db, rule: rule, version: version) }
    }

    static func ruleVersion(_ db: PGSession, rule: String, version: String) throws -> RuleVersionRecord? {
        guard
            let row = try db.query(
                "SELECT file, definition, first_seen, text FROM rule_versions WHERE rule_id = ? AND version = ?", binds(rule, version)
            ).rows.first
        else { return nil }
        return RuleVersionRecord(
            ruleId: rule, version: version, file: try row.string(0), definition: try parseJSON(row.string(1)), firstSeen: try row.date(2),
            text: try row.stringOrNil(3))
    }

    public func outboxRows(runIds: [Int64]) async throws -> [Int64: OutboxRef] {
        guard !runIds.isEmpty else { return [:] }
        return try await read { db in
            var rows: [Int64: OutboxRef] = [:]
            for row in try db.query("SELECT id, run_id, state FROM outbox WHERE run_id = ANY(?)", binds(runIds)).rows {
                let runId = try row.int64(1)
                rows[runId] = OutboxRef(id: try row.int64(0), runId: runId, state: OutboxState(rawValue: try row.string(2)) ?? .pending)
            }
            return rows
        }
    }

    public func knownRuleIds() async throws -> [String] {
        try await read { db in try db.query("SELECT DISTINCT rule_id FROM rule_versions ORDER BY rule_id").rows.map { try $0.string(0) } }
    }

    public func unknownZones() async throws -> [UnknownZoneCount] {
        try await read { db in
            try db.query("SELECT zone, runs, last_seen, last_user FROM unknown_zones ORDER BY runs DESC, zone").rows.map { row in
                UnknownZoneCount(zone: try row.string(0), runs: try row.int(1), lastSeen: try row.date(2), lastUser: try row.stringOrNil(3))
            }
        }
    }

    // MARK: The decider's reads

    public func decideProgress() async throws -> DecideProgress {
        try await read { db in
            let decided = try db.query("SELECT decided_through FROM decide_position WHERE id = 1").rows.first?.int64(0) ?? 0
            let last = try db.query("SELECT seq FROM events ORDER BY seq DESC LIMIT 1").rows.first?.int64(0) ?? 0
            return DecideProgress(decidedThrough: decided, lastAccepted: last)
        }
    }

    public func loggedEvents(after seq: Int64, limit: Int) async throws -> [LoggedEvent] {
        try await read { db in
            var events: [LoggedEvent] = []
            for row in try db.query("SELECT seq, message_id, received_at, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?", binds(seq, limit)).rows {
                let receivedAt = try row.date(2)
                let body = try Self.parseJSON(row.string(3))
                // A stored event that no longer decodes (a corrupted row) is passed over rather than
                // stopping every decision behind it.
                let messageId = try row.string(1)
                guard case .success(let event) = Event.decode(body, receivedAt: receivedAt, fallbackMessageId: messageId) else { continue }
                events.append(LoggedEvent(seq: try row.int64(0), event: event, receivedAt: receivedAt))
            }
            return events
        }
    }

    public func profiles(for userKeys: [String]) async throws -> [String: UserProfile] {
        if userKeys.isEmpty { return [:] }
        return try await read { db in
            var found: [String: UserProfile] = [:]
            for row in try db.query("SELECT user_key, traits, time_zone FROM profiles WHERE user_key = ANY(?)", [.texts(userKeys)]).rows {
                found[try row.string(0)] = UserProfile(traits: try Self.parseJSON(row.string(1)), timeZone: try row.stringOrNil(2))
            }
            return found
        }
    }

    /// Events after the decided position, and the receive time of the first (`flint status`).
    static func decisionBacklog(_ db: PGSession) throws -> (count: Int, oldest: Date?) {
        let decided = try db.query("SELECT decided_through FROM decide_position WHERE id = 1").rows.first?.int64(0) ?? 0
        let row = try db.query("SELECT count(*), min(received_at) FROM events WHERE seq > ?", binds(decided)).rows.first
        return (try row?.int(0) ?? 0, try row?.dateOrNil(1))
    }

    // MARK: Rows

    /// A run with what listings show beside it (the SQLite store's columns; column 12, its `legacy`
    /// trace, is always NULL here).
    static let runColumns = """
        r.id, r.event_seq, e.message_id, r.rule_id, r.rule_version, r.user_key, r.status, r.reason, r.action, r.send_at, o.schedule, \
        s.body, NULL::text, r.schedule_id, r.dispatch_id, r.cancelled_by, r.created_at, r.updated_at, r.outbox_key, r.held, \
        c.default_zone, c.company_zone, c.lead, r.consumed_at
        """

    static let runJoins = """
        LEFT JOIN outbox o ON o.run_id = r.id LEFT JOIN sent_requests s ON s.id = o.sent_id \
        LEFT JOIN decide_contexts c ON c.id = r.context_id
        """

    static let runsFrom = "FROM runs r LEFT JOIN events e ON e.seq = r.event_seq " + runJoins

    /// The runs of one user (`e.user_key = ?`): their events first.
    static let userRunsFrom = "FROM events e JOIN runs r ON r.event_seq = e.seq " + runJoins

    static let eventColumns = "seq, message_id, type, name, user_key, user_id, anonymous_id, timestamp, received_at, source, body"

    static func runRecord(_ row: PGRow, url: PostgresURL) throws -> RunRecord {
        let id = try row.int64(0)
        let statusText = try row.string(6)
        guard let status = RunStatus(rawValue: statusText) else {
            throw PostgresStoreError.corruptRow(url, table: "runs", id: id, detail: "unknown status '\(statusText)'")
        }
        var context: DecideContext?
        if let zone = try row.stringOrNil(20) { context = DecideContext(defaultZone: zone, companyZone: try row.stringOrNil(21), lead: try row.int(22)) }
        return RunRecord(
            id: id, eventSeq: try row.int64(1), eventId: try row.stringOrNil(2) ?? "", ruleId: try row.string(3), ruleVersion: try row.string(4),
            user: try row.string(5), status: status, reason: try row.string(7), action: try row.string(8), sendAt: try row.dateOrNil(9),
            schedule: try row.stringOrNil(10).map(parseJSON), request: try row.stringOrNil(11).map(parseJSON), trace: RunTrace(),
            scheduleId: try row.stringOrNil(13), dispatchId: try row.stringOrNil(14), cancelledBy: try row.stringOrNil(15),
            createdAt: try row.date(16), updatedAt: try row.date(17), outboxKey: try row.stringOrNil(18),
            held: try row.stringOrNil(19).map(parseJSON).flatMap(HeldBy.init(json:)), context: context, consumedAt: try row.dateOrNil(23))
    }

    static func eventRecord(_ row: PGRow, url: PostgresURL) throws -> EventRecord {
        let seq = try row.int64(0)
        let typeText = try row.string(2)
        guard let type = Event.Kind(rawValue: typeText) else {
            throw PostgresStoreError.corruptRow(url, table: "events", id: seq, detail: "unknown type '\(typeText)'")
        }
        return EventRecord(
            seq: seq, messageId: try row.string(1), type: type, name: try row.stringOrNil(3), userKey: try row.string(4),
            userId: try row.stringOrNil(5), anonymousId: try row.stringOrNil(6), timestamp: try row.date(7), receivedAt: try row.date(8),
            source: try row.string(9), body: try parseJSON(row.string(10)))
    }
}

/// The rebuilder's reads inside one read transaction.
struct PostgresArchive: DecisionArchive {
    let db: PGSession
    let url: PostgresURL

    func event(seq: Int64) throws -> EventRecord? {
        try db.query("SELECT \(PostgresStateStore.eventColumns) FROM events WHERE seq = ?", binds(seq)).rows.first.map {
            try PostgresStateStore.eventRecord($0, url: url)
        }
    }

    func ruleVersion(rule: String, version: String) throws -> RuleVersionRecord? {
        try PostgresStateStore.ruleVersion(db, rule: rule, version: version)
    }

    func identifies(user: String, before seq: Int64) throws -> [EventRecord] {
        try db.query(
            "SELECT \(PostgresStateStore.eventColumns) FROM events WHERE user_key = ? AND type = 'identify' AND seq < ? ORDER BY seq", binds(user, seq)
        ).rows.map { try PostgresStateStore.eventRecord($0, url: url) }
    }
}
