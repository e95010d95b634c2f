import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation
import GRDB

/// The dispatcher's reads and writes (outbox rows, run outcomes, Braze deletes).
extension SQLiteTransaction {
    static let outboxColumns = """
        o.id, o.run_id, o.key, o.action, o.body, o.send_at, o.state, o.attempts, o.next_attempt_at, o.last_error, o.created_at, \
        o.updated_at, r.rule_id, r.rule_version, r.user_key, e.timestamp, o.zone, o.schedule
        """

    static let outboxFrom = "FROM outbox o JOIN runs r ON r.id = o.run_id JOIN events e ON e.seq = r.event_seq"

    func outboxItem(_ row: Row) throws -> OutboxItem {
        let stateText: String = row[6]
        let zone: String? = row[16]
        let body: String = row[4]
        let sendAt: Double? = row[5]
        let next: Double? = row[8]
        let schedule: String? = row[17]
        return OutboxItem(
            id: row[0], runId: row[1], key: row[2], action: row[3], body: try SQLiteStateStore.parseJSON(body),
            sendAt: sendAt.map { Date(timeIntervalSince1970: $0) }, state: OutboxState(rawValue: stateText) ?? .pending,
            attempts: row[7], nextAttemptAt: next.map { Date(timeIntervalSince1970: $0) }, lastError: row[9],
            createdAt: Date(timeIntervalSince1970: row[10]), updatedAt: Date(timeIntervalSince1970: row[11]), ruleId: row[12],
            ruleVersion: row[13], user: row[14], eventTime: Date(timeIntervalSince1970: row[15]), zone: zone,
            schedule: try schedule.map(SQLiteStateStore.parseJSON))
    }

