import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

/// The dispatcher's reads and writes (outbox rows, run outcomes, deletes through the action).
///
/// A later phase, with several `flint serve` nodes, claims due rows with
/// `SELECT ... FOR UPDATE SKIP LOCKED` before `markSending`; today one process dispatches, and
/// `markSending` is already the conditional claim (still pending, RETURNING the ids it took).
extension PostgresTransaction {
    static let outboxColumns = """
        o.id, o.run_id, o.key, o.action, o.body, o.send_at, o.state, o.attempts, o.next_attempt_at, o.last_error, o.created_at, \
        o.updated_at, r.rule_id, r.rule_version, r.user_key, e.timestamp, o.zone, o.schedule
        """

    static let outboxFrom = "FROM outbox o JOIN runs r ON r.id = o.run_id JOIN events e ON e.seq = r.event_seq"

    func outboxItem(_ row: PGRow) throws -> OutboxItem {
        OutboxItem(
            id: try row.int64(0), runId: try row.int64(1), key: try row.string(2), action: try row.string(3),
            body: try PostgresStateStore.parseJSON(row.string(4)), sendAt: try row.dateOrNil(5),
            state: OutboxState(rawValue: try row.string(6)) ?? .pending, attempts: try row.int(7), nextAttemptAt: try row.dateOrNil(8),
            lastError: try row.stringOrNil(9), createdAt: try row.date(10), updatedAt: try row.date(11), ruleId: try row.string(12),
            ruleVersion: try row.string(13), user: try row.string(14), eventTime: try row.date(15), zone: try row.stringOrNil(16),
            schedule: try row.stringOrNil(17).map(PostgresStateStore.parseJSON))
    }

    func dueOutbox(now: Date, limit: Int) throws -> [OutboxItem] {
        try dueOutbox(now: now, limit: limit, actions: .noneOf([]))
    }

    func dueOutbox(now: Date, limit: Int, actions: ActionFilter) throws -> [OutboxItem] {
        try outboxRows(where: "(o.next_attempt_at IS NULL OR o.next_attempt_at <= ?)", binds(now), actions: actions, limit: limit)
    }

    func freshOutbox(after id: Int64, limit: Int, actions: ActionFilter) throws -> [OutboxItem] {
        try outboxRows(where: "o.next_attempt_at IS NULL AND o.id > ?", binds(id), actions: actions, limit: limit)
    }

    func retriesDue(now: Date, limit: Int, actions: ActionFilter) throws -> [OutboxItem] {
        try outboxRows(where: "o.next_attempt_at <= ?", binds(now), actions: actions, limit: limit)
    }

    /// Pending rows of some actions that meet `condition`, oldest first.
    private func outboxRows(where condition: String, _ values: [PGValue], actions: ActionFilter, limit: Int) throws -> [OutboxItem] {
        let filter: String
        var arguments = values
        switch actions {
        case .only(let name):
            filter = "o.action = ?"
            arguments.append(.text(name))
        case .noneOf(let names):
            if names.isEmpty {
                filter = "TRUE"
            } else {
                filter = "NOT (o.action = ANY(?))"
                arguments.append(.texts(names))
            }
        }
        arguments.append(.int(Int64(clamping: limit)))
        return try session.query(
            """
            SELECT \(Self.outboxColumns) \(Self.outboxFrom)
            WHERE o.state = 'pending' AND \(condition) AND \(filter) ORDER BY o.id LIMIT ?
            """, arguments
        ).rows.map(outboxItem)
    }

    func outbox(id: Int64) throws -> OutboxItem? {
        try session.query("SELECT \(Self.outboxColumns) \(Self.outboxFrom) WHERE o.id = ?", binds(id)).rows.first.map(outboxItem)
    }

    func outbox(runId: Int64) throws -> OutboxItem? {
        try session.query("SELECT \(Self.outboxColumns) \(Self.outboxFrom) WHERE o.run_id = ?", binds(runId)).rows.first.map(outboxItem)
    }

