import Foundation
import Testing

@testable import FlintRules

/// One hand-checked planner case. `n` nil means N = T.
struct TableCase: Sendable, CustomTestStringConvertible {
    enum Expect: Sendable, Equatable {
        case utc(String)
        case local(String)
        case optimal(String)
        case skip
        case fail
    }

    var name: String
    var t: String
    var n: String?
    var spec: ScheduleSpec
    var user: String?
    var zd = "UTC"
    var zc: String?
    var expect: Expect
    /// For local/optimal sends: the instant in Z the time was written from.
    var sendAt: String?
    /// Step kinds the plan must record.
    var steps: [PlanStep.Kind] = []
    /// Step kinds the plan must not record.
    var absent: [PlanStep.Kind] = []

    var testDescription: String { name }

    func input() throws -> PlannerInput {
        let eventTime = try TestTime.parse(t)
        return PlannerInput(
            eventTime: eventTime, now: try n.map(TestTime.parse) ?? eventTime, schedule: spec,
            userZone: try user.map(TestTime.zone), defaultZone: try TestTime.zone(zd),
            companyZone: try zc.map(TestTime.zone))
    }
}

private func tod(_ text: String) -> TimeOfDay { TimeOfDay(parsing: text)! }
private func quiet(_ from: String, _ to: String) -> QuietHours { QuietHours(from: tod(from), to: tod(to)) }
private let hour = 3_600
private let day = 86_400

