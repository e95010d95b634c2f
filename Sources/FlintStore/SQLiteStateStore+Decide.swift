import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation
import GRDB

/// The reads the decider makes off the writer (docs/architecture.md, The pipeline): where it stands,
/// the events it catches up on, the profiles its pure evaluation starts from.
extension SQLiteStateStore {
    public func decideProgress() async throws -> DecideProgress {
        try await read { db in
            let decided = try Int64.fetchOne(db, sql: "SELECT decided_through FROM decide_position WHERE id = 1") ?? 0
            let last = try Int64.fetchOne(db, sql: "SELECT seq FROM events ORDER BY seq DESC LIMIT 1") ?? 0
            return DecideProgress(decidedThrough: decided, lastAccepted: last)
        }
    }

    public func loggedEvents(after seq: Int64, limit: Int) async throws -> [LoggedEvent] {
        try await read { db in
            let rows = try Row.fetchCursor(
                db, sql: "SELECT seq, message_id, received_at, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit])
            var events: [LoggedEvent] = []
            while let row = try rows.next() {
                let receivedAt = Date(timeIntervalSince1970: row[2])
                let messageId: String = row[1]
                let body = try Self.parseJSON(row[3])
                // Stored events were checked when accepted; one that no longer decodes (a corrupted
                // row) is passed over rather than stopping every decision behind it.
                guard case .success(let event) = Event.decode(body, receivedAt: receivedAt, fallbackMessageId: messageId) else { continue }
                events.append(LoggedEvent(seq: row[0], event: event, receivedAt: receivedAt))
            }
            return events
        }
    }

    public func profiles(for userKeys: [String]) async throws -> [String: UserProfile] {
        if userKeys.isEmpty { return [:] }
        return try await read { db in
            var found: [String: UserProfile] = [:]
            var start = 0
            while start < userKeys.count {
                let slice = userKeys[start..<min(start + 500, userKeys.count)]
                let marks = Array(repeating: "?", count: slice.count).joined(separator: ",")
                for row in try Row.fetchAll(
                    db, sql: "SELECT user_key, traits, time_zone FROM profiles WHERE user_key IN (\(marks))", arguments: StatementArguments(Array(slice)))
                {
                    let traits: String = row[1]
                    found[row[0]] = UserProfile(traits: try Self.parseJSON(traits), timeZone: row[2])
                }
                start += slice.count
            }
            return found
        }
    }

    /// Events after the decided position, and the receive time of the first (`flint status`).
    static func decisionBacklog(_ db: Database) throws -> (count: Int, oldest: Date?) {
        let decided = try Int64.fetchOne(db, sql: "SELECT decided_through FROM decide_position WHERE id = 1") ?? 0
        let row = try Row.fetchOne(db, sql: "SELECT count(*), min(received_at) FROM events WHERE seq > ?", arguments: [decided])
        let oldest: Double? = row?[1]
        return (row?[0] ?? 0, oldest.map { Date(timeIntervalSince1970: $0) })
    }
}
