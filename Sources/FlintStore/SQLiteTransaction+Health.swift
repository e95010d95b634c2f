import FlintCore
import FlintPluginAPI
import Foundation
import GRDB

extension SQLiteTransaction {
    mutating func saveServeHeartbeat(_ h: ServeHeartbeat) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO serve_health (id, pid, host, listen, started_at, last_seen, stopped_at, paused_action, paused_reason,
                    paused_since, next_probe_at, rules_loaded, rule_errors, rule_errors_since)
                VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                h.pid, h.host, h.listen, h.startedAt.timeIntervalSince1970, h.lastSeen.timeIntervalSince1970, h.stoppedAt?.timeIntervalSince1970,
                h.pause?.action, h.pause?.reason, h.pause?.since.timeIntervalSince1970, h.pause?.nextProbe.timeIntervalSince1970, h.rulesLoaded,
                JSONValue.array(h.ruleErrors.map(JSONValue.string)).compactJSON, h.ruleErrorsSince?.timeIntervalSince1970,
            ])
    }
}
