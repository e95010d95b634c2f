import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

/// The reads `flint replay` makes (docs/replay.md), as the SQLite store makes them: each one
/// snapshot on a reader connection, nothing written.
extension PostgresStateStore: ReplaySource {
    public func replayBounds(_ window: ReplayWindow, user: String?) async throws -> ReplayBounds {
        try await read { db in
            let decided = try db.query("SELECT decided_through FROM decide_position WHERE id = 1").rows.first?.int64(0) ?? 0
            var conditions = ["received_at >= ?", "received_at < ?"]
            var arguments = binds(
                window.from?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude, window.to?.timeIntervalSince1970 ?? Double.greatestFiniteMagnitude)
            if let user {
                conditions.append("user_key = ?")
                arguments.append(.text(user))
            }
            let whereClause = conditions.joined(separator: " AND ")
            let undecided = try db.query("SELECT count(*) FROM events WHERE \(whereClause) AND seq > ?", arguments + binds(decided)).rows.first?.int(0) ?? 0
            guard
                let row = try db.query(
                    "SELECT min(seq), max(seq), count(*), min(received_at) FROM events WHERE \(whereClause) AND seq <= ?", arguments + binds(decided)
                ).rows.first,
                let first = try row.int64OrNil(0), let last = try row.int64OrNil(1)
            else { return ReplayBounds(first: 1, last: 0, events: 0, undecided: undecided, firstReceivedAt: nil) }
            return ReplayBounds(first: first, last: last, events: try row.int(2), undecided: undecided, firstReceivedAt: try row.dateOrNil(3))
        }
    }

    public func replayPage(after: Int64, through: Int64, user: String?, limit: Int) async throws -> ReplayPage {
        try await read { db in
            let rows: [PGRow]
            if let user {
                rows = try db.query(
                    "SELECT \(Self.storedEventColumns) FROM events WHERE user_key = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                    binds(user, after, through, limit)
                ).rows
            } else {
                rows = try db.query(
                    "SELECT \(Self.storedEventColumns) FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?", binds(after, through, limit)
                ).rows
            }
            let events = try rows.compactMap { try Self.storedEvent($0) }
            guard let first = events.first?.seq, let last = events.last?.seq else { return ReplayPage(events: [], runs: []) }
            // A run cancelled by a later event names it in cancelled_by, or, when its action had
            // accepted it already, in its cancellation row (withdrawn through the action).
            let columns = """
                SELECT r.event_seq, r.rule_id, r.rule_version, r.status, r.send_at, r.held IS NOT NULL, r.consumed_at,
                    CASE WHEN r.cancelled_by IS NOT NULL THEN (SELECT seq FROM events x WHERE x.message_id = r.cancelled_by)
                        WHEN r.status IN ('scheduled', 'cancelled') THEN
                            (SELECT x.seq FROM cancellations k JOIN events x ON x.message_id = k.by_event WHERE k.run_id = r.id) END,
                    r.created_at, r.context_id
                FROM runs r
                """
            let runRows: [PGRow]
            if user == nil {
                runRows = try db.query(columns + " WHERE r.event_seq >= ? AND r.event_seq <= ? ORDER BY r.event_seq, r.rule_id", binds(first, last)).rows
            } else {
                runRows = try db.query(columns + " WHERE r.event_seq = ANY(?) ORDER BY r.event_seq, r.rule_id", binds(events.map(\.seq))).rows
            }
            var runs: [StoredRun] = []
            runs.reserveCapacity(runRows.count)
            for row in runRows {
                guard let status = RunStatus(rawValue: try row.string(3)) else { continue }
                var cancelledBy = try row.int64OrNil(7)
                // Only a cancellation by an event of the window is part of what the window decided.
                if let c = cancelledBy, c > through { cancelledBy = nil }
                runs.append(
                    StoredRun(
                        eventSeq: try row.int64(0), ruleId: try row.string(1), ruleVersion: try row.string(2), status: status,
                        sendAt: try row.dateOrNil(4), held: try row.bool(5), consumedAt: try row.dateOrNil(6), cancelledBySeq: cancelledBy,
                        createdAt: try row.date(8), contextId: try row.int64OrNil(9)))
            }
            var contexts: [Int64: DecideContext] = [:]
            for row in try db.query("SELECT id, default_zone, company_zone, lead FROM decide_contexts").rows {
                contexts[try row.int64(0)] = DecideContext(defaultZone: try row.string(1), companyZone: try row.stringOrNil(2), lead: try row.int(3))
            }
            return ReplayPage(events: events, runs: runs, contexts: contexts)
        }
    }

    public func replayProfiles(users: [String], before seq: Int64) async throws -> [String: UserProfile] {
        if users.isEmpty { return [:] }
        return try await read { db in
            var found: [String: UserProfile] = [:]
            // Users with no profile row never sent an identify call: nothing to fold.
            let withProfile = try db.query("SELECT user_key FROM profiles WHERE user_key = ANY(?)", [.texts(users)]).rows.map { try $0.string(0) }
            for user in withProfile {
                let events = try db.query(
                    "SELECT \(Self.storedEventColumns) FROM events WHERE user_key = ? AND type = 'identify' AND seq < ? ORDER BY seq", binds(user, seq)
                ).rows.compactMap { try Self.storedEvent($0)?.decoded() }
                if let profile = ProfileFold.fold(events) { found[user] = profile }
            }
            return found
        }
    }

    public func pastConsumptions(rule: String, since: Date, before seq: Int64) async throws -> [PastConsumption] {
        try await read { db in
            let eventColumns = Self.storedEventColumns.split(separator: ",").map { "e." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")
            return try db.query(
                """
                SELECT r.consumed_at, \(eventColumns)
                FROM runs r JOIN events e ON e.seq = r.event_seq
                WHERE r.rule_id = ? AND r.consumed_at IS NOT NULL AND r.consumed_at >= ? AND r.event_seq < ?
                ORDER BY r.event_seq
                """, binds(rule, since, seq)
            ).rows.compactMap { row in
                try Self.storedEvent(row, from: 1).map { PastConsumption(consumedAt: try row.date(0), event: $0) }
            }
        }
    }

    static let storedEventColumns = "seq, message_id, received_at, body, type, name, user_key, timestamp"

    /// A row of `storedEventColumns`, starting at column `from`; nil for an unknown type (a corrupted row).
    static func storedEvent(_ row: PGRow, from i: Int = 0) throws -> StoredEvent? {
        guard let type = Event.Kind(rawValue: try row.string(i + 4)) else { return nil }
        return StoredEvent(
            seq: try row.int64(i), messageId: try row.string(i + 1), receivedAt: try row.date(i + 2), body: try row.string(i + 3), type: type,
            name: try row.stringOrNil(i + 5), userKey: try row.string(i + 6), timestamp: try row.date(i + 7))
    }
}
