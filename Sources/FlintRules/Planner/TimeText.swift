import Foundation

/// Hand-written formatting of dates and times for Braze and for step messages (no DateFormatter:
/// the planner is on the hot path).
enum TimeText {
    /// `yyyy-MM-dd'T'HH:mm:ss'Z'`, the instant in UTC.
    static func utc(_ instant: Int64) -> String {
        var out = local(WallClock(localSeconds: instant))
        out.append("Z")
        return out
    }

    /// `yyyy-MM-dd'T'HH:mm:ss`, a wall clock without offset.
    static func local(_ clock: WallClock) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(20)
        appendDate(clock.date, to: &bytes)
        bytes.append(UInt8(ascii: "T"))
        appendTime(clock.secondsOfDay, seconds: true, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `yyyy-MM-dd`.
    static func date(_ date: CivilDate) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(10)
        appendDate(date, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `HH:mm`, or `HH:mm:ss` when the seconds are not zero.
    static func time(_ secondsOfDay: Int) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8)
        appendTime(secondsOfDay, seconds: secondsOfDay % 60 != 0, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `yyyy-MM-dd HH:mm` (seconds when not zero), for messages.
    static func wall(_ clock: WallClock) -> String { date(clock.date) + " " + time(clock.secondsOfDay) }

    /// A duration as rules write it (`1h`, `30m`).
    static func duration(_ seconds: Int) -> String {
        seconds < 0 ? "-" + DurationText.format(seconds: -seconds) : DurationText.format(seconds: seconds)
    }

    /// `UTC+05:30` style offset, for messages.
    static func offset(_ seconds: Int) -> String {
        let sign = seconds < 0 ? "-" : "+"
        let a = abs(seconds)
        var bytes: [UInt8] = Array("UTC\(sign)".utf8)
        appendTime(a % 86_400, seconds: a % 60 != 0, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func appendDate(_ date: CivilDate, to bytes: inout [UInt8]) {
        var year = date.year
        if year < 0 {
            bytes.append(UInt8(ascii: "-"))
            year = -year
        }
        if year > 9999 {
            bytes.append(contentsOf: Array(String(year).utf8))
        } else {
            append(year, width: 4, to: &bytes)
        }
        bytes.append(UInt8(ascii: "-"))
        append(date.month, width: 2, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        append(date.day, width: 2, to: &bytes)
    }

    private static func appendTime(_ secondsOfDay: Int, seconds: Bool, to bytes: inout [UInt8]) {
        append(secondsOfDay / 3600, width: 2, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        append(secondsOfDay / 60 % 60, width: 2, to: &bytes)
        if seconds {
            bytes.append(UInt8(ascii: ":"))
            append(secondsOfDay % 60, width: 2, to: &bytes)
        }
    }

    private static func append(_ value: Int, width: Int, to bytes: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var v = value
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(v / divisor))
            v %= divisor
            divisor /= 10
        }
    }
}
