import Foundation

/// The send-time planner: docs/architecture.md, The planner, steps 1 to 7.
///
/// A pure function of its input: no clock reads, no I/O, no shared state. All arithmetic is on whole
/// seconds since 1970; T and N are rounded up to whole seconds first, which gives the same answer as
/// rounding C up at the end ("Times are whole seconds, rounded up", step 6) because every instant
/// the steps compare C with is itself whole, and it keeps a rounded-up C out of the quiet hours.
public enum Planner {
    /// Braze refuses schedules further ahead than this (docs/braze.md, Schedules).
    public static let horizonSeconds = 90 * 86_400
    /// `at_optimal_time` schedules should be created this long before the date (docs/braze.md, Schedules).
    public static let optimalNoticeSeconds = 48 * 3_600

    /// Plans one send.
    public static func plan(_ input: PlannerInput) -> Plan {
        var run = PlannerRun(input: input)
        return run.plan()
    }

    /// Plans again a send whose C is earlier than the dispatch time + L when it is dispatched
    /// (docs/architecture.md, The planner: "planned again from step 3 with N = the dispatch time"). Steps 1 and 2 depend
    /// only on T, the schedule and Z, so planning from scratch with N = the dispatch time is the same.
    public static func replan(_ input: PlannerInput, dispatchTime: Date) -> Plan {
        var again = input
        again.now = dispatchTime
        return plan(again)
    }
}

/// One planning pass: the input, and the steps recorded so far.
private struct PlannerRun {
    let input: PlannerInput
    var steps: [PlanStep] = []

    init(input: PlannerInput) {
        self.input = input
        steps.reserveCapacity(6)
    }

