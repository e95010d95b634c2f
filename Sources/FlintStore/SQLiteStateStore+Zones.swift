import FlintCore
import Foundation
import GRDB

extension SQLiteStateStore {
    /// Zone names runs ignored because they are not in the tz database (`unknown_zones`), most runs first.
    public func unknownZones() async throws -> [UnknownZoneCount] {
        try await read { db in
            // A store opened read-only before the v4-zones migration ran has no such table: nothing counted.
            guard try db.tableExists("unknown_zones") else { return [] }
            return try Row.fetchAll(db, sql: "SELECT zone, runs, last_seen, last_user FROM unknown_zones ORDER BY runs DESC, zone")
                .map { row in
                    UnknownZoneCount(zone: row[0], runs: row[1], lastSeen: Date(timeIntervalSince1970: row[2]), lastUser: row[3])
                }
        }
    }
}

extension SQLiteTransaction {
    mutating func noteUnknownZone(_ zone: String, user: String, at: Date) throws {
        let upsert = try HotStatement(
            db,
            """
            INSERT INTO unknown_zones (zone, runs, last_seen, last_user) VALUES (?, 1, ?, ?)
            ON CONFLICT (zone) DO UPDATE SET runs = runs + 1, last_seen = excluded.last_seen, last_user = excluded.last_user
            """)
        upsert.bind(1, zone)
        upsert.bind(2, at.timeIntervalSince1970)
        upsert.bind(3, user)
        try upsert.execute()
    }
}