/// 2026 transitions used below (tz 2025b, checked against Python's zoneinfo):
/// New York   gap Mar 8 02:00->03:00 (07:00Z), overlap Nov 1 01:00-02:00 (EDT 05:00Z, EST 06:00Z)
/// Paris      gap Mar 29 02:00->03:00 (01:00Z), overlap Oct 25 02:00-03:00 (CEST 00:00Z, CET 01:00Z)
/// Lord Howe  overlap Apr 5 01:30-02:00 (+11 / +10:30), gap Oct 4 02:00->02:30 (Oct 3 15:30Z)
/// Chatham    overlap Apr 5 02:45-03:45 (+13:45 / +12:45), gap Sep 27 02:45->03:45 (Sep 26 14:00Z)
/// 2026-07-15 is a Wednesday, 2026-07-19 a Sunday.
enum PlannerTable {
    static let cases: [TableCase] = [
        // --- west and east of UTC, half and three-quarter hours ---------------------------------
        // No `at`: C = T + 2h, sent as a UTC instant.
        TableCase(name: "after 2h, no at: UTC instant", t: "2026-07-15T12:00:00Z", spec: .init(after: 2 * hour),
                  user: "America/Los_Angeles", expect: .utc("2026-07-15T14:00:00Z"), steps: [.delay]),
        // 12:00Z is 05:00 PDT (UTC-7); 10:00 PDT the same day is 17:00Z.
        TableCase(name: "LA summer at 10:00 later the same day", t: "2026-07-15T12:00:00Z", spec: .init(at: tod("10:00")),
                  user: "America/Los_Angeles", expect: .utc("2026-07-15T17:00:00Z"), steps: [.at]),
        // 18:00Z is 11:00 PDT, past 10:00: the next day's 10:00 PDT = 17:00Z.
        TableCase(name: "LA at 10:00 already passed: next day", t: "2026-07-15T18:00:00Z", spec: .init(at: tod("10:00")),
                  user: "America/Los_Angeles", expect: .utc("2026-07-16T17:00:00Z")),
        // December: PST is UTC-8, so 10:00 PST = 18:00Z.
        TableCase(name: "LA winter at 10:00 is 18:00Z", t: "2026-12-01T12:00:00Z", spec: .init(at: tod("10:00")),
                  user: "America/Los_Angeles", expect: .utc("2026-12-01T18:00:00Z")),
        // 12:00Z is 21:00 JST; next 09:00 JST is the 16th at 00:00Z.
        TableCase(name: "Tokyo at 09:00 next morning", t: "2026-07-15T12:00:00Z", spec: .init(at: tod("09:00")),
                  user: "Asia/Tokyo", expect: .utc("2026-07-16T00:00:00Z")),
        // A named zone wins over the user's: 09:00 in Tokyo even for an LA user. 23:00Z = 08:00 JST on the 16th.
        TableCase(name: "time_zone Asia/Tokyo overrides the user's zone", t: "2026-07-15T23:00:00Z",
                  spec: .init(at: tod("09:00"), timeZone: .named("Asia/Tokyo")), user: "America/Los_Angeles",
                  expect: .utc("2026-07-16T00:00:00Z")),
        // Unknown user zone: the default zone applies. 12:00Z = 08:00 EDT; 10:00 EDT = 14:00Z.
        TableCase(name: "unknown user zone falls back to the default zone", t: "2026-07-15T12:00:00Z",
                  spec: .init(at: tod("10:00")), user: nil, zd: "America/New_York", expect: .utc("2026-07-15T14:00:00Z"),
                  steps: [.zone]),
        // 03:00Z = 08:30 IST (+5:30); 10:00 IST = 04:30Z.
        TableCase(name: "Kolkata +05:30 at 10:00", t: "2026-07-15T03:00:00Z", spec: .init(at: tod("10:00")),
                  user: "Asia/Kolkata", expect: .utc("2026-07-15T04:30:00Z")),
        // July in Chatham is standard time +12:45: 00:00Z = 12:45 local; next 09:00 (16th) = 15th 20:15Z.
        TableCase(name: "Chatham +12:45 at 09:00", t: "2026-07-15T00:00:00Z", spec: .init(at: tod("09:00")),
                  user: "Pacific/Chatham", expect: .utc("2026-07-15T20:15:00Z")),
        // January in Chatham is +13:45: 00:00Z = 13:45 local; next 09:00 (16th) = 15th 19:15Z.
        TableCase(name: "Chatham +13:45 (DST) at 09:00", t: "2026-01-15T00:00:00Z", spec: .init(at: tod("09:00")),
                  user: "Pacific/Chatham", expect: .utc("2026-01-15T19:15:00Z")),

        // --- DST gaps and overlaps for `at` -----------------------------------------------------
        // NY Mar 8: 02:30 does not exist; it moves forward by the gap to 03:30 EDT = 07:30Z.
        TableCase(name: "New York spring gap: at 02:30 -> 03:30 EDT", t: "2026-03-08T04:00:00Z", spec: .init(at: tod("02:30")),
                  user: "America/New_York", expect: .utc("2026-03-08T07:30:00Z"), steps: [.dstGap]),
        // NY Nov 1: 01:30 happens twice; the earlier (EDT, UTC-4) is 05:30Z.
        TableCase(name: "New York fall overlap: at 01:30 takes EDT", t: "2026-11-01T03:00:00Z", spec: .init(at: tod("01:30")),
                  user: "America/New_York", expect: .utc("2026-11-01T05:30:00Z"), steps: [.dstOverlap]),
        // Paris Mar 29: 02:30 does not exist -> 03:30 CEST (UTC+2) = 01:30Z.
        TableCase(name: "Paris spring gap: at 02:30 -> 03:30 CEST", t: "2026-03-28T22:00:00Z", spec: .init(at: tod("02:30")),
                  user: "Europe/Paris", expect: .utc("2026-03-29T01:30:00Z"), steps: [.dstGap]),
        // Paris Oct 25: 02:30 happens twice; the earlier (CEST) is 00:30Z.
        TableCase(name: "Paris fall overlap: at 02:30 takes CEST", t: "2026-10-24T20:00:00Z", spec: .init(at: tod("02:30")),
                  user: "Europe/Paris", expect: .utc("2026-10-25T00:30:00Z"), steps: [.dstOverlap]),
        // Lord Howe Oct 4: 02:00->02:30, a 30-minute gap: 02:15 -> 02:45 (+11) = Oct 3 15:45Z.
        TableCase(name: "Lord Howe 30-minute gap: at 02:15 -> 02:45", t: "2026-10-03T12:00:00Z", spec: .init(at: tod("02:15")),
                  user: "Australia/Lord_Howe", expect: .utc("2026-10-03T15:45:00Z"), steps: [.dstGap]),
        // Lord Howe Apr 5: 01:30-02:00 repeats; 01:45 at the earlier +11 = Apr 4 14:45Z.
        TableCase(name: "Lord Howe 30-minute overlap: at 01:45 takes +11", t: "2026-04-04T12:00:00Z", spec: .init(at: tod("01:45")),
                  user: "Australia/Lord_Howe", expect: .utc("2026-04-04T14:45:00Z"), steps: [.dstOverlap]),
        // Chatham Sep 27: 02:45->03:45; 03:00 -> 04:00 (+13:45) = Sep 26 14:15Z.
        TableCase(name: "Chatham gap: at 03:00 -> 04:00", t: "2026-09-26T12:00:00Z", spec: .init(at: tod("03:00")),
                  user: "Pacific/Chatham", expect: .utc("2026-09-26T14:15:00Z"), steps: [.dstGap]),
        // Chatham Apr 5: 02:45-03:45 repeats; 03:00 at the earlier +13:45 = Apr 4 13:15Z.
        TableCase(name: "Chatham overlap: at 03:00 takes +13:45", t: "2026-04-04T12:00:00Z", spec: .init(at: tod("03:00")),
                  user: "Pacific/Chatham", expect: .utc("2026-04-04T13:15:00Z"), steps: [.dstOverlap]),
        // 10:00 on a DST day is an ordinary wall clock: no DST step.
        TableCase(name: "at 10:00 on the New York spring day is not a gap", t: "2026-03-08T04:00:00Z", spec: .init(at: tod("10:00")),
                  user: "America/New_York", expect: .utc("2026-03-08T14:00:00Z"), absent: [.dstGap, .dstOverlap]),

        // --- `after` is elapsed time across a change ------------------------------------------------
        // 15:00Z Mar 7 is 10:00 EST; 24 h later is 15:00Z = 11:00 EDT (the wall clock moved an hour).
        TableCase(name: "New York: 1d across spring forward is 24 elapsed hours", t: "2026-03-07T15:00:00Z",
                  spec: .init(after: day), user: "America/New_York", expect: .utc("2026-03-08T15:00:00Z")),
        // 08:00Z Oct 24 is 10:00 CEST; 24 h later is 08:00Z = 09:00 CET.
        TableCase(name: "Paris: 1d across fall back is 24 elapsed hours", t: "2026-10-24T08:00:00Z",
                  spec: .init(after: day), user: "Europe/Paris", expect: .utc("2026-10-25T08:00:00Z")),
        // 06:30Z is 01:30 EST; 1h later is 07:30Z = 03:30 EDT (02:xx never happens).
        TableCase(name: "New York: 1h across the gap", t: "2026-03-08T06:30:00Z", spec: .init(after: hour),
                  user: "America/New_York", expect: .utc("2026-03-08T07:30:00Z")),
        // B = Mar 8 15:00Z = 11:00 EDT, past 10:00, so the first 10:00 after the delay is Mar 9 10:00 EDT = 14:00Z.
        TableCase(name: "New York: after 1d then at 10:00 across the change", t: "2026-03-07T15:00:00Z",
                  spec: .init(after: day, at: tod("10:00")), user: "America/New_York", expect: .utc("2026-03-09T14:00:00Z")),
        // B = Oct 25 08:00Z = 09:00 CET; 09:00 CET resolves to exactly B, which counts (C >= B).
        TableCase(name: "Paris: after 1d then at 09:00 lands exactly on B", t: "2026-10-24T08:00:00Z",
                  spec: .init(after: day, at: tod("09:00")), user: "Europe/Paris", expect: .utc("2026-10-25T08:00:00Z")),

        // --- quiet hours ------------------------------------------------------------------------
        // 21:10Z = 23:10 CEST, inside 21:00-08:00: moved to 08:00 CEST next day = 06:00Z.
        TableCase(name: "quiet hours across midnight, evening part: next day's 08:00",
                  t: "2026-07-15T21:00:00Z", spec: .init(after: 600, quietHours: quiet("21:00", "08:00")),
                  user: "Europe/Paris", expect: .utc("2026-07-16T06:00:00Z"), steps: [.quietHours]),
        // 03:10Z = 05:10 CEST, inside 21:00-08:00: moved to 08:00 the same day = 06:00Z.
        TableCase(name: "quiet hours across midnight, morning part: same day's 08:00",
                  t: "2026-07-15T03:00:00Z", spec: .init(after: 600, quietHours: quiet("21:00", "08:00")),
                  user: "Europe/Paris", expect: .utc("2026-07-15T06:00:00Z"), steps: [.quietHours]),
        // 01:40 UTC in 01:00-03:00 (no wrap): moved to 03:00 the same day.
        TableCase(name: "quiet hours not across midnight", t: "2026-07-15T01:30:00Z",
                  spec: .init(after: 600, quietHours: quiet("01:00", "03:00")), user: "UTC",
                  expect: .utc("2026-07-15T03:00:00Z"), steps: [.quietHours]),
        // The window is [from, to): 03:00 itself is outside.
        TableCase(name: "quiet hours end is exclusive", t: "2026-07-15T02:59:00Z",
                  spec: .init(after: 60, quietHours: quiet("01:00", "03:00")), user: "UTC",
                  expect: .utc("2026-07-15T03:00:00Z"), absent: [.quietHours]),
        // ... and 01:00 itself is inside.
        TableCase(name: "quiet hours start is inclusive", t: "2026-07-15T00:59:00Z",
                  spec: .init(after: 60, quietHours: quiet("01:00", "03:00")), user: "UTC",
                  expect: .utc("2026-07-15T03:00:00Z"), steps: [.quietHours]),
        // 12:00 is outside 21:00-08:00: untouched.
        TableCase(name: "outside quiet hours nothing moves", t: "2026-07-15T10:00:00Z",
                  spec: .init(after: 2 * hour, quietHours: quiet("21:00", "08:00")), user: "UTC",
                  expect: .utc("2026-07-15T12:00:00Z"), absent: [.quietHours]),
        // Late (C = N + L = 22:01Z) lands in quiet hours 21:00-08:00 UTC: moved to 08:00 next day.
        TableCase(name: "a late send_now time is still kept out of quiet hours", t: "2026-07-15T08:00:00Z",
                  n: "2026-07-15T22:00:00Z", spec: .init(at: tod("10:00"), quietHours: quiet("21:00", "08:00")),
                  user: "UTC", expect: .utc("2026-07-16T08:00:00Z"), steps: [.late, .quietHours]),
        // 23:10 EST Mar 7 is in 22:00-02:30; the next 02:30 (Mar 8) is in the gap -> 03:30 EDT = 07:30Z.
        TableCase(name: "quiet hours ending in the New York gap", t: "2026-03-08T04:00:00Z",
                  spec: .init(after: 600, quietHours: quiet("22:00", "02:30")), user: "America/New_York",
                  expect: .utc("2026-03-08T07:30:00Z"), steps: [.quietHours, .dstGap]),

        // --- weekdays ---------------------------------------------------------------------------
        // Wed Jul 15, on [mon]: Monday Jul 20 10:00Z.
        TableCase(name: "on [mon] from a Wednesday: next Monday", t: "2026-07-15T12:00:00Z",
                  spec: .init(at: tod("10:00"), on: [.mon]), user: "UTC", expect: .utc("2026-07-20T10:00:00Z"),
                  steps: [.weekday]),
        // Sun Jul 19 20:00 PDT is Monday 03:00Z: the weekday is read in Z, not in UTC.
        TableCase(name: "on [sun] is Sunday in the user's zone, Monday in UTC", t: "2026-07-19T12:00:00Z",
                  spec: .init(at: tod("20:00"), on: [.sun]), user: "America/Los_Angeles", expect: .utc("2026-07-20T03:00:00Z"),
                  absent: [.weekday]),
        // Fri Jul 17 18:00 JST (09:00Z) is past 09:00; Sat, Sun are not allowed; Monday Jul 20 09:00 JST = Jul 20 00:00Z.
        TableCase(name: "on weekdays after a Friday evening: Monday", t: "2026-07-17T09:00:00Z",
                  spec: .init(at: tod("09:00"), on: [.mon, .tue, .wed, .thu, .fri]), user: "Asia/Tokyo",
                  expect: .utc("2026-07-20T00:00:00Z"), steps: [.weekday]),

        // --- late -------------------------------------------------------------------------------
        // C = 11:00Z < N + L = 12:01Z; send_now sends at N + L.
        TableCase(name: "late with if_late send_now: N + L", t: "2026-07-15T10:00:00Z", n: "2026-07-15T12:00:00Z",
                  spec: .init(after: hour), user: "UTC", expect: .utc("2026-07-15T12:01:00Z"), steps: [.late]),
        // Same, with skip: the run is skipped.
        TableCase(name: "late with if_late skip: skipped", t: "2026-07-15T10:00:00Z", n: "2026-07-15T12:00:00Z",
                  spec: .init(after: hour, ifLate: .skip), user: "UTC", expect: .skip, steps: [.skippedLate]),
        // C = T + 60 s = N + L exactly: not late.
        TableCase(name: "C equal to N + L is not late", t: "2026-07-15T10:00:00Z",
                  spec: .init(after: 60, ifLate: .skip), user: "UTC", expect: .utc("2026-07-15T10:01:00Z"), absent: [.late]),
        // C = T + 59 s < N + L by one second: skip.
        TableCase(name: "C one second before N + L is late", t: "2026-07-15T10:00:00Z",
                  spec: .init(after: 59, ifLate: .skip), user: "UTC", expect: .skip),
        // N has a fraction: N + L = 10:01:00.25, rounded up to whole seconds 10:01:01.
        TableCase(name: "times are whole seconds rounded up", t: "2026-07-15T10:00:00Z", n: "2026-07-15T10:00:00.250Z",
                  spec: .init(), user: "UTC", expect: .utc("2026-07-15T10:01:01Z")),

        // --- in_local_time ------------------------------------------------------------------------
        // 10:00 PDT (17:00Z) is ahead in LA (company zone = default LA): the wall clock without offset.
        TableCase(name: "in_local_time writes the wall clock without offset", t: "2026-07-15T12:00:00Z",
                  spec: .init(at: tod("10:00"), inLocalTime: true), user: "America/Los_Angeles", zd: "America/Los_Angeles",
                  expect: .local("2026-07-15T10:00:00"), sendAt: "2026-07-15T17:00:00Z", absent: [.rollForward]),
        // Company zone Tokyo: Jul 15 10:00 JST = 01:00Z, already past at N = 12:00Z: rolled to Jul 16.
        TableCase(name: "in_local_time rolled forward: passed in the company zone", t: "2026-07-15T12:00:00Z",
                  spec: .init(at: tod("10:00"), inLocalTime: true), user: "America/Los_Angeles", zc: "Asia/Tokyo",
                  expect: .local("2026-07-16T10:00:00"), sendAt: "2026-07-16T17:00:00Z", steps: [.rollForward]),
        // Same, if_late skip: Braze would refuse it, so the run is skipped.
        TableCase(name: "in_local_time passed in the company zone with if_late skip", t: "2026-07-15T12:00:00Z",
                  spec: .init(at: tod("10:00"), inLocalTime: true, ifLate: .skip), user: "America/Los_Angeles",
                  zc: "Asia/Tokyo", expect: .skip, steps: [.skippedLate]),
        // Z is LA (named), company LA, but the user is in Tokyo where Jul 15 10:00 (01:00Z) has passed: Jul 16.
        TableCase(name: "in_local_time rolled forward: passed in the user's zone", t: "2026-07-15T12:00:00Z",
                  spec: .init(at: tod("10:00"), timeZone: .named("America/Los_Angeles"), inLocalTime: true),
                  user: "Asia/Tokyo", zc: "America/Los_Angeles",
                  expect: .local("2026-07-16T10:00:00"), sendAt: "2026-07-16T17:00:00Z", steps: [.rollForward]),
        // Wed 10:00 passed in Tokyo: the next allowed weekday of [mon, wed, fri] is Friday Jul 17.
        TableCase(name: "in_local_time rolls to the next allowed weekday", t: "2026-07-15T12:00:00Z",
                  spec: .init(at: tod("10:00"), on: [.mon, .wed, .fri], inLocalTime: true), user: "America/Los_Angeles",
                  zc: "Asia/Tokyo", expect: .local("2026-07-17T10:00:00"), steps: [.rollForward]),
        // The NY gap: at 02:30 resolves to 03:30 EDT in Z, and the wall clock sent is the resolved 03:30.
        TableCase(name: "in_local_time in a gap sends the resolved wall clock", t: "2026-03-08T04:00:00Z",
                  spec: .init(at: tod("02:30"), inLocalTime: true), user: "America/New_York", zd: "America/New_York",
                  expect: .local("2026-03-08T03:30:00"), steps: [.dstGap]),

        // --- at_optimal_time --------------------------------------------------------------------
        // C = Jul 18 12:00Z = 21:00 JST Jul 18; midnight Jul 18 JST (Jul 17 15:00Z) is 51 h after N: no note.
        TableCase(name: "optimal time: the date in Z at midnight", t: "2026-07-15T12:00:00Z",
                  spec: .init(after: 3 * day, atOptimalTime: true), user: "Asia/Tokyo",
                  expect: .optimal("2026-07-18T00:00:00"), sendAt: "2026-07-18T12:00:00Z", absent: [.optimalNotice]),
        // C = Jul 16 12:00Z = 21:00 JST Jul 16; midnight (Jul 15 15:00Z) is 3 h after N: the 48 h note.
        TableCase(name: "optimal time less than 48 h ahead is noted", t: "2026-07-15T12:00:00Z",
                  spec: .init(after: day, atOptimalTime: true), user: "Asia/Tokyo",
                  expect: .optimal("2026-07-16T00:00:00"), steps: [.optimalNotice]),
        // Jul 19 03:00Z is still Jul 18 (20:00 PDT) in LA: the LA date is sent.
        TableCase(name: "optimal time uses the date in Z, not in UTC", t: "2026-07-16T03:00:00Z",
                  spec: .init(after: 3 * day, atOptimalTime: true), user: "America/Los_Angeles",
                  expect: .optimal("2026-07-18T00:00:00")),
        // Midnight Jul 17 UTC is exactly 48 h after N: not "less than 48 hours", no note.
        TableCase(name: "optimal time exactly 48 h ahead is not noted", t: "2026-07-15T00:00:00Z",
                  spec: .init(after: 2 * day, atOptimalTime: true), user: "UTC",
                  expect: .optimal("2026-07-17T00:00:00"), absent: [.optimalNotice]),

        // --- the 90-day horizon -----------------------------------------------------------------
        // C - N = 90 days exactly: not more than 90 days.
        TableCase(name: "exactly 90 days ahead is allowed", t: "2026-07-15T00:00:00Z", spec: .init(after: 90 * day),
                  user: "UTC", expect: .utc("2026-10-13T00:00:00Z"), absent: [.horizon]),
        // B = Jul 15 + 89 d = Oct 12 (a Monday) 00:00Z; Monday 10:00Z is 89 d 10 h after N: allowed.
        TableCase(name: "89 d then Monday 10:00 stays within 90 days", t: "2026-07-15T00:00:00Z",
                  spec: .init(after: 89 * day, at: tod("10:00"), on: [.mon]), user: "UTC", expect: .utc("2026-10-12T10:00:00Z")),
        // B = Oct 12 12:00Z, past Monday 10:00: the next Monday Oct 19 is 96 days ahead: fail.
        TableCase(name: "89 d then the next Monday is beyond 90 days: fail", t: "2026-07-15T12:00:00Z",
                  spec: .init(after: 89 * day, at: tod("10:00"), on: [.mon]), user: "UTC", expect: .fail, steps: [.horizon]),
        // 90 d lands at 00:00Z inside quiet hours 00:00-01:00: moved to 01:00Z, one hour past the horizon.
        TableCase(name: "quiet hours can push a send past the horizon", t: "2026-07-15T00:00:00Z",
                  spec: .init(after: 90 * day, quietHours: quiet("00:00", "01:00")), user: "UTC", expect: .fail,
                  steps: [.quietHours, .horizon]),
    ]
}

