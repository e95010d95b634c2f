import Foundation
import GRDB

/// Reads a store's file directly with SQL, through a connection of its own, to check what is really
/// on disk (the store's API could hide a leftover row).
func inspect<T>(_ path: String, _ body: (Database) throws -> T) throws -> T {
    var config = Configuration()
    config.readonly = true
    let queue = try DatabaseQueue(path: path, configuration: config)
    return try queue.read(body)
}

/// Row counts of every table of the ledger.
func tableCounts(_ path: String) throws -> [String: Int] {
    try inspect(path) { db in
        var counts: [String: Int] = [:]
        for table in ["events", "rejected_events", "profiles", "rule_versions", "runs", "outbox", "once_per"] {
            counts[table] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0
        }
        return counts
    }
}
