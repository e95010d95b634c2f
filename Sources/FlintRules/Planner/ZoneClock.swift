import Foundation

/// Reads instants as wall clocks in one zone, and resolves wall clocks back to instants with
/// DESIGN.md's rule: a wall clock in a DST gap moves forward by the gap (02:30 -> 03:30); one in an
/// overlap takes the earlier instant. Instants are whole seconds since 1970 (`Int64`).
struct ZoneClock {
    /// How a wall clock became an instant.
    struct Resolution {
        var instant: Int64
        /// The wall clock does not exist (DST gap): how far it was moved forward, else 0.
        var gapShift: Int
        /// The wall clock occurs twice (DST overlap): the later occurrence that was not taken.
        var overlapLater: Int64?
    }

    let zone: TimeZone
    private let calendar: Calendar

    init(_ zone: TimeZone) {
        self.zone = zone
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        self.calendar = calendar
    }

    /// The zone's offset from UTC at an instant, in seconds.
    func offset(at instant: Int64) -> Int {
        zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant)))
    }

    /// The wall clock of an instant in this zone.
    func wallClock(_ instant: Int64) -> WallClock {
        WallClock(localSeconds: instant + Int64(offset(at: instant)))
    }

    /// Resolves a date at a time of day in this zone.
    ///
    /// `Calendar.date(from:)` implements exactly the gap/overlap rule (PLATFORM.md, "Time zones");
    /// the gap and overlap are then detected from the zone's offsets so the ledger can say so.
    func resolve(_ date: CivilDate, at secondsOfDay: Int) -> Resolution {
        let wanted = WallClock(date: date, secondsOfDay: secondsOfDay)
        let components = DateComponents(
            year: date.year, month: date.month, day: date.day,
            hour: secondsOfDay / 3600, minute: secondsOfDay / 60 % 60, second: secondsOfDay % 60)
        let instant: Int64
        if let resolved = calendar.date(from: components) {
            instant = Int64(resolved.timeIntervalSince1970.rounded(.up))
        } else {
            // Not expected for Gregorian dates; fall back to the offset at the naive instant.
            let naive = wanted.localSeconds
            instant = naive - Int64(offset(at: naive - Int64(offset(at: naive))))
        }
        let offsetThere = offset(at: instant)
        let gapShift = Int(instant + Int64(offsetThere) - wanted.localSeconds)
        var overlapLater: Int64?
        if gapShift == 0 {
            // A fall-back transition shortly after `instant` repeats this wall clock under the
            // smaller offset; DST changes are at most 2 h, so 6 h ahead is past any such transition.
            let offsetAfter = offset(at: instant + 6 * 3600)
            if offsetAfter < offsetThere {
                let later = wanted.localSeconds - Int64(offsetAfter)
                if later > instant, offset(at: later) == offsetAfter { overlapLater = later }
            }
        }
        return Resolution(instant: instant, gapShift: gapShift, overlapLater: overlapLater)
    }

    func resolve(_ date: CivilDate, at time: TimeOfDay) -> Resolution { resolve(date, at: time.secondsOfDay) }
}