    mutating func plan() -> Plan {
        let spec = input.schedule

        // Z = Zu ?? Zd for `time_zone: user`, else the named zone.
        let zone: TimeZone
        switch spec.timeZone {
        case .user:
            if let userZone = input.userZone {
                zone = userZone
                record(.zone, "wall clocks read in \(Self.name(userZone)), the user's zone")
            } else {
                zone = input.defaultZone
                record(.zone, "wall clocks read in \(Self.name(zone)), the default zone (the user's zone is unknown)")
            }
        case .named(let name):
            guard let named = ZoneName.resolve(name) else {
                return finish(.fail(reason: "schedule.time_zone: \(ZoneName.problem(name))"), zone: input.defaultZone)
            }
            zone = named
            record(.zone, "wall clocks read in \(name), named by the rule")
        }
        if spec.inLocalTime && spec.atOptimalTime {
            return finish(.fail(reason: "in_local_time and at_optimal_time are mutually exclusive"), zone: zone)
        }
        let clock = ZoneClock(zone)
        let zoneName = Self.name(zone)
        let now = Self.wholeSeconds(input.now)
        let earliest = now + Int64(input.lead)

        // 1. B = T + after (elapsed time).
        let eventTime = Self.wholeSeconds(input.eventTime)
        var c = eventTime + Int64(spec.after ?? 0)
        if let after = spec.after, after != 0 {
            record(.delay, "after \(TimeText.duration(after)) from the event at \(TimeText.utc(eventTime)): \(TimeText.utc(c))", c)
        }

        // 2. The first `at` on an allowed weekday at or after B.
        if let at = spec.at {
            let b = c
            var date = clock.wallClock(b).date
            var skipped: [CivilDate] = []
            var chosen: (date: CivilDate, resolution: ZoneClock.Resolution)?
            for _ in 0..<16 {
                let resolution = clock.resolve(date, at: at)
                if resolution.instant >= b {
                    if isAllowed(date) {
                        chosen = (date, resolution)
                        break
                    }
                    skipped.append(date)
                }
                date = date.adding(days: 1)
            }
            guard let chosen else {
                return finish(.fail(reason: "no allowed weekday for at \(TimeText.time(at.secondsOfDay)) in \(zoneName)"), zone: zone)
            }
            c = chosen.resolution.instant
            let wall = clock.wallClock(c)
            record(.at, "at \(TimeText.time(at.secondsOfDay)) in \(zoneName)\(spec.after == nil ? "" : " (the first after the delay)"): \(TimeText.wall(wall)) (\(TimeText.utc(c)))", c)
            if !skipped.isEmpty {
                record(.weekday, "on \(Self.describe(spec.on)): skipped \(skipped.map { "\($0.weekday.rawValue) \(TimeText.date($0))" }.joined(separator: ", "))", c)
            }
            recordDST(chosen.resolution, date: chosen.date, time: at.secondsOfDay, clock: clock, what: "at")
        }

        // 3. Late.
        if c < earliest {
            switch spec.ifLate {
            case .skip:
                let reason = "late: the send time \(TimeText.utc(c)) is before now + lead (\(TimeText.utc(earliest))) and if_late is skip"
                record(.skippedLate, reason, c)
                return finish(.skip(reason: reason), zone: zone)
            case .sendNow:
                record(.late, "late: the send time \(TimeText.utc(c)) is before now + lead; sending at now + lead, \(TimeText.utc(earliest))", earliest)
                c = earliest
            }
        }

        // 4. Quiet hours: move to the next `to`. Weekdays are not re-checked.
        if let quiet = spec.quietHours, quiet.from != quiet.to {
            let wall = clock.wallClock(c)
            if quiet.contains(wall.timeOfDay) {
                var date = wall.secondsOfDay < quiet.to.secondsOfDay ? wall.date : wall.date.adding(days: 1)
                var resolution = clock.resolve(date, at: quiet.to)
                // In a DST overlap the earlier `to` can lie before C; the next `to` is then the later one.
                if resolution.instant <= c, let later = resolution.overlapLater, later > c {
                    resolution.instant = later
                    resolution.overlapLater = nil
                }
                while resolution.instant <= c {
                    date = date.adding(days: 1)
                    resolution = clock.resolve(date, at: quiet.to)
                }
                let moved = clock.wallClock(resolution.instant)
                record(
                    .quietHours,
                    "quiet hours \(TimeText.time(quiet.from.secondsOfDay))-\(TimeText.time(quiet.to.secondsOfDay)) in \(zoneName): "
                        + "moved from \(TimeText.time(wall.secondsOfDay)) to \(TimeText.time(moved.secondsOfDay))\(Self.relativeDay(moved.date, from: wall.date))",
                    resolution.instant)
                recordDST(resolution, date: date, time: quiet.to.secondsOfDay, clock: clock, what: "quiet hours end")
                c = resolution.instant
            }
        }

        // 5. Horizon.
        if let failure = checkHorizon(c, now: now) { return finish(failure, zone: zone) }

        // 6. What Braze receives.
        if spec.atOptimalTime {
            let date = clock.wallClock(c).date
            let midnight = clock.resolve(date, at: 0).instant
            if midnight - now < Int64(Planner.optimalNoticeSeconds) {
                record(
                    .optimalNotice,
                    "at_optimal_time: midnight of \(TimeText.date(date)) in \(zoneName) is less than 48 hours after now; "
                        + "Braze computes optimal times ahead and may miss users whose optimal time has passed ", c)
            }
            let time = TimeText.local(WallClock(date: date, secondsOfDay: 0))
            return finish(.send(schedule: BrazeSchedule(time: time, atOptimalTime: true), sendAt: Self.date(c)), zone: zone)
        }
        if spec.inLocalTime {
            // The wall clock kept is C's own, which after a late send_now is N + L's (not `at`), and the
            // date moves to the next ALLOWED weekday, not the next day: planner-vectors.json pins both
            // (#183, #215, #244, #388). Re-checking the horizon after a roll-forward is this planner's
            // reading of "refuse to plan further than 90 days" (docs/braze.md, Schedules); no vector reaches that case.
            var wall = clock.wallClock(c)
            let first = wall
            var passedIn: [String] = []
            var rolls = 0
            while true {
                let passed = localTimePassed(wall, earliest: earliest)
                if passed.isEmpty { break }
                if passedIn.isEmpty { passedIn = passed }
                if spec.ifLate == .skip {
                    let reason = "in_local_time: \(TimeText.local(wall)) has already passed in \(passed.joined(separator: " and ")) "
                        + "at now + lead (\(TimeText.utc(earliest))) and if_late is skip"
                    record(.skippedLate, reason, c)
                    return finish(.skip(reason: reason), zone: zone)
                }
                rolls += 1
                guard rolls <= 64 else {
                    return finish(.fail(reason: "in_local_time: found no date on which \(TimeText.time(wall.secondsOfDay)) is still ahead"), zone: zone)
                }
                repeat { wall.date = wall.date.adding(days: 1) } while !isAllowed(wall.date)
            }
            if rolls > 0 {
                c = clock.resolve(wall.date, at: wall.secondsOfDay).instant
                record(
                    .rollForward,
                    "in_local_time: \(TimeText.local(first)) had already passed in \(passedIn.joined(separator: " and ")) "
                        + "at now + lead (\(TimeText.utc(earliest))); moved to \(TimeText.local(wall))", c)
                if let failure = checkHorizon(c, now: now) { return finish(failure, zone: zone) }
            }
            return finish(.send(schedule: BrazeSchedule(time: TimeText.local(wall), inLocalTime: true), sendAt: Self.date(c)), zone: zone)
        }
        return finish(.send(schedule: BrazeSchedule(time: TimeText.utc(c)), sendAt: Self.date(c)), zone: zone)
    }