@Suite("planner: hand-checked table")
struct PlannerTableTests {
    @Test("hand-checked case", arguments: PlannerTable.cases)
    func tableCase(_ c: TableCase) throws {
        let plan = Planner.plan(try c.input())
        let trace = plan.steps.map { "[\($0.kind.rawValue)] \($0.message)" }.joined(separator: "\n  ")
        let planned: TableCase.Expect
        switch plan.outcome {
        case .send(let schedule, _) where schedule.inLocalTime && !schedule.atOptimalTime: planned = .local(schedule.time)
        case .send(let schedule, _) where schedule.atOptimalTime && !schedule.inLocalTime: planned = .optimal(schedule.time)
        case .send(let schedule, _) where !schedule.inLocalTime && !schedule.atOptimalTime: planned = .utc(schedule.time)
        case .send(let schedule, _): planned = .utc("both flags set: \(schedule.json)")
        case .skip: planned = .skip
        case .fail: planned = .fail
        }
        #expect(planned == c.expect, "\n  \(trace)")
        if case .utc(let time) = c.expect, planned == c.expect {
            // A UTC time is the planned instant itself.
            let instant = try TestTime.parse(time)
            #expect(plan.sendAt == instant)
        }
        if let expected = c.sendAt {
            let instant = try TestTime.parse(expected)
            #expect(plan.sendAt == instant, "\(trace)")
        }
        let kinds = Set(plan.steps.map(\.kind))
        for kind in c.steps {
            #expect(kinds.contains(kind), "missing step \(kind.rawValue)\n  \(trace)")
        }
        for kind in c.absent {
            #expect(!kinds.contains(kind), "unexpected step \(kind.rawValue)\n  \(trace)")
        }
    }

