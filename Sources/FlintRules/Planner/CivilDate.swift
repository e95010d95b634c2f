import Foundation

/// A proleptic Gregorian calendar date, with the day arithmetic the planner needs done by hand
/// (H. Hinnant's days-from-civil algorithms): fast, allocation-free and independent of any zone.
struct CivilDate: Hashable, Comparable, Sendable {
    var year: Int
    var month: Int
    var day: Int

    /// Days since 1970-01-01.
    var daysSinceEpoch: Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    init(daysSinceEpoch days: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        self.init(year: Int(y), month: Int(m), day: Int(d))
    }

    /// The day of the week.
    var weekday: Weekday {
        // 1970-01-01 was a Thursday (Foundation number 5).
        let r = Int(((daysSinceEpoch + 4) % 7 + 7) % 7)
        return Weekday(gregorianNumber: r + 1)!
    }

    func adding(days: Int) -> CivilDate { CivilDate(daysSinceEpoch: daysSinceEpoch + Int64(days)) }

    static func < (lhs: CivilDate, rhs: CivilDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }
}

/// A wall clock: a date and the seconds since its midnight.
struct WallClock: Hashable, Sendable {
    var date: CivilDate
    var secondsOfDay: Int

    var timeOfDay: TimeOfDay { TimeOfDay(hour: secondsOfDay / 3600, minute: secondsOfDay / 60 % 60, second: secondsOfDay % 60) }

    /// Seconds since 1970-01-01T00:00 of this wall clock read as if it were UTC.
    var localSeconds: Int64 { date.daysSinceEpoch * 86_400 + Int64(secondsOfDay) }

    init(date: CivilDate, secondsOfDay: Int) {
        self.date = date
        self.secondsOfDay = secondsOfDay
    }

    init(localSeconds: Int64) {
        let days = localSeconds >= 0 ? localSeconds / 86_400 : (localSeconds - 86_399) / 86_400
        self.init(date: CivilDate(daysSinceEpoch: days), secondsOfDay: Int(localSeconds - days * 86_400))
    }
}
