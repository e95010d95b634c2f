import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation
import GRDB

/// The reads `flint replay` makes (docs/replay.md). Each is one read transaction on a reader
/// connection: nothing is written, and `flint serve` keeps writing meanwhile (WAL).
extension SQLiteStateStore: ReplaySource {
    public func replayBounds(_ window: ReplayWindow, user: String?) async throws -> ReplayBounds {
        try await read { db in
            let decided = try Int64.fetchOne(db, sql: "SELECT decided_through FROM decide_position WHERE id = 1") ?? 0
            var conditions = ["received_at >= ?", "received_at < ?"]
            var arguments: StatementArguments = [
                window.from?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude, window.to?.timeIntervalSince1970 ?? Double.greatestFiniteMagnitude,
            ]
            if let user {
                conditions.append("user_key = ?")
                arguments += [user]
            }
            let whereClause = conditions.joined(separator: " AND ")
            // events_by_received_at (events_by_user with a user) bounds the walk.
            let undecided = try Int.fetchOne(db, sql: "SELECT count(*) FROM events WHERE \(whereClause) AND seq > ?", arguments: arguments + [decided]) ?? 0
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT min(seq), max(seq), count(*), min(received_at) FROM events WHERE \(whereClause) AND seq <= ?",
                    arguments: arguments + [decided]),
                let first: Int64 = row[0], let last: Int64 = row[1]
            else { return ReplayBounds(first: 1, last: 0, events: 0, undecided: undecided, firstReceivedAt: nil) }
            let firstReceived: Double? = row[3]
            return ReplayBounds(
                first: first, last: last, events: row[2], undecided: undecided, firstReceivedAt: firstReceived.map { Date(timeIntervalSince1970: $0) })
        }
    }

    public func replayPage(after: Int64, through: Int64, user: String?, limit: Int) async throws -> ReplayPage {
        try await read { db in
            var events: [StoredEvent] = []
            events.reserveCapacity(limit)
            let sql: String
            let arguments: StatementArguments
            if let user {
                sql = "SELECT \(Self.storedEventColumns) FROM events WHERE user_key = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
                arguments = [user, after, through, limit]
            } else {
                sql = "SELECT \(Self.storedEventColumns) FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
                arguments = [after, through, limit]
            }
            let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
            while let row = try rows.next() {
                if let event = Self.storedEvent(row) { events.append(event) }
            }
            guard let first = events.first?.seq, let last = events.last?.seq else { return ReplayPage(events: [], runs: []) }
            // The runs' UNIQUE (event_seq, rule_id) index: the page's range, or for one user's (sparse)
            // events each event's runs. The canceller's seq through events.message_id, only for
            // cancelled runs.
            var runs: [StoredRun] = []
            runs.reserveCapacity(events.count * 2)
            // Per run: its columns only (the settings by id, the few decide_contexts rows read once). A
            // run cancelled by a later event names it in cancelled_by, or, when its action had
            // accepted it already, in its cancellation row (withdrawn through the action).
            let columns = """
                SELECT r.event_seq, r.rule_id, r.rule_version, r.status, r.send_at, r.held IS NOT NULL, r.consumed_at,
                    CASE WHEN r.cancelled_by IS NOT NULL THEN (SELECT seq FROM events x WHERE x.message_id = r.cancelled_by)
                        WHEN r.status IN ('scheduled', 'cancelled') THEN
                            (SELECT x.seq FROM cancellations k JOIN events x ON x.message_id = k.by_event WHERE k.run_id = r.id) END,
                    r.created_at, r.context_id
                FROM runs r
                """
            // Rule ids and versions repeat on every page: one String each, shared (a few distinct
            // values: a linear search costs less than hashing).
            var names: [String] = []
            func shared(_ text: String) -> String {
                if let known = names.first(where: { $0 == text }) { return known }
                if names.count < 64 { names.append(text) }
                return text
            }
            func read(_ rows: RowCursor) throws {
                while let row = try rows.next() {
                    let statusText: String = row[3]
                    guard let status = RunStatus(rawValue: statusText) else { continue }
                    let sendAt: Double? = row[4]
                    let consumedAt: Double? = row[6]
                    var cancelledBy: Int64? = row[7]
                    // Only a cancellation by an event of the window is part of what the window decided.
                    if let c = cancelledBy, c > through { cancelledBy = nil }
                    runs.append(
                        StoredRun(
                            eventSeq: row[0], ruleId: shared(row[1]), ruleVersion: shared(row[2]), status: status,
                            sendAt: sendAt.map { Date(timeIntervalSince1970: $0) }, held: row[5], consumedAt: consumedAt.map { Date(timeIntervalSince1970: $0) },
                            cancelledBySeq: cancelledBy, createdAt: Date(timeIntervalSince1970: row[8]), contextId: row[9]))
                }
            }
            if user == nil {
                // In event order (the index's order: no sort), as replay pairs them with the events.
                try read(try Row.fetchCursor(db, sql: columns + " WHERE r.event_seq >= ? AND r.event_seq <= ? ORDER BY r.event_seq", arguments: [first, last]))
            } else {
                let statement = try db.cachedStatement(sql: columns + " WHERE r.event_seq = ?")
                for event in events { try read(try Row.fetchCursor(statement, arguments: [event.seq])) }
            }
            var contexts: [Int64: DecideContext] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, default_zone, company_zone, lead FROM decide_contexts") {
                contexts[row[0]] = DecideContext(defaultZone: row[1], companyZone: row[2], lead: row[3])
            }
            return ReplayPage(events: events, runs: runs, contexts: contexts)
        }
    }

    public func replayProfiles(users: [String], before seq: Int64) async throws -> [String: UserProfile] {
        if users.isEmpty { return [:] }
        return try await read { db in
            var found: [String: UserProfile] = [:]
            // Users with no profile row never sent an identify call: nothing to fold.
            var withProfile: [String] = []
            var start = 0
            while start < users.count {
                let slice = Array(users[start..<min(start + 500, users.count)])
                let marks = Array(repeating: "?", count: slice.count).joined(separator: ",")
                withProfile += try String.fetchAll(
                    db, sql: "SELECT user_key FROM profiles WHERE user_key IN (\(marks))", arguments: StatementArguments(slice))
                start += slice.count
            }
            let statement = try db.cachedStatement(
                sql: "SELECT \(Self.storedEventColumns) FROM events WHERE user_key = ? AND type = 'identify' AND seq < ? ORDER BY seq")
            for user in withProfile {
                let events = try Row.fetchAll(statement, arguments: [user, seq]).compactMap { Self.storedEvent($0)?.decoded() }
                if let profile = ProfileFold.fold(events) { found[user] = profile }
            }
            return found
        }
    }

    public func pastConsumptions(rule: String, since: Date, before seq: Int64) async throws -> [PastConsumption] {
        try await read { db in
            // runs_consumed (rule_id, consumed_at).
            try Row.fetchAll(
                db,
                sql: """
                    SELECT r.consumed_at, \(Self.storedEventColumns.split(separator: ",").map { "e." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", "))
                    FROM runs r JOIN events e ON e.seq = r.event_seq
                    WHERE r.rule_id = ? AND r.consumed_at IS NOT NULL AND r.consumed_at >= ? AND r.event_seq < ?
                    ORDER BY r.event_seq
                    """, arguments: [rule, since.timeIntervalSince1970, seq]
            ).compactMap { row in
                Self.storedEvent(row, from: 1).map { PastConsumption(consumedAt: Date(timeIntervalSince1970: row[0]), event: $0) }
            }
        }
    }

    static let storedEventColumns = "seq, message_id, received_at, body, type, name, user_key, timestamp"

    /// A row of `storedEventColumns`, starting at column `from`; nil for an unknown type (a corrupted row).
    static func storedEvent(_ row: Row, from i: Int = 0) -> StoredEvent? {
        let typeText: String = row[i + 4]
        guard let type = Event.Kind(rawValue: typeText) else { return nil }
        return StoredEvent(
            seq: row[i], messageId: row[i + 1], receivedAt: Date(timeIntervalSince1970: row[i + 2]), body: row[i + 3], type: type,
            name: row[i + 5], userKey: row[i + 6], timestamp: Date(timeIntervalSince1970: row[i + 7]))
    }
}