    @Test("the table has at least 45 cases with distinct names")
    func tableSize() {
        #expect(PlannerTable.cases.count >= 45)
        #expect(Set(PlannerTable.cases.map(\.name)).count == PlannerTable.cases.count)
    }
}

@Suite("planner: the steps it records")
struct PlannerStepTests {
    private func plan(
        t: String, n: String? = nil, _ spec: ScheduleSpec, user: String? = nil, zd: String = "UTC", zc: String? = nil
    ) throws -> Plan {
        try Planner.plan(TableCase(name: "", t: t, n: n, spec: spec, user: user, zd: zd, zc: zc, expect: .skip).input())
    }

    @Test("a quiet-hours move is recorded in plain English with the new instant")
    func quietHoursStep() throws {
        let plan = try plan(t: "2026-07-15T21:00:00Z", .init(after: 600, quietHours: quiet("21:00", "08:00")), user: "Europe/Paris")
        let step = try #require(plan.steps.first { $0.kind == .quietHours })
        #expect(step.message == "quiet hours 21:00-08:00 in Europe/Paris: moved from 23:10 to 08:00 next day")
        #expect(step.instant == (try TestTime.parse("2026-07-16T06:00:00Z")))
        #expect(plan.steps.map(\.kind) == [.zone, .delay, .quietHours])
        #expect(plan.zone.identifier == "Europe/Paris")
    }

