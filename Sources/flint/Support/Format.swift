import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

/// How tables print values: one time format (ISO 8601, `Z` for UTC, the offset in any other zone),
/// ages, and cells cut to a width unless `--wide`.
enum Format {
    /// `2026-11-29T18:05:00Z` in UTC (the default), `2026-11-29T10:05:00-08:00` in another zone.
    static func time(_ date: Date?, zone: TimeZone? = nil) -> String {
        guard let date else { return "-" }
        guard let zone, !isUTC(zone) else { return Timestamp.formatUTC(date) }
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let offset = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(seconds)))
        let wall = Timestamp.formatUTC(Date(timeIntervalSince1970: Double(seconds + offset)))
        let sign = offset < 0 ? "-" : "+"
        let a = abs(offset)
        return String(wall.dropLast()) + sign + pad(a / 3600) + ":" + pad(a % 3600 / 60)
    }

    /// The zone a column header names: `UTC`, or the zone's name (`America/Los_Angeles`).
    static func zoneLabel(_ zone: TimeZone?) -> String {
        guard let zone, !isUTC(zone) else { return "UTC" }
        return zone.identifier
    }

    static func isUTC(_ zone: TimeZone) -> Bool {
        ["UTC", "GMT", "Etc/UTC", "Etc/GMT", "Etc/Universal", "Etc/Zulu", "Universal", "Zulu"].contains(zone.identifier)
    }

    private static func pad(_ v: Int) -> String { v < 10 ? "0\(v)" : String(v) }

    /// `3m`, `2h10m`, `4d`: how long ago (or ahead, with `in `).
    static func age(_ date: Date, now: Date = Date()) -> String {
        let seconds = Int(now.timeIntervalSince(date))
        let text = DurationText.format(seconds: abs(seconds) < 60 ? abs(seconds) : abs(seconds) / 60 * 60)
        return seconds >= 0 ? text + " ago" : "in " + text
    }

    static func truncate(_ s: String, _ width: Int) -> String {
        s.count <= width ? s : String(s.prefix(max(0, width - 1))) + "…"
    }

    /// A table cell: cut to `width` with `…`, or whole under `--wide`.
    static func cell(_ s: String, _ width: Int, wide: Bool) -> String {
        wide ? s : truncate(s, width)
    }
}

/// When a planned send goes out, as Braze will read it. A plain send has an instant; an
/// `in_local_time` send goes out at a wall clock in each user's zone; an `at_optimal_time` send has
/// only a date (Braze picks the hour). The run's `schedule` object says which (docs/braze.md).
struct SendTime: Equatable {
    enum Mode: String {
        case utc, local, optimal
    }

    var mode: Mode
    /// The instant Flint planned (what a plain send uses).
    var instant: Date?
    /// The schedule's `time` without offset: the wall clock (local) or midnight of the date (optimal).
    var wall: String?

    init(mode: Mode, instant: Date?, wall: String?) {
        self.mode = mode
        self.instant = instant
        self.wall = wall
    }

    /// From a run's (or outbox row's) `send_at` and `schedule` object.
    init(sendAt: Date?, schedule: JSONValue?) {
        let time = schedule?["time"]?.stringValue
        if schedule?["at_optimal_time"] == .bool(true) {
            self.init(mode: .optimal, instant: sendAt, wall: time)
        } else if schedule?["in_local_time"] == .bool(true) {
            self.init(mode: .local, instant: sendAt, wall: time)
        } else {
            self.init(mode: .utc, instant: sendAt, wall: nil)
        }
    }

    /// `2026-12-01`: the date of an optimal or local send.
    var date: String? { wall.map { String($0.prefix(10)) } }

    /// `10:00:00`: the wall clock of a local send.
    var clock: String? {
        guard let wall, wall.count >= 19 else { return nil }
        let t = wall.index(wall.startIndex, offsetBy: 11)
        return String(wall[t..<wall.index(t, offsetBy: 8)])
    }

    /// For a SEND AT column: `2026-11-30T18:00:00Z` (or in `--zone`), `2026-11-30T10:00:00 (local)`,
    /// `2026-12-01 (optimal)`.
    func cell(zone: TimeZone? = nil) -> String {
        switch mode {
        case .utc: return Format.time(instant, zone: zone)
        case .local: return wall.map { "\($0) (local)" } ?? Format.time(instant, zone: zone)
        case .optimal: return date.map { "\($0) (optimal)" } ?? Format.time(instant, zone: zone)
        }
    }

    /// In words, for `runs show` and `rules test`: `2026-11-30T18:00:00Z`, `10:00:00 on 2026-11-30
    /// in each user's zone (in_local_time)`, `2026-12-01, Braze picks the hour (at_optimal_time)`.
    func sentence(zone: TimeZone? = nil) -> String {
        switch mode {
        case .utc:
            return Format.time(instant, zone: zone)
        case .local:
            guard let date, let clock else { return Format.time(instant, zone: zone) }
            return "\(clock) on \(date) in each user's zone (in_local_time)"
        case .optimal:
            guard let date else { return Format.time(instant, zone: zone) }
            return "\(date), Braze picks the hour (at_optimal_time)"
        }
    }

    /// A run's reason as a table shows it: `planned: 2026-12-01T00:00:00` of an optimal send reads
    /// `planned for 2026-12-01, Braze picks the hour`; of a local send `planned: 10:00:00 on
    /// 2026-11-30 in each user's zone`. Other reasons of such runs get the same note appended.
    func reason(_ reason: String, status: String) -> String {
        guard mode != .utc, let date else { return reason }
        let planning = ["pending", "scheduled", "shadow", "unknown"].contains(status)
        let planned = wall.map { "planned: " + $0 }
        switch mode {
        case .optimal:
            if reason == planned || reason == "planned" { return "planned for \(date), Braze picks the hour" }
            return planning && !reason.contains("Braze picks the hour")
                ? reason + " (\(date), Braze picks the hour)" : reason
        case .local:
            guard let clock else { return reason }
            if reason == planned || reason == "planned" { return "planned: \(clock) on \(date) in each user's zone" }
            return planning && !reason.contains("in each user's zone")
                ? reason + " (\(clock) on \(date) in each user's zone)" : reason
        case .utc:
            return reason
        }
    }
}

extension RunRecord {
    var sendTime: SendTime { SendTime(sendAt: sendAt, schedule: schedule) }
}
