import Foundation
import Synchronization

/// A zone's UTC offsets as a table of transitions, so the planner reads an offset with a binary
/// search instead of a call into ICU (which costs about a microsecond on Linux).
///
/// Built once per zone from Foundation's own rules (`nextDaylightSavingTimeTransition`, which reports
/// every offset change) for 1900-2200; outside that range the table falls back to Foundation.
/// Tables are immutable facts about a zone, so they are memoised process-wide.
final class ZoneTable: Sendable {
    let zone: TimeZone
    /// Instants (seconds since 1970) at which the offset changes, ascending.
    private let transitions: [Int64]
    /// offsets[i] applies before transitions[i]; offsets[transitions.count] after the last one.
    private let offsets: [Int32]
    private let start: Int64
    private let end: Int64

    private static let cache = Mutex<[String: ZoneTable]>([:])

    /// The table for a zone, built on first use.
    static func table(for zone: TimeZone) -> ZoneTable {
        if let hit = cache.withLock({ $0[zone.identifier] }) { return hit }
        let table = ZoneTable(zone)
        return cache.withLock { tables in
            if let raced = tables[zone.identifier] { return raced }
            tables[zone.identifier] = table
            return table
        }
    }

    private init(_ zone: TimeZone) {
        self.zone = zone
        start = -2_208_988_800  // 1900-01-01
        end = 7_258_118_400  // 2200-01-01
        var transitions: [Int64] = []
        var offsets: [Int32] = [Int32(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(start))))]
        var cursor = Date(timeIntervalSince1970: TimeInterval(start))
        while let next = zone.nextDaylightSavingTimeTransition(after: cursor), next.timeIntervalSince1970 < TimeInterval(end) {
            let instant = Int64(next.timeIntervalSince1970.rounded(.down))
            let offset = Int32(zone.secondsFromGMT(for: next))
            if offset != offsets.last {
                transitions.append(instant)
                offsets.append(offset)
            }
            guard next > cursor else { break }
            cursor = next
        }
        self.transitions = transitions
        self.offsets = offsets
    }

    /// The offset from UTC, in seconds, at an instant.
    func offset(at instant: Int64) -> Int {
        guard instant >= start, instant < end else {
            return zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant)))
        }
        // The number of transitions at or before `instant`.
        var low = 0, high = transitions.count
        while low < high {
            let mid = (low + high) / 2
            if transitions[mid] <= instant { low = mid + 1 } else { high = mid }
        }
        return Int(offsets[low])
    }
}