    @Test("a DST gap says how far the wall clock moved")
    func gapStep() throws {
        let plan = try plan(t: "2026-03-08T04:00:00Z", .init(at: tod("02:30")), user: "America/New_York")
        let step = try #require(plan.steps.first { $0.kind == .dstGap })
        #expect(step.message.contains("2026-03-08 02:30 does not exist in America/New_York"), "\(step.message)")
        #expect(step.message.contains("moved forward by 1h to 03:30"), "\(step.message)")
        #expect(step.instant == (try TestTime.parse("2026-03-08T07:30:00Z")))
    }

    @Test("a DST overlap names the earlier offset taken and the later instant not taken")
    func overlapStep() throws {
        let plan = try plan(t: "2026-04-04T12:00:00Z", .init(at: tod("01:45")), user: "Australia/Lord_Howe")
        let step = try #require(plan.steps.first { $0.kind == .dstOverlap })
        #expect(step.message.contains("UTC+11:00"), "\(step.message)")
        #expect(step.message.contains("not 2026-04-04T15:15:00Z"), "\(step.message)")
    }

    @Test("a late send records the move to now + lead")
    func lateStep() throws {
        let plan = try plan(t: "2026-07-15T10:00:00Z", n: "2026-07-15T12:00:00Z", .init(after: 3_600), user: "UTC")
        let step = try #require(plan.steps.first { $0.kind == .late })
        #expect(step.instant == (try TestTime.parse("2026-07-15T12:01:00Z")))
        #expect(step.message.contains("2026-07-15T11:00:00Z"), "\(step.message)")
    }

