import Foundation

/// An ISO 8601 date-time as Braze's `schedule.time` carries it, read strictly:
/// `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM|±HHMM|±HH]` (seconds may be left out).
///
/// The offset is kept apart because its presence is what the schedule flags are about: an instant
/// needs one, a local wall clock or an optimal-time date must not have one (docs/braze.md).
struct SandboxTime: Sendable, Hashable {
    var year: Int
    var month: Int
    var day: Int
    var hour: Int
    var minute: Int
    var second: Int
    var nanosecond: Int
    /// Seconds east of UTC; nil when the text has neither `Z` nor an offset.
    var offsetSeconds: Int?

    /// True when the time of day is exactly midnight.
    var isMidnight: Bool { hour == 0 && minute == 0 && second == 0 && nanosecond == 0 }

    /// Reads `text`, or nil when it is not such a date-time.
    static func parse(_ text: String) -> SandboxTime? {
        let s = Array(text.utf8)
        var i = 0
        func digits(_ count: Int) -> Int? {
            guard i + count <= s.count else { return nil }
            var value = 0
            for k in i..<(i + count) {
                guard s[k] >= 48, s[k] <= 57 else { return nil }
                value = value * 10 + Int(s[k] - 48)
            }
            i += count
            return value
        }
        func expect(_ byte: UInt8) -> Bool {
            guard i < s.count, s[i] == byte else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(UInt8(ascii: "-")), let month = digits(2), expect(UInt8(ascii: "-")),
            let day = digits(2), expect(UInt8(ascii: "T")), let hour = digits(2), expect(UInt8(ascii: ":")),
            let minute = digits(2)
        else { return nil }
        var second = 0
        var nanosecond = 0
        if expect(UInt8(ascii: ":")) {
            guard let value = digits(2) else { return nil }
            second = value
            if expect(UInt8(ascii: ".")) {
                var scale = 100_000_000
                var count = 0
                while i < s.count, s[i] >= 48, s[i] <= 57 {
                    nanosecond += Int(s[i] - 48) * scale
                    scale /= 10
                    count += 1
                    i += 1
                    if count > 9 { return nil }
                }
                guard count > 0 else { return nil }
            }
        }
        var offset: Int?
        if expect(UInt8(ascii: "Z")) {
            offset = 0
        } else if i < s.count, s[i] == UInt8(ascii: "+") || s[i] == UInt8(ascii: "-") {
            let sign = s[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let hours = digits(2) else { return nil }
            var minutes = 0
            if i < s.count {
                _ = expect(UInt8(ascii: ":"))
                guard let value = digits(2) else { return nil }
                minutes = value
            }
            guard hours <= 14, minutes <= 59 else { return nil }
            offset = sign * (hours * 3600 + minutes * 60)
        }
        guard i == s.count else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month), hour <= 23, minute <= 59,
            second <= 59
        else { return nil }
        return SandboxTime(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second, nanosecond: nanosecond,
            offsetSeconds: offset)
    }

    /// The instant this names: with its own offset, or read as a wall clock in `zone` when it has
    /// none. A wall clock in a DST gap moves forward by the gap; one in an overlap takes the earlier
    /// instant (Foundation's behaviour, as docs/architecture.md, The planner).
    func instant(in zone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        if let offsetSeconds {
            guard let fixed = TimeZone(secondsFromGMT: offsetSeconds) else { return nil }
            calendar.timeZone = fixed
        } else {
            calendar.timeZone = zone
        }
        let components = DateComponents(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second, nanosecond: nanosecond)
        return calendar.date(from: components)
    }

    /// The same wall clock read in UTC (an offset, if any, is ignored).
    var wallClockAsUTC: Date? {
        var copy = self
        copy.offsetSeconds = 0
        return copy.instant(in: TimeZone(secondsFromGMT: 0)!)
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
