import Foundation

/// ISO 8601 timestamps as events carry them and Braze expects them.
///
/// Hand-written rather than `ISO8601DateFormatter`: events arrive with and without fractional
/// seconds (Segment SDKs send milliseconds), with `Z` or any offset, and parsing sits on the hot
/// path of ingest.
public enum Timestamp {
    /// Parses `YYYY-MM-DDTHH:MM[:SS[.fff]](Z|±HH:MM|±HHMM|±HH)`; a space may replace the `T`.
    /// Returns nil when malformed or out of range.
    public static func parse(_ text: String) -> Date? {
        var copy = text
        return copy.withUTF8 { parse(utf8: $0) }
    }

    static func parse(utf8 s: UnsafeBufferPointer<UInt8>) -> Date? {
        var i = 0
        let n = s.count
        func digits(_ count: Int) -> Int? {
            guard i + count <= n else { return nil }
            var v = 0
            for k in 0..<count {
                let c = s[i + k]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            i += count
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < n, s[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(45), let month = digits(2), expect(45), let day = digits(2) else { return nil }
        guard i < n, s[i] == 84 || s[i] == 116 || s[i] == 32 else { return nil }  // T t space
        i += 1
        guard let hour = digits(2), expect(58), let minute = digits(2) else { return nil }
        var second = 0
        var nanos = 0
        if expect(58) {
            guard let sec = digits(2) else { return nil }
            second = sec
            if i < n, s[i] == 46 || s[i] == 44 {  // . or ,
                i += 1
                var scale = 100_000_000
                var count = 0
                while i < n, s[i] >= 48, s[i] <= 57 {
                    if scale > 0 {
                        nanos += Int(s[i] - 48) * scale
                        scale /= 10
                    }
                    i += 1
                    count += 1
                }
                guard count > 0 else { return nil }
            }
        }
        var offset = 0
        guard i < n else { return nil }  // an offset or Z is required: a bare local time is ambiguous
        if s[i] == 90 || s[i] == 122 {  // Z z
            i += 1
        } else if s[i] == 43 || s[i] == 45 {  // + -
            let sign = s[i] == 45 ? -1 : 1
            i += 1
            guard let oh = digits(2) else { return nil }
            var om = 0
            if i < n {
                _ = expect(58)
                guard let m = digits(2) else { return nil }
                om = m
            }
            guard oh <= 23, om <= 59 else { return nil }
            offset = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == n else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month),
            hour <= 23, minute <= 59, second <= 60
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Date(timeIntervalSince1970: Double(secs) + Double(nanos) / 1e9)
    }

    /// `2026-11-30T18:00:00Z`, whole seconds (fractions are dropped), UTC.
    public static func formatUTC(_ date: Date) -> String {
        let secs = Int(date.timeIntervalSince1970.rounded(.down))
        return formatUTC(epochSeconds: secs, fraction: nil)
    }

    /// `2026-11-30T18:00:00.250Z`: milliseconds, UTC (for ledgers and listings).
    public static func formatUTCMillis(_ date: Date) -> String {
        let ms = Int((date.timeIntervalSince1970 * 1000).rounded(.down))
        let secs = Int((Double(ms) / 1000).rounded(.down))
        return formatUTC(epochSeconds: secs, fraction: ms - secs * 1000)
    }

    private static func formatUTC(epochSeconds: Int, fraction: Int?) -> String {
        let days = Int((Double(epochSeconds) / 86_400).rounded(.down))
        let rem = epochSeconds - days * 86_400
        let (y, m, d) = civilFromDays(days)
        var out = "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(rem / 3600, 2)):\(pad(rem % 3600 / 60, 2)):\(pad(rem % 60, 2))"
        if let fraction { out += ".\(pad(fraction, 3))" }
        return out + "Z"
    }

    static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