    @Test("skipped weekdays are listed by name and date")
    func weekdayStep() throws {
        let plan = try plan(t: "2026-07-15T12:00:00Z", .init(at: tod("10:00"), on: [.mon]), user: "UTC")
        let step = try #require(plan.steps.first { $0.kind == .weekday })
        #expect(step.message == "on mon: skipped thu 2026-07-16, fri 2026-07-17, sat 2026-07-18, sun 2026-07-19")
    }

    @Test("the zone step says when the default zone stands in for an unknown user zone")
    func zoneStep() throws {
        let plan = try plan(t: "2026-07-15T12:00:00Z", .init(after: 60), user: nil, zd: "America/New_York")
        #expect(plan.zone.identifier == "America/New_York")
        #expect(plan.steps.first?.kind == .zone)
        #expect(plan.steps.first?.message.contains("default zone") == true)
    }

    @Test("a roll-forward names the zone where the local time had passed")
    func rollForwardStep() throws {
        let plan = try plan(
            t: "2026-07-15T12:00:00Z", .init(at: tod("10:00"), inLocalTime: true), user: "America/Los_Angeles", zc: "Asia/Tokyo")
        let step = try #require(plan.steps.first { $0.kind == .rollForward })
        #expect(step.message.contains("Asia/Tokyo (the company zone)"), "\(step.message)")
        #expect(step.message.contains("moved to 2026-07-16T10:00:00"), "\(step.message)")
    }

