import Foundation

/// A wall-clock time of day, `HH:MM` or `HH:MM:SS`.
public struct TimeOfDay: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var hour: Int
    public var minute: Int
    public var second: Int

    public init(hour: Int, minute: Int, second: Int = 0) {
        self.hour = hour
        self.minute = minute
        self.second = second
    }

    /// Parses `H:MM`, `HH:MM` or `HH:MM:SS` (24-hour clock); nil when malformed or out of range.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { return nil }
        guard parts[0].count >= 1, parts[0].count <= 2, parts.dropFirst().allSatisfy({ $0.count == 2 }) else { return nil }
        guard parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) else { return nil }
        let numbers = parts.compactMap { Int($0) }
        guard numbers.count == parts.count else { return nil }
        let h = numbers[0], m = numbers[1], s = numbers.count == 3 ? numbers[2] : 0
        guard (0...23).contains(h), (0...59).contains(m), (0...59).contains(s) else { return nil }
        self.init(hour: h, minute: m, second: s)
    }

    /// Seconds since midnight.
    public var secondsOfDay: Int { hour * 3600 + minute * 60 + second }

    public static func < (lhs: TimeOfDay, rhs: TimeOfDay) -> Bool { lhs.secondsOfDay < rhs.secondsOfDay }

    public var description: String {
        second == 0
            ? String(format: "%02d:%02d", hour, minute)
            : String(format: "%02d:%02d:%02d", hour, minute, second)
    }
}

/// A day of the week as rules name it (`mon` ... `sun`).
public enum Weekday: String, Sendable, Hashable, CaseIterable, Comparable {
    case mon, tue, wed, thu, fri, sat, sun

    /// Foundation's weekday number (1 = Sunday ... 7 = Saturday).
    public var gregorianNumber: Int {
        switch self {
        case .sun: 1
        case .mon: 2
        case .tue: 3
        case .wed: 4
        case .thu: 5
        case .fri: 6
        case .sat: 7
        }
    }

    public init?(gregorianNumber: Int) {
        guard let day = Weekday.allCases.first(where: { $0.gregorianNumber == gregorianNumber }) else { return nil }
        self = day
    }

    private var order: Int { Weekday.allCases.firstIndex(of: self)! }
    public static func < (lhs: Weekday, rhs: Weekday) -> Bool { lhs.order < rhs.order }
}

/// Where a rule's `at`, `on` and `quiet_hours` are read.
public enum ScheduleZone: Sendable, Hashable {
    /// The user's own zone when known, else the default zone.
    case user
    /// A fixed IANA zone.
    case named(String)
}

/// What to do when the computed send time has already passed.
public enum LatePolicy: String, Sendable, Hashable {
    case sendNow = "send_now"
    case skip
}

/// A quiet-hours window `[from, to)` in wall-clock time; it may wrap midnight.
public struct QuietHours: Sendable, Hashable {
    public var from: TimeOfDay
    public var to: TimeOfDay

    public init(from: TimeOfDay, to: TimeOfDay) {
        self.from = from
        self.to = to
    }

    /// Whether a wall-clock time lies in `[from, to)`.
    public func contains(_ time: TimeOfDay) -> Bool {
        if from < to { return time >= from && time < to }
        return time >= from || time < to
    }
}

/// A rule's `schedule:` block, already validated.
public struct ScheduleSpec: Sendable, Hashable {
    /// Delay from the event's timestamp, in seconds of elapsed time.
    public var after: Int?
    public var at: TimeOfDay?
    /// Allowed weekdays for `at`; nil means every day.
    public var on: Set<Weekday>?
    public var timeZone: ScheduleZone
    public var inLocalTime: Bool
    public var atOptimalTime: Bool
    public var quietHours: QuietHours?
    public var ifLate: LatePolicy

    public init(
        after: Int? = nil, at: TimeOfDay? = nil, on: Set<Weekday>? = nil, timeZone: ScheduleZone = .user,
        inLocalTime: Bool = false, atOptimalTime: Bool = false, quietHours: QuietHours? = nil,
        ifLate: LatePolicy = .sendNow
    ) {
        self.after = after
        self.at = at
        self.on = on
        self.timeZone = timeZone
        self.inLocalTime = inLocalTime
        self.atOptimalTime = atOptimalTime
        self.quietHours = quietHours
        self.ifLate = ifLate
    }
}
