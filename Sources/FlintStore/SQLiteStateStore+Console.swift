import FlintCore
import FlintPluginAPI
import Foundation
import GRDB

/// A send planned or made, as the console's overview lists the next ones.
public struct UpcomingSend: Sendable, Hashable {
    public var runId: Int64
    public var ruleId: String
    public var user: String
    public var sendAt: Date
    /// The zone the send's wall clocks were read in (the user's, or the rule's), when it had one.
    public var zone: String?
    public var state: OutboxState

    public init(runId: Int64, ruleId: String, user: String, sendAt: Date, zone: String?, state: OutboxState) {
        self.runId = runId
        self.ruleId = ruleId
        self.user = user
        self.sendAt = sendAt
        self.zone = zone
        self.state = state
    }
}

/// How many sends of a rule, planned in one zone, fall in one quarter hour: what the console's
/// "where sends land" charts are drawn from.
public struct SendBucket: Sendable, Hashable {
    public var ruleId: String
    public var zone: String?
    /// The start of the quarter hour (UTC, a multiple of 900 s since 1970).
    public var start: Date
    /// Sends still waiting for their action (outbox `pending` or `sending`).
    public var planned: Int
    /// Sends the action accepted (outbox `sent`: Braze holds the schedule).
    public var sent: Int

    public init(ruleId: String, zone: String?, start: Date, planned: Int, sent: Int) {
        self.ruleId = ruleId
        self.zone = zone
        self.start = start
        self.planned = planned
        self.sent = sent
    }
}

/// An outbox row as the console shows it beside its run: the action's answer.
public struct OutboxDetail: Sendable, Hashable {
    public var id: Int64
    public var state: OutboxState
    public var attempts: Int
    public var lastError: String?
    public var nextAttemptAt: Date?
    public var updatedAt: Date

    public init(id: Int64, state: OutboxState, attempts: Int, lastError: String?, nextAttemptAt: Date?, updatedAt: Date) {
        self.id = id
        self.state = state
        self.attempts = attempts
        self.lastError = lastError
        self.nextAttemptAt = nextAttemptAt
        self.updatedAt = updatedAt
    }
}

/// The console's reads (docs/console.md). Each is one read transaction on a reader connection and
/// walks an index: every page answers in well under 100 ms on a million runs (BENCHMARKS.md, Console).
extension SQLiteStateStore {
    /// Runs per status created at or after `since` (all runs when nil): one range count per status
    /// on `runs_by_status (status, created_at)`, which holds both columns, so no row is read.
    public func runCounts(since: Date?) async throws -> [RunStatus: Int] {
        try await read { db in
            var counts: [RunStatus: Int] = [:]
            let statement = try db.cachedStatement(sql: "SELECT count(*) FROM runs WHERE status = ? AND created_at >= ?")
            for status in RunStatus.allCases {
                let n = try Int.fetchOne(statement, arguments: [status.rawValue, since?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude]) ?? 0
                if n > 0 { counts[status] = n }
            }
            return counts
        }
    }

    /// Per rule, runs per status created at or after `since`: one range count per rule and status on
    /// `runs_by_rule_status (rule_id, status, created_at)`, which holds all three (migration v9-console).
    public func runCountsByRule(since: Date?) async throws -> [String: [RunStatus: Int]] {
        try await read { db in
            var counts: [String: [RunStatus: Int]] = [:]
            let rules = try String.fetchAll(db, sql: "SELECT DISTINCT rule_id FROM rule_versions")
            let statement = try db.cachedStatement(sql: "SELECT count(*) FROM runs WHERE rule_id = ? AND status = ? AND created_at >= ?")
            for rule in rules {
                for status in RunStatus.allCases {
                    let n = try Int.fetchOne(statement, arguments: [rule, status.rawValue, since?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude]) ?? 0
                    if n > 0 { counts[rule, default: [:]][status] = n }
                }
            }
            return counts
        }
    }