    @Test("a horizon failure gives a clear reason")
    func horizonReason() throws {
        let plan = try plan(t: "2026-07-15T12:00:00Z", .init(after: 91 * 86_400), user: "UTC")
        guard case .fail(let reason) = plan.outcome else {
            Issue.record("expected a failure, got \(plan.outcome)")
            return
        }
        #expect(reason.contains("more than 90 days"), "\(reason)")
        #expect(plan.steps.last?.kind == .horizon)
    }

    @Test("an unknown named zone fails the run instead of guessing")
    func unknownZone() throws {
        let plan = try plan(t: "2026-07-15T12:00:00Z", .init(at: tod("10:00"), timeZone: .named("Mars/Olympus")), user: "UTC")
        guard case .fail(let reason) = plan.outcome else {
            Issue.record("expected a failure, got \(plan.outcome)")
            return
        }
        #expect(reason.contains("Mars/Olympus"))
    }

    @Test("replanning at dispatch time moves a past send to dispatch + lead")
    func replan() throws {
        let input = try TableCase(
            name: "", t: "2026-07-15T10:00:00Z", spec: .init(after: 3_600), user: "UTC", expect: .skip
        ).input()
        #expect(Planner.plan(input).schedule?.time == "2026-07-15T11:00:00Z")
        let again = Planner.replan(input, dispatchTime: try TestTime.parse("2026-07-15T11:30:00Z"))
        #expect(again.schedule?.time == "2026-07-15T11:31:00Z")
        var skipping = input
        skipping.schedule.ifLate = .skip
        let skipped = Planner.replan(skipping, dispatchTime: try TestTime.parse("2026-07-15T11:30:00Z"))
        #expect(skipped.outcome.isSkip)
    }

    @Test("the schedule object encodes with Braze's keys and both flags")
    func scheduleJSON() throws {
        let schedule = BrazeSchedule(time: "2026-11-30T10:00:00", inLocalTime: true, atOptimalTime: false)
        #expect(schedule.json == ["time": "2026-11-30T10:00:00", "in_local_time": true, "at_optimal_time": false])
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let text = String(decoding: try encoder.encode(schedule), as: UTF8.self)
        #expect(text == #"{"at_optimal_time":false,"in_local_time":true,"time":"2026-11-30T10:00:00"}"#)
        #expect(try JSONDecoder().decode(BrazeSchedule.self, from: Data(text.utf8)) == schedule)
    }
}

extension PlanOutcome {
    var isSkip: Bool {
        if case .skip = self { return true }
        return false
    }
}