    /// Newest first by id; with `after` alone, the rows just newer than it (walked upwards, then reversed).
    func outbox(states: [OutboxState], limit: Int, before: Int64?, after: Int64?) throws -> [OutboxItem] {
        var conditions: [String] = []
        var arguments: [PGValue] = []
        if !states.isEmpty {
            conditions.append("o.state = ANY(?)")
            arguments.append(.texts(states.map(\.rawValue)))
        }
        if let before {
            conditions.append("o.id < ?")
            arguments.append(.int(before))
        }
        if let after {
            conditions.append("o.id > ?")
            arguments.append(.int(after))
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let upwards = before == nil && after != nil
        arguments.append(.int(Int64(max(0, limit))))
        let rows = try session.query(
            "SELECT \(Self.outboxColumns) \(Self.outboxFrom) \(filter) ORDER BY o.id \(upwards ? "ASC" : "DESC") LIMIT ?", arguments
        ).rows.map(outboxItem)
        return upwards ? rows.reversed() : rows
    }

    mutating func setOutbox(id: Int64, state: OutboxState, attempts: Int, nextAttemptAt: Date?, lastError: String?, body: JSONValue?, at: Date) throws {
        if let body {
            try session.query(
                "UPDATE outbox SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, body = ?, updated_at = ? WHERE id = ?",
                binds(state.rawValue, attempts, nextAttemptAt, lastError, body.compactJSON, at, id))
        } else {
            try session.query(
                "UPDATE outbox SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id = ?",
                binds(state.rawValue, attempts, nextAttemptAt, lastError, at, id))
        }
    }

    @discardableResult
    mutating func markSending(ids: [Int64], at: Date) throws -> Set<Int64> {
        guard !ids.isEmpty else { return [] }
        return Set(
            try session.query(
                """
                UPDATE outbox SET state = 'sending', attempts = attempts + 1, next_attempt_at = NULL, last_error = NULL, updated_at = ?
                WHERE id = ANY(?) AND state = 'pending' RETURNING id
                """, binds(at, ids)
            ).rows.map { try $0.int64(0) })
    }

    mutating func setOutbox(ids: [Int64], state: OutboxState, attempts: Int, nextAttemptAt: Date?, lastError: String?, at: Date) throws {
        guard !ids.isEmpty else { return }
        try session.query(
            "UPDATE outbox SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id = ANY(?)",
            binds(state.rawValue, attempts, nextAttemptAt, lastError, at, ids))
    }

    /// Runs keep their outcome; the request sent and the schedule it went with are recorded on their
    /// outbox rows (the request once, in `sent_requests`, for all the rows it carried).
    mutating func updateRuns(ids: [Int64], _ update: RunUpdate, at: Date) throws {
        guard !ids.isEmpty else { return }
        let sentId = try update.request.map { try recordSent($0) }
        let scheduleText = update.schedule?.compactJSON
        try session.query(
            """
            UPDATE runs SET status = ?, reason = ?, schedule_id = coalesce(?, schedule_id), dispatch_id = coalesce(?, dispatch_id),
            send_at = coalesce(?, send_at), updated_at = ?
            WHERE id = ANY(?)
            """, binds(update.status.rawValue, update.reason, update.scheduleId, update.dispatchId, update.sendAt, at, ids))
        if sentId != nil || scheduleText != nil {
            try session.query(
                "UPDATE outbox SET sent_id = coalesce(?, sent_id), schedule = coalesce(?, schedule) WHERE run_id = ANY(?)",
                binds(sentId, scheduleText, ids))
        }
    }

    /// The `sent_requests` row of a request an action accepted: the last one again when the same
    /// request is recorded for its next run.
    private mutating func recordSent(_ request: JSONValue) throws -> Int64 {
        if let last = lastRequest, last.value == request { return last.id }
        let id = try session.query("INSERT INTO sent_requests (body) VALUES (?) RETURNING id", binds(request.compactJSON)).rows[0].int64(0)
        lastRequest = (request, id)
        return id
    }

    func cancelledRunIds(among ids: [Int64]) throws -> Set<Int64> {
        guard !ids.isEmpty else { return [] }
        return Set(
            try session.query("SELECT id FROM runs WHERE status = 'cancelled' AND id = ANY(?)", binds(ids)).rows.map { try $0.int64(0) })
    }

    func nextDue(after now: Date) throws -> Date? {
        try session.query(
            """
            SELECT min(at) FROM (
              SELECT min(next_attempt_at) AS at FROM outbox WHERE state = 'pending' AND next_attempt_at > ?
              UNION ALL SELECT min(next_attempt_at) FROM cancellations WHERE state = 'pending' AND next_attempt_at > ?) due
            """, binds(now, now)
        ).rows.first?.dateOrNil(0)
    }

    func run(id: Int64) throws -> RunRecord? {
        try session.query("SELECT \(PostgresStateStore.runColumns) \(PostgresStateStore.runsFrom) WHERE r.id = ?", binds(id)).rows.first.map {
            try PostgresStateStore.runRecord($0, url: url)
        }
    }

    func runStatus(id: Int64) throws -> RunStatus? {
        try session.query("SELECT status FROM runs WHERE id = ?", binds(id)).rows.first.flatMap { RunStatus(rawValue: try $0.string(0)) }
    }

    mutating func updateRun(id: Int64, _ update: RunUpdate, at: Date) throws {
        try updateRuns(ids: [id], update, at: at)
    }

    mutating func abandonSending(at: Date) throws -> [Int64] {
        let rows = try session.query("SELECT id, run_id FROM outbox WHERE state = 'sending' ORDER BY id").rows
        var ids: [Int64] = []
        for row in rows {
            let id = try row.int64(0)
            let runId = try row.int64(1)
            try session.query(
                "UPDATE outbox SET state = 'unknown', last_error = ?, updated_at = ? WHERE id = ?",
                binds("flint stopped while this request was in flight; it may have reached the action", at, id))
            try updateRun(
                id: runId,
                RunUpdate(
                    status: .unknown,
                    reason: "flint stopped while the request was in flight: it may or may not have been sent; check, then flint outbox retry \(id) if it is missing"),
                at: at)
            ids.append(id)
        }
        try session.query("UPDATE cancellations SET state = 'pending', updated_at = ? WHERE state = 'sending'", binds(at))
        return ids
    }

    mutating func insertCancellation(_ c: Cancellation, at: Date) throws {
        try session.query(
            """
            INSERT INTO cancellations (run_id, campaign_id, schedule_id, reason, by_event, state, attempts, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT (run_id) DO NOTHING
            """, binds(c.runId, c.scope ?? "", c.handle, c.reason, c.byEvent, at, at))
    }

    func dueCancellations(now: Date, limit: Int) throws -> [Cancellation] {
        try session.query(
            """
            SELECT run_id, campaign_id, schedule_id, reason, by_event, state, attempts, next_attempt_at, last_error FROM cancellations
            WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY run_id LIMIT ?
            """, binds(now, limit)
        ).rows.map { row in
            let scope = try row.string(1)
            return Cancellation(
                runId: try row.int64(0), scope: scope.isEmpty ? nil : scope, handle: try row.string(2), reason: try row.string(3),
                byEvent: try row.stringOrNil(4), state: OutboxState(rawValue: try row.string(5)) ?? .pending, attempts: try row.int(6),
                nextAttemptAt: try row.dateOrNil(7), lastError: try row.stringOrNil(8))
        }
    }

    mutating func setCancellation(runId: Int64, state: OutboxState, attempts: Int, nextAttemptAt: Date?, lastError: String?, at: Date) throws {
        try session.query(
            "UPDATE cancellations SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, updated_at = ? WHERE run_id = ?",
            binds(state.rawValue, attempts, nextAttemptAt, lastError, at, runId))
    }
}
