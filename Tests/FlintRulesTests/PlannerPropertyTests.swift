import Foundation
import Testing

@testable import FlintRules

/// A tiny seeded generator (SplitMix64), so every random case can be replayed from its seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("planner: properties over seeded random inputs")
struct PlannerPropertyTests {
    /// Set FLINT_PLANNER_SEED to replay another run.
    static let seed: UInt64 = ProcessInfo.processInfo.environment["FLINT_PLANNER_SEED"].flatMap { UInt64($0) } ?? 0x5EED_2026_F117
    static let count = 2_000

    /// West and east of UTC, half and three-quarter hours, 30-minute DST, midnight transitions, +14 and -11.
    static let zones = [
        "UTC", "America/Los_Angeles", "America/New_York", "America/Sao_Paulo", "America/Santiago", "America/St_Johns",
        "America/Havana", "Pacific/Honolulu", "Pacific/Pago_Pago", "Europe/London", "Europe/Paris", "Africa/Cairo",
        "Asia/Kolkata", "Asia/Kathmandu", "Asia/Tokyo", "Australia/Adelaide", "Australia/Sydney", "Australia/Lord_Howe",
        "Pacific/Chatham", "Pacific/Kiritimati",
    ].map { TimeZone(identifier: $0)! }

    /// One random case: the input, and the index it was drawn at.
    struct Case: CustomStringConvertible {
        var index: Int
        var input: PlannerInput

        var description: String {
            let s = input.schedule
            var parts = ["T=\(input.eventTime.timeIntervalSince1970)", "N=\(input.now.timeIntervalSince1970)"]
            parts.append("Zu=\(input.userZone?.identifier ?? "nil") Zd=\(input.defaultZone.identifier) Zc=\(input.companyZone?.identifier ?? "nil")")
            parts.append("after=\(s.after.map(String.init) ?? "nil") at=\(s.at.map(\.description) ?? "nil")")
            parts.append("on=\(s.on.map { $0.sorted().map(\.rawValue).joined(separator: ",") } ?? "nil") zone=\(s.timeZone)")
            parts.append("local=\(s.inLocalTime) optimal=\(s.atOptimalTime) quiet=\(s.quietHours.map { "\($0.from)-\($0.to)" } ?? "nil") if_late=\(s.ifLate.rawValue)")
            return "case #\(index): " + parts.joined(separator: " ")
        }
    }