    // MARK: - Helpers

    private func isAllowed(_ date: CivilDate) -> Bool {
        guard let on = input.schedule.on else { return true }
        return on.contains(date.weekday)
    }

    /// The zones (company, and the user's when known) in which a local-time wall clock is already
    /// before now + lead (docs/braze.md, Schedules: Braze rejects a local time already passed in the company zone).
    private func localTimePassed(_ wall: WallClock, earliest: Int64) -> [String] {
        var passed: [String] = []
        let company = input.companyZone ?? input.defaultZone
        if ZoneClock(company).resolve(wall.date, at: wall.secondsOfDay).instant < earliest {
            passed.append("\(Self.name(company)) (the company zone)")
        }
        if let user = input.userZone, ZoneClock(user).resolve(wall.date, at: wall.secondsOfDay).instant < earliest {
            passed.append("\(Self.name(user)) (the user's zone)")
        }
        return passed
    }

    private mutating func checkHorizon(_ c: Int64, now: Int64) -> PlanOutcome? {
        guard c - now > Int64(Planner.horizonSeconds) else { return nil }
        let reason = "the send time \(TimeText.utc(c)) is more than 90 days after now (\(TimeText.utc(now))); Braze does not schedule that far ahead"
        record(.horizon, reason, c)
        return .fail(reason: reason)
    }

    private mutating func recordDST(_ resolution: ZoneClock.Resolution, date: CivilDate, time: Int, clock: ZoneClock, what: String) {
        guard input.explain else { return }
        let wanted = TimeText.wall(WallClock(date: date, secondsOfDay: time))
        let zoneName = Self.name(clock.zone)
        if resolution.gapShift != 0 {
            let landed = clock.wallClock(resolution.instant)
            record(
                .dstGap,
                "\(what): \(wanted) does not exist in \(zoneName) (DST gap): moved forward by \(TimeText.duration(resolution.gapShift)) "
                    + "to \(TimeText.time(landed.secondsOfDay)) (\(TimeText.utc(resolution.instant)))", resolution.instant)
        } else if let later = resolution.overlapLater {
            record(
                .dstOverlap,
                "\(what): \(wanted) occurs twice in \(zoneName) (DST overlap): took the earlier, \(TimeText.offset(clock.offset(at: resolution.instant))) "
                    + "(\(TimeText.utc(resolution.instant)), not \(TimeText.utc(later)))", resolution.instant)
        }
    }

    /// A step; its text is built only when the plan is explained.
    private mutating func record(_ kind: PlanStep.Kind, _ message: @autoclosure () -> String, _ instant: Int64? = nil) {
        guard input.explain else { return }
        steps.append(PlanStep(kind: kind, message: message(), instant: instant.map(Self.date)))
    }

    private func finish(_ outcome: PlanOutcome, zone: TimeZone) -> Plan {
        Plan(outcome: outcome, steps: steps, zone: zone)
    }

    /// Whole seconds since 1970, rounded up.
    static func wholeSeconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.up)) }

    static func date(_ seconds: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(seconds)) }

    /// A zone's name for messages. Foundation reports `TimeZone(identifier: "UTC")` as "GMT"; rules say UTC.
    static func name(_ zone: TimeZone) -> String { ZoneName.display(zone) }

    static func describe(_ on: Set<Weekday>?) -> String {
        guard let on else { return "any day" }
        return on.sorted().map(\.rawValue).joined(separator: ", ")
    }

    static func relativeDay(_ date: CivilDate, from start: CivilDate) -> String {
        switch date.daysSinceEpoch - start.daysSinceEpoch {
        case 0: ""
        case 1: " next day"
        default: " on \(TimeText.date(date))"
        }
    }
}