    /// The next sends at or after `now`, soonest first: outbox rows waiting (`pending`, `sending`)
    /// or accepted by the action (`sent`), through `outbox_by_state (state, send_at)`.
    public func upcomingSends(after now: Date, limit: Int) async throws -> [UpcomingSend] {
        try await read { db in
            var sends: [UpcomingSend] = []
            let statement = try db.cachedStatement(
                sql: """
                    SELECT o.run_id, r.rule_id, r.user_key, o.send_at, o.zone, o.state FROM outbox o JOIN runs r ON r.id = o.run_id
                    WHERE o.state = ? AND o.send_at >= ? ORDER BY o.send_at LIMIT ?
                    """)
            for state in [OutboxState.pending, .sending, .sent] {
                for row in try Row.fetchAll(statement, arguments: [state.rawValue, now.timeIntervalSince1970, limit]) {
                    sends.append(
                        UpcomingSend(
                            runId: row[0], ruleId: row[1], user: row[2], sendAt: Date(timeIntervalSince1970: row[3]), zone: row[4],
                            state: state))
                }
            }
            sends.sort { ($0.sendAt, $0.runId) < ($1.sendAt, $1.runId) }
            return Array(sends.prefix(limit))
        }
    }

    /// Sends whose time lies in `[from, to)`, counted per rule, zone and quarter hour; planned
    /// (`pending`, `sending`) and sent apart. Walks `outbox_landing` (state, quarter hour, zone,
    /// rule: migration v9-console) in its order: the rule is the outbox key's first part
    /// (`rule|version|event|recipient`; a rule id has no `|`). The expressions are the index's, to
    /// the letter, or SQLite does not use it.
    public func sendBuckets(from: Date, to: Date) async throws -> [SendBucket] {
        try await read { db in
            struct Key: Hashable {
                var rule: String
                var zone: String?
                var quarter: Int64
            }
            var buckets: [Key: (planned: Int, sent: Int)] = [:]
            let statement = try db.cachedStatement(
                sql: """
                    SELECT substr(key, 1, instr(key, '|') - 1), zone, CAST(send_at / 900 AS INTEGER), count(*) FROM outbox
                    WHERE state = ? AND CAST(send_at / 900 AS INTEGER) >= ? AND CAST(send_at / 900 AS INTEGER) < ? GROUP BY 3, 2, 1
                    """)
            for state in [OutboxState.pending, .sending, .sent] {
                let first = Int64((from.timeIntervalSince1970 / 900).rounded(.down)), end = Int64((to.timeIntervalSince1970 / 900).rounded(.up))
                for row in try Row.fetchAll(statement, arguments: [state.rawValue, first, end]) {
                    let key = Key(rule: row[0], zone: row[1], quarter: row[2])
                    let n: Int = row[3]
                    if state == .sent { buckets[key, default: (0, 0)].sent += n } else { buckets[key, default: (0, 0)].planned += n }
                }
            }
            return buckets.map { key, value in
                SendBucket(
                    ruleId: key.rule, zone: key.zone, start: Date(timeIntervalSince1970: Double(key.quarter) * 900), planned: value.planned,
                    sent: value.sent)
            }.sorted { ($0.start, $0.ruleId, $0.zone ?? "") < ($1.start, $1.ruleId, $1.zone ?? "") }
        }
    }

    /// A run's outbox row (outbox.run_id is UNIQUE): its state, attempts and the action's last error.
    public func outboxDetail(runId: Int64) async throws -> OutboxDetail? {
        try await read { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT id, state, attempts, last_error, next_attempt_at, updated_at FROM outbox WHERE run_id = ?",
                    arguments: [runId])
            else { return nil }
            let state: String = row[1]
            let next: Double? = row[4]
            return OutboxDetail(
                id: row[0], state: OutboxState(rawValue: state) ?? .pending, attempts: row[2], lastError: row[3],
                nextAttemptAt: next.map { Date(timeIntervalSince1970: $0) }, updatedAt: Date(timeIntervalSince1970: row[5]))
        }
    }
}