    func dueOutbox(now: Date, limit: Int) throws -> [OutboxItem] {
        let rows = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                SELECT \(Self.outboxColumns) \(Self.outboxFrom)
                WHERE o.state = 'pending' AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= ?) ORDER BY o.id LIMIT ?
                """), arguments: [now.timeIntervalSince1970, limit])
        return try rows.map(outboxItem)
    }

    func dueOutbox(now: Date, limit: Int, actions: ActionFilter) throws -> [OutboxItem] {
        try outboxRows(where: "(o.next_attempt_at IS NULL OR o.next_attempt_at <= ?)", [now.timeIntervalSince1970], actions: actions, limit: limit)
    }

    func freshOutbox(after id: Int64, limit: Int, actions: ActionFilter) throws -> [OutboxItem] {
        // outbox_due (state, next_attempt_at, id): an equality on the first two, a range on the id.
        try outboxRows(where: "o.next_attempt_at IS NULL AND o.id > ?", [id], actions: actions, limit: limit)
    }

    func retriesDue(now: Date, limit: Int, actions: ActionFilter) throws -> [OutboxItem] {
        try outboxRows(where: "o.next_attempt_at <= ?", [now.timeIntervalSince1970], actions: actions, limit: limit)
    }

    /// Pending rows of some actions that meet `condition`, oldest first.
    private func outboxRows(where condition: String, _ values: StatementArguments, actions: ActionFilter, limit: Int) throws -> [OutboxItem] {
        let filter: String
        var arguments = values
        switch actions {
        case .only(let name):
            filter = "o.action = ?"
            arguments += [name]
        case .noneOf(let names):
            filter = names.isEmpty ? "1" : "o.action NOT IN (\(Self.placeholders(names.count)))"
            arguments += StatementArguments(names)
        }
        arguments += [limit]
        let rows = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                SELECT \(Self.outboxColumns) \(Self.outboxFrom)
                WHERE o.state = 'pending' AND \(condition) AND \(filter) ORDER BY o.id LIMIT ?
                """), arguments: arguments)
        return try rows.map(outboxItem)
    }

    func outbox(id: Int64) throws -> OutboxItem? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(Self.outboxColumns) \(Self.outboxFrom) WHERE o.id = ?"), arguments: [id]).map(outboxItem)
    }

    func outbox(runId: Int64) throws -> OutboxItem? {
        try Row.fetchOne(db, sql: "SELECT \(Self.outboxColumns) \(Self.outboxFrom) WHERE o.run_id = ?", arguments: [runId]).map(outboxItem)
    }

    /// Newest first by id; with `after` alone, the rows just newer than it (walked upwards, then reversed).
    func outbox(states: [OutboxState], limit: Int, before: Int64?, after: Int64?) throws -> [OutboxItem] {
        var conditions: [String] = []
        var arguments = StatementArguments()
        if !states.isEmpty { conditions.append("o.state IN (\(states.map { "'\($0.rawValue)'" }.joined(separator: ", ")))") }
        if let before {
            conditions.append("o.id < ?")
            arguments += [before]
        }
        if let after {
            conditions.append("o.id > ?")
            arguments += [after]
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let upwards = before == nil && after != nil
        arguments += [max(0, limit)]
        let rows = try Row.fetchAll(
            db, sql: "SELECT \(Self.outboxColumns) \(Self.outboxFrom) \(filter) ORDER BY o.id \(upwards ? "ASC" : "DESC") LIMIT ?",
            arguments: arguments
        ).map(outboxItem)
        return upwards ? rows.reversed() : rows
    }

    mutating func setOutbox(id: Int64, state: OutboxState, attempts: Int, nextAttemptAt: Date?, lastError: String?, body: JSONValue?, at: Date) throws {
        if let body {
            try db.cachedStatement(
                sql: "UPDATE outbox SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, body = ?, updated_at = ? WHERE id = ?"
            ).execute(
                arguments: [state.rawValue, attempts, nextAttemptAt?.timeIntervalSince1970, lastError, body.compactJSON, at.timeIntervalSince1970, id])
        } else {
            try db.cachedStatement(
                sql: "UPDATE outbox SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id = ?"
            ).execute(
                arguments: [state.rawValue, attempts, nextAttemptAt?.timeIntervalSince1970, lastError, at.timeIntervalSince1970, id])
        }
    }

    /// `?, ?, ...` for `count` arguments.
    static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ", ")
    }

    /// SQLite allows 32,766 arguments per statement; a request has at most a few hundred rows.
    static let idsPerStatement = 500

    @discardableResult
    mutating func markSending(ids: [Int64], at: Date) throws -> Set<Int64> {
        var marked = Set<Int64>()
        for part in ids.chunked(Self.idsPerStatement) {
            let statement = try db.cachedStatement(
                sql: """
                UPDATE outbox SET state = 'sending', attempts = attempts + 1, next_attempt_at = NULL, last_error = NULL, updated_at = ?
                WHERE id IN (\(Self.placeholders(part.count))) AND state = 'pending' RETURNING id
                """)
            marked.formUnion(
                try Int64.fetchAll(statement, arguments: StatementArguments([at.timeIntervalSince1970] as [any DatabaseValueConvertible]) + StatementArguments(part)))
        }
        return marked
    }

    mutating func setOutbox(ids: [Int64], state: OutboxState, attempts: Int, nextAttemptAt: Date?, lastError: String?, at: Date) throws {
        for part in ids.chunked(Self.idsPerStatement) {
            try db.cachedStatement(
                sql: "UPDATE outbox SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id IN (\(Self.placeholders(part.count)))").execute(
                arguments: StatementArguments([state.rawValue, attempts, nextAttemptAt?.timeIntervalSince1970, lastError, at.timeIntervalSince1970] as [(any DatabaseValueConvertible)?])
                    + StatementArguments(part))
        }
    }

    /// Runs keep their outcome; the request sent and the schedule it went with are recorded on their
    /// outbox rows (the request once, in `sent_requests`, for all the rows it carried).
    mutating func updateRuns(ids: [Int64], _ update: RunUpdate, at: Date) throws {
        let sentId = try update.request.map { try recordSent($0) }
        let scheduleText = update.schedule?.compactJSON
        for part in ids.chunked(Self.idsPerStatement) {
            try db.cachedStatement(
                sql: """
                    UPDATE runs SET status = ?, reason = ?, schedule_id = coalesce(?, schedule_id), dispatch_id = coalesce(?, dispatch_id),
                    send_at = coalesce(?, send_at), updated_at = ?
                    WHERE id IN (\(Self.placeholders(part.count)))
                    """).execute(
                arguments: StatementArguments(
                    [
                        update.status.rawValue, update.reason, update.scheduleId, update.dispatchId, update.sendAt?.timeIntervalSince1970,
                        at.timeIntervalSince1970,
                    ] as [(any DatabaseValueConvertible)?]) + StatementArguments(part))
            if sentId != nil || scheduleText != nil {
                try db.cachedStatement(
                    sql: """
                        UPDATE outbox SET sent_id = coalesce(?, sent_id), schedule = coalesce(?, schedule)
                        WHERE run_id IN (\(Self.placeholders(part.count)))
                        """).execute(
                    arguments: StatementArguments([sentId, scheduleText] as [(any DatabaseValueConvertible)?]) + StatementArguments(part))
            }
        }
    }

    /// The `sent_requests` row of a request an action accepted: the last one again when the same
    /// request is recorded for its next run.
    private mutating func recordSent(_ request: JSONValue) throws -> Int64 {
        if let last = lastRequest, last.value == request { return last.id }
        try db.cachedStatement(sql: "INSERT INTO sent_requests (body) VALUES (?)").execute(arguments: [request.compactJSON])
        let id = db.lastInsertedRowID
        lastRequest = (request, id)
        return id
    }

    func cancelledRunIds(among ids: [Int64]) throws -> Set<Int64> {
        var found = Set<Int64>()
        for part in ids.chunked(Self.idsPerStatement) {
            found.formUnion(
                try Int64.fetchAll(
                    db, sql: "SELECT id FROM runs WHERE status = 'cancelled' AND id IN (\(Self.placeholders(part.count)))", arguments: StatementArguments(part)))
        }
        return found
    }

    func nextDue(after now: Date) throws -> Date? {
        let t = now.timeIntervalSince1970
        let next = try Double.fetchOne(
            db.cachedStatement(
                sql: """
                SELECT min(at) FROM (
                  SELECT min(next_attempt_at) AS at FROM outbox WHERE state = 'pending' AND next_attempt_at > ?
                  UNION ALL SELECT min(next_attempt_at) FROM cancellations WHERE state = 'pending' AND next_attempt_at > ?)
                """), arguments: [t, t])
        return next.map { Date(timeIntervalSince1970: $0) }
    }

    func run(id: Int64) throws -> RunRecord? {
        try Row.fetchOne(db, sql: "SELECT \(SQLiteStateStore.runColumns) \(SQLiteStateStore.runsFrom) WHERE r.id = ?", arguments: [id]).map {
            try SQLiteStateStore.runRecord($0, path: "database")
        }
    }

    func runStatus(id: Int64) throws -> RunStatus? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT status FROM runs WHERE id = ?"), arguments: [id]).flatMap(RunStatus.init(rawValue:))
    }

    mutating func updateRun(id: Int64, _ update: RunUpdate, at: Date) throws {
        let sentId = try update.request.map { try recordSent($0) }
        // Cached: the dispatcher records up to 50 runs per request, and preparing the statement each
        // time showed in its profile.
        try db.cachedStatement(
            sql: """
                UPDATE runs SET status = ?, reason = ?, schedule_id = coalesce(?, schedule_id), dispatch_id = coalesce(?, dispatch_id),
                send_at = coalesce(?, send_at), updated_at = ?
                WHERE id = ?
                """
        ).execute(
            arguments: [
                update.status.rawValue, update.reason, update.scheduleId, update.dispatchId, update.sendAt?.timeIntervalSince1970,
                at.timeIntervalSince1970, id,
            ])
        if sentId != nil || update.schedule != nil {
            try db.cachedStatement(sql: "UPDATE outbox SET sent_id = coalesce(?, sent_id), schedule = coalesce(?, schedule) WHERE run_id = ?")
                .execute(arguments: [sentId, update.schedule?.compactJSON, id])
        }
    }

    mutating func abandonSending(at: Date) throws -> [Int64] {
        let rows = try Row.fetchAll(db, sql: "SELECT id, run_id FROM outbox WHERE state = 'sending' ORDER BY id")
        for row in rows {
            let id: Int64 = row[0], runId: Int64 = row[1]
            try db.execute(
                sql: "UPDATE outbox SET state = 'unknown', last_error = ?, updated_at = ? WHERE id = ?",
                arguments: ["flint stopped while this request was in flight; it may have reached the action", at.timeIntervalSince1970, id])
            try updateRun(
                id: runId,
                RunUpdate(status: .unknown, reason: "flint stopped while the request was in flight: it may or may not have been sent; check, then flint outbox retry \(id) if it is missing"),
                at: at)
        }
        try db.execute(
            sql: "UPDATE cancellations SET state = 'pending', updated_at = ? WHERE state = 'sending'", arguments: [at.timeIntervalSince1970])
        return rows.map { $0[0] }
    }

    mutating func insertCancellation(_ c: Cancellation, at: Date) throws {
        try db.execute(
            sql: """
                INSERT INTO cancellations (run_id, campaign_id, schedule_id, reason, by_event, state, attempts, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT (run_id) DO NOTHING
                """,
            arguments: [c.runId, c.scope ?? "", c.handle, c.reason, c.byEvent, at.timeIntervalSince1970, at.timeIntervalSince1970])
    }

    func dueCancellations(now: Date, limit: Int) throws -> [Cancellation] {
        try Row.fetchAll(
            db.cachedStatement(
                sql: """
                SELECT run_id, campaign_id, schedule_id, reason, by_event, state, attempts, next_attempt_at, last_error FROM cancellations
                WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY run_id LIMIT ?
                """), arguments: [now.timeIntervalSince1970, limit]
        ).map { row in
            let state: String = row[5]
            let next: Double? = row[7]
            return Cancellation(
                runId: row[0], scope: (row[1] as String?).flatMap { $0.isEmpty ? nil : $0 }, handle: row[2], reason: row[3], byEvent: row[4], state: OutboxState(rawValue: state) ?? .pending,
                attempts: row[6], nextAttemptAt: next.map { Date(timeIntervalSince1970: $0) }, lastError: row[8])
        }
    }

    mutating func setCancellation(runId: Int64, state: OutboxState, attempts: Int, nextAttemptAt: Date?, lastError: String?, at: Date) throws {
        try db.execute(
            sql: "UPDATE cancellations SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, updated_at = ? WHERE run_id = ?",
            arguments: [state.rawValue, attempts, nextAttemptAt?.timeIntervalSince1970, lastError, at.timeIntervalSince1970, runId])
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    fileprivate func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