    static func cases(seed: UInt64) -> [Case] {
        var rng = SplitMix64(seed: seed)
        let start2026 = 1_767_225_600  // 2026-01-01T00:00:00Z
        return (0..<count).map { index in
            var spec = ScheduleSpec()
            if Bool.random(using: &rng) {
                spec.after = [0, 45, 1_800, 3_600, 7_200, 86_400, 7 * 86_400, 89 * 86_400, 90 * 86_400, Int.random(in: 0...(95 * 86_400), using: &rng)]
                    .randomElement(using: &rng)!
            }
            if Int.random(in: 0..<3, using: &rng) > 0 {
                // Minutes across the day, often in the small hours where the DST changes are.
                let hour = Bool.random(using: &rng) ? Int.random(in: 0...4, using: &rng) : Int.random(in: 0...23, using: &rng)
                spec.at = TimeOfDay(hour: hour, minute: [0, 15, 30, 45, Int.random(in: 0...59, using: &rng)].randomElement(using: &rng)!)
                if Int.random(in: 0..<4, using: &rng) == 0 {
                    var days = Set(Weekday.allCases.filter { _ in Bool.random(using: &rng) })
                    if days.isEmpty { days = [Weekday.allCases.randomElement(using: &rng)!] }
                    spec.on = days
                }
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: spec.inLocalTime = true
                case 1: spec.atOptimalTime = true
                default: break
                }
            } else if Int.random(in: 0..<4, using: &rng) == 0 {
                spec.atOptimalTime = true
            }
            if Int.random(in: 0..<3, using: &rng) == 0 {
                // Realistic windows (30 min to 14 h); an `at` inside the window is a rule error, so draw again.
                for _ in 0..<20 {
                    let from = Int.random(in: 0..<96, using: &rng) * 900
                    let to = (from + Int.random(in: 2...56, using: &rng) * 900) % 86_400
                    let window = QuietHours(from: Self.time(from), to: Self.time(to))
                    if let at = spec.at, window.contains(at) { continue }
                    spec.quietHours = window
                    break
                }
            }
            if Bool.random(using: &rng) { spec.ifLate = .skip }
            if Int.random(in: 0..<4, using: &rng) == 0 { spec.timeZone = .named(zones.randomElement(using: &rng)!.identifier) }

            var t = Double(start2026 + Int.random(in: 0..<(365 * 86_400), using: &rng))
            if Int.random(in: 0..<5, using: &rng) == 0 { t += Double(Int.random(in: 1...999, using: &rng)) / 1000 }
            let lag: Double = [0, 0.25, 1, 30, 600, 7_200, 3 * 86_400, 91 * 86_400, Double(Int.random(in: 0...(100 * 86_400), using: &rng))]
                .randomElement(using: &rng)!
            let input = PlannerInput(
                eventTime: Date(timeIntervalSince1970: t), now: Date(timeIntervalSince1970: t + lag), schedule: spec,
                userZone: Bool.random(using: &rng) || Bool.random(using: &rng) ? zones.randomElement(using: &rng)! : nil,
                defaultZone: zones.randomElement(using: &rng)!,
                companyZone: Bool.random(using: &rng) ? zones.randomElement(using: &rng)! : nil,
                lead: [60, 60, 0, 300].randomElement(using: &rng)!)
            return Case(index: index, input: input)
        }
    }

    static func time(_ secondsOfDay: Int) -> TimeOfDay {
        TimeOfDay(hour: secondsOfDay / 3600, minute: secondsOfDay / 60 % 60, second: secondsOfDay % 60)
    }

    static func ceilSeconds(_ date: Date) -> Double { date.timeIntervalSince1970.rounded(.up) }

    /// The wall clock of an instant in a zone, read with Foundation's Calendar (independent of the planner's arithmetic).
    static func components(_ date: Date, in zone: TimeZone) -> DateComponents {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        return calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
    }

    static func resolve(_ text: String, in zone: TimeZone) -> Date? {
        let digits = text.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        guard digits.count == 6 else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        return calendar.date(from: DateComponents(year: digits[0], month: digits[1], day: digits[2], hour: digits[3], minute: digits[4], second: digits[5]))
    }

    @Test("every planned send respects the guarantees of the planner's steps")
    func sendGuarantees() throws {
        let seed = Self.seed
        var outcomes: [String: Int] = [:]
        for c in Self.cases(seed: seed) {
            let input = c.input
            let spec = input.schedule
            let plan = Planner.plan(input)
            let context = "seed \(seed) \(c)\n  steps: " + plan.steps.map { "[\($0.kind.rawValue)] \($0.message)" }.joined(separator: " | ")
            #expect(Planner.plan(input) == plan, "not deterministic: \(context)")
            var unexplained = input
            unexplained.explain = false
            let bare = Planner.plan(unexplained)
            #expect(bare.outcome == plan.outcome && bare.zone == plan.zone && bare.steps.isEmpty, "explaining changed the plan: \(context)")
            let kinds = Set(plan.steps.map(\.kind))
            let expectedZone: TimeZone =
                if case .named(let name) = spec.timeZone { TimeZone(identifier: name)! } else { input.userZone ?? input.defaultZone }
            #expect(plan.zone == expectedZone, "\(context)")

            switch plan.outcome {
            case .skip:
                outcomes["skip", default: 0] += 1
                #expect(spec.ifLate == .skip, "skipped without if_late: skip: \(context)")
                #expect(kinds.contains(.skippedLate), "\(context)")
            case .fail:
                outcomes["fail", default: 0] += 1
                #expect(kinds.contains(.horizon), "failed for another reason than the horizon: \(context)")
            case .send(let schedule, let sendAt):
                outcomes["send", default: 0] += 1
                let send = sendAt.timeIntervalSince1970
                let b = Self.ceilSeconds(input.eventTime) + Double(spec.after ?? 0)
                let earliest = Self.ceilSeconds(input.now) + Double(input.lead)
                // Steps 2 to 6 only ever move C later: never before B (step 1), never before N + L (step 3).
                #expect(send >= b, "sent before T + after: \(context)")
                #expect(send >= earliest, "sent before N + L: \(context)")
                #expect(send == send.rounded(), "not whole seconds: \(context)")
                // Step 5.
                #expect(send - Self.ceilSeconds(input.now) <= Double(Planner.horizonSeconds), "beyond the horizon: \(context)")
                #expect(schedule.inLocalTime == spec.inLocalTime && schedule.atOptimalTime == spec.atOptimalTime, "\(context)")

                let wall = Self.components(sendAt, in: plan.zone)
                let wallTime = TimeOfDay(hour: wall.hour!, minute: wall.minute!, second: wall.second!)
                if spec.inLocalTime {
                    #expect(schedule.time.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/) != nil, "local time with an offset: \(context)")
                    // Step 6: the wall clock is ahead of N + L in the company zone and in the user's zone.
                    for zone in [input.companyZone ?? input.defaultZone] + (input.userZone.map { [$0] } ?? []) {
                        let there = try #require(Self.resolve(schedule.time, in: zone))
                        #expect(there.timeIntervalSince1970 >= earliest, "local time already passed in \(zone.identifier): \(context)")
                    }
                    if let quiet = spec.quietHours {
                        let parts = schedule.time.split(separator: "T")[1].split(separator: ":").compactMap { Int($0) }
                        let sent = TimeOfDay(hour: parts[0], minute: parts[1], second: parts[2])
                        #expect(!quiet.contains(sent), "local time inside quiet hours: \(context)")
                    }
                } else if spec.atOptimalTime {
                    let date = String(format: "%04d-%02d-%02d", wall.year!, wall.month!, wall.day!)
                    #expect(schedule.time == date + "T00:00:00", "optimal time is not C's date at midnight: \(context)")
                    let midnight = try #require(Self.resolve(schedule.time, in: plan.zone)).timeIntervalSince1970
                    let noticed = midnight - Self.ceilSeconds(input.now) < Double(Planner.optimalNoticeSeconds)
                    #expect(kinds.contains(.optimalNotice) == noticed, "48 h note wrong: \(context)")
                } else {
                    #expect(schedule.time.hasSuffix("Z"), "\(context)")
                    #expect(try TestTime.parse(schedule.time) == sendAt, "UTC time does not parse back to sendAt: \(context)")
                }
                if let quiet = spec.quietHours, !spec.inLocalTime {
                    // Step 4 (quiet windows here are realistic, so a DST gap cannot push `to` back inside).
                    #expect(!quiet.contains(wallTime), "sent inside quiet hours: \(context)")
                }
                if let at = spec.at, !kinds.contains(.late), !kinds.contains(.quietHours), !kinds.contains(.rollForward) {
                    // Step 2 alone decided: `at` on an allowed weekday, unless a DST gap moved it forward.
                    if !kinds.contains(.dstGap) {
                        #expect(wallTime == at, "not at \(at): \(context)")
                    }
                    if let on = spec.on {
                        #expect(on.contains(Weekday(gregorianNumber: wall.weekday!)!), "weekday not allowed: \(context)")
                    }
                }
            }
        }
        // The generator must reach every outcome, or the properties above prove little.
        #expect(outcomes["send", default: 0] > Self.count / 2, "seed \(seed): \(outcomes)")
        #expect(outcomes["skip", default: 0] > 20, "seed \(seed): \(outcomes)")
        #expect(outcomes["fail", default: 0] > 5, "seed \(seed): \(outcomes)")
    }

    @Test("the planner's own calendar arithmetic agrees with Foundation's Calendar")
    func wallClockAgreesWithCalendar() {
        var rng = SplitMix64(seed: Self.seed)
        for index in 0..<Self.count {
            let zone = Self.zones.randomElement(using: &rng)!
            let instant = Int64.random(in: 1_700_000_000...1_830_000_000, using: &rng)
            let wall = ZoneClock(zone).wallClock(instant)
            let c = Self.components(Date(timeIntervalSince1970: TimeInterval(instant)), in: zone)
            let same = (wall.date.year, wall.date.month, wall.date.day) == (c.year!, c.month!, c.day!)
                && wall.secondsOfDay == c.hour! * 3600 + c.minute! * 60 + c.second!
                && wall.date.weekday.gregorianNumber == c.weekday!
            #expect(same, "seed \(Self.seed) #\(index): \(instant) in \(zone.identifier): \(wall) vs \(c)")
            // Resolving a wall clock that exists (no gap) gives an instant with that wall clock.
            let resolved = ZoneClock(zone).resolve(wall.date, at: wall.secondsOfDay)
            if resolved.gapShift == 0 {
                #expect(ZoneClock(zone).wallClock(resolved.instant) == wall, "seed \(Self.seed) #\(index): \(zone.identifier)")
                #expect(resolved.instant == instant || resolved.overlapLater == instant, "seed \(Self.seed) #\(index): \(zone.identifier) \(instant)")
            }
        }
    }

    @Test("resolving wall clocks from the zone table agrees with Calendar.date(from:), gaps and overlaps included")
    func resolveAgreesWithCalendar() {
        var rng = SplitMix64(seed: Self.seed ^ 0x5EED)
        var calendar = Calendar(identifier: .gregorian)
        for index in 0..<Self.count * 2 {
            let zone = Self.zones.randomElement(using: &rng)!
            calendar.timeZone = zone
            // Half the cases land within a day of a DST transition, where the reading is hard.
            var instant = Int64.random(in: 1_700_000_000...1_830_000_000, using: &rng)
            if Bool.random(using: &rng),
                let next = zone.nextDaylightSavingTimeTransition(after: Date(timeIntervalSince1970: TimeInterval(instant)))
            {
                instant = Int64(next.timeIntervalSince1970) + Int64.random(in: -7200...7200, using: &rng)
            }
            let date = ZoneClock(zone).wallClock(instant).date
            let seconds = Int.random(in: 0..<86_400, using: &rng)
            let expected = calendar.date(
                from: DateComponents(year: date.year, month: date.month, day: date.day, hour: seconds / 3600, minute: seconds / 60 % 60, second: seconds % 60))!
            let resolved = ZoneClock(zone).resolve(date, at: seconds)
            #expect(
                resolved.instant == Int64(expected.timeIntervalSince1970),
                "seed \(Self.seed) #\(index): \(date) at \(seconds)s in \(zone.identifier): \(resolved.instant) vs Calendar \(expected)")
        }
    }
}
