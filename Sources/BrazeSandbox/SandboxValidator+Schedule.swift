import FlintPluginAPI
import Foundation

/// The schedule object (docs/braze.md, Schedules): which `time` format each flag takes, and
/// that the time lies in the future and within the horizon.
extension SandboxValidator {
    static let instantExample = "2026-12-01T10:00:00Z"
    static let wallClockExample = "2026-12-01T10:00:00"
    static let midnightExample = "2026-12-01T00:00:00"

    func checkSchedule(_ value: JSONValue?, now: Date, into errors: inout [String]) {
        guard let value, !value.isNull else { return errors.append("schedule is required") }
        guard case .object(let schedule) = value else {
            return errors.append("schedule must be an object, got \(value.typeName)")
        }
        let local = flag(schedule["in_local_time"], named: "in_local_time", into: &errors)
        let optimal = flag(schedule["at_optimal_time"], named: "at_optimal_time", into: &errors)
        var text: String?
        switch schedule["time"] {
        case nil, .null?: errors.append("schedule.time is required")
        case .string(let string)?: text = string
        case let other?: errors.append("schedule.time must be a string, got \(other.typeName)")
        }
        if local, optimal {
            return errors.append("schedule.in_local_time and schedule.at_optimal_time cannot both be true")
        }
        guard let text else { return }
        let parsed = SandboxTime.parse(text)
        let days = Int(horizon.sandboxSeconds / 86_400)
        let tooFar = "schedule.time is more than \(days) days ahead"

        if local {
            guard let parsed, parsed.offsetSeconds == nil, let instant = parsed.instant(in: companyTimeZone) else {
                return errors.append(
                    "with in_local_time, schedule.time must be a wall-clock time without Z or offset (e.g. \(Self.wallClockExample))")
            }
            if instant <= now {
                errors.append("local time already passed in company time zone")
            } else if instant.timeIntervalSince(now) > horizon.sandboxSeconds {
                errors.append(tooFar)
            }
        } else if optimal {
            guard let parsed, parsed.offsetSeconds == nil, parsed.isMidnight, let midnight = parsed.instant(in: companyTimeZone) else {
                return errors.append(
                    "with at_optimal_time, schedule.time must be a date at midnight without Z or offset (e.g. \(Self.midnightExample))")
            }
            // The date is usable while it lasts: Braze picks each user's hour within that local date.
            let endOfDate = Calendar.sandbox(companyTimeZone).date(byAdding: .day, value: 1, to: midnight) ?? midnight
            if endOfDate <= now {
                errors.append("optimal-time date already passed in company time zone (\(companyTimeZone.identifier))")
            } else if midnight.timeIntervalSince(now) > horizon.sandboxSeconds {
                errors.append(tooFar)
            }
        } else {
            guard let parsed, parsed.offsetSeconds != nil, let instant = parsed.instant(in: companyTimeZone) else {
                return errors.append(
                    "schedule.time must be an ISO 8601 time with Z or an offset (e.g. \(Self.instantExample)); "
                        + "a time without offset needs in_local_time")
            }
            if instant <= now {
                errors.append("schedule.time is in the past")
            } else if instant.timeIntervalSince(now) > horizon.sandboxSeconds {
                errors.append(tooFar)
            }
        }
    }

    /// A schedule flag: absent or null is false; anything but a boolean is an error (read as false).
    private func flag(_ value: JSONValue?, named name: String, into errors: inout [String]) -> Bool {
        switch value {
        case nil, .null?: return false
        case .bool(let flag)?: return flag
        case let other?:
            errors.append("schedule.\(name) must be a boolean, got \(other.typeName)")
            return false
        }
    }
}

extension Calendar {
    /// A Gregorian calendar in `zone`.
    static func sandbox(_ zone: TimeZone) -> Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        return calendar
    }
}
