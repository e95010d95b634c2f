import Foundation

/// Reads instants as wall clocks in one zone, and resolves wall clocks back to instants with
/// the planner's rule (docs/architecture.md, The planner): a wall clock in a DST gap moves forward by the gap (02:30 -> 03:30); one in an
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
    private let table: ZoneTable

    init(_ zone: TimeZone) {
        self.zone = zone
        self.table = ZoneTable.table(for: zone)
    }

    /// The zone's offset from UTC at an instant, in seconds.
    func offset(at instant: Int64) -> Int {
        table.offset(at: instant)
    }

    /// The wall clock of an instant in this zone.
    func wallClock(_ instant: Int64) -> WallClock {
        WallClock(localSeconds: instant + Int64(offset(at: instant)))
    }

    /// Resolves a date at a time of day in this zone, with the planner's rule (docs/architecture.md, The planner): a wall clock in a DST gap
    /// moves forward by the gap (02:30 -> 03:30), one in an overlap takes the earlier instant. This is
    /// what `Calendar.date(from:)` does (docs/architecture.md, Time zones), computed from the offsets on
    /// either side: no offset change is closer than a day to another in any zone's rules.
    func resolve(_ date: CivilDate, at secondsOfDay: Int) -> Resolution {
        let local = WallClock(date: date, secondsOfDay: secondsOfDay).localSeconds
        let before = Int64(offset(at: local - 86_400 - 14 * 3600))
        let after = Int64(offset(at: local + 86_400 + 14 * 3600))
        let early = local - before  // the wall clock read with the offset in force before a change
        let late = local - after  // ... and after it
        let earlyValid = Int64(offset(at: early)) == before
        let lateValid = Int64(offset(at: late)) == after
        switch (earlyValid, lateValid) {
        case (true, true) where early != late:
            // Both readings exist: an overlap. Take the earlier instant.
            let first = min(early, late), second = max(early, late)
            return Resolution(instant: first, gapShift: 0, overlapLater: second)
        case (true, _):
            return Resolution(instant: early, gapShift: 0, overlapLater: nil)
        case (false, true):
            return Resolution(instant: late, gapShift: 0, overlapLater: nil)
        case (false, false):
            // Neither exists: a gap. Reading it with the earlier offset lands after the change,
            // the wall clock moved forward by the gap.
            let instant = early
            let landed = instant + Int64(offset(at: instant))
            return Resolution(instant: instant, gapShift: Int(landed - local), overlapLater: nil)
        }
    }

    func resolve(_ date: CivilDate, at time: TimeOfDay) -> Resolution { resolve(date, at: time.secondsOfDay) }
}
