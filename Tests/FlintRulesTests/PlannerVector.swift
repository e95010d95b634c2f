import Foundation
import Testing

@testable import FlintRules

/// One case of `planner-vectors.json` (computed by an independent implementation of docs/architecture.md, The planner).
struct PlannerVector: Decodable, Sendable, CustomStringConvertible {
    struct Schedule: Decodable, Sendable {
        struct Quiet: Decodable, Sendable {
            var from: String
            var to: String
        }
        var after: String?
        var at: String?
        var on: [String]?
        var time_zone: String?
        var in_local_time: Bool?
        var at_optimal_time: Bool?
        var quiet_hours: Quiet?
        var if_late: String?
    }
    struct Expect: Decodable, Sendable {
        var outcome: String
        var schedule: BrazeSchedule?
    }

    var event_time: String
    var now: String
    var schedule: Schedule
    var user_zone: String?
    var default_zone: String
    var company_zone: String?
    var lead: String
    var expect: Expect

    /// The vector's inputs on one line, for failure messages.
    var description: String {
        var s = "T=\(event_time) N=\(now) user_zone=\(user_zone ?? "nil") default_zone=\(default_zone) "
        s += "company_zone=\(company_zone ?? "nil") lead=\(lead) schedule={"
        var parts: [String] = []
        if let v = schedule.after { parts.append("after: \(v)") }
        if let v = schedule.at { parts.append("at: \(v)") }
        if let v = schedule.on { parts.append("on: \(v)") }
        if let v = schedule.time_zone { parts.append("time_zone: \(v)") }
        if let v = schedule.in_local_time { parts.append("in_local_time: \(v)") }
        if let v = schedule.at_optimal_time { parts.append("at_optimal_time: \(v)") }
        if let v = schedule.quiet_hours { parts.append("quiet_hours: \(v.from)-\(v.to)") }
        if let v = schedule.if_late { parts.append("if_late: \(v)") }
        return s + parts.joined(separator: ", ") + "}"
    }

    /// The planner input this vector describes.
    func input() throws -> PlannerInput {
        var spec = ScheduleSpec()
        if let after = schedule.after {
            let seconds: Int = try #require(DurationText.seconds(after), "after \(after)")
            spec.after = seconds
        }
        if let at = schedule.at {
            let time: TimeOfDay = try #require(TimeOfDay(parsing: at), "at \(at)")
            spec.at = time
        }
        if let on = schedule.on {
            spec.on = Set(try on.map { try #require(Weekday(rawValue: $0), "on \($0)") })
        }
        if let zone = schedule.time_zone, zone != "user" {
            _ = try #require(TimeZone(identifier: zone), "time_zone \(zone)")
            spec.timeZone = .named(zone)
        }
        spec.inLocalTime = schedule.in_local_time ?? false
        spec.atOptimalTime = schedule.at_optimal_time ?? false
        if let quiet = schedule.quiet_hours {
            spec.quietHours = QuietHours(
                from: try #require(TimeOfDay(parsing: quiet.from)), to: try #require(TimeOfDay(parsing: quiet.to)))
        }
        if let late = schedule.if_late { spec.ifLate = try #require(LatePolicy(rawValue: late), "if_late \(late)") }
        return PlannerInput(
            eventTime: try TestTime.parse(event_time),
            now: try TestTime.parse(now),
            schedule: spec,
            userZone: try user_zone.map { try TestTime.zone($0) },
            defaultZone: try TestTime.zone(default_zone),
            companyZone: try company_zone.map { try TestTime.zone($0) },
            lead: try #require(DurationText.seconds(lead), "lead \(lead)"))
    }

    /// Loads every vector from the test bundle.
    static func loadAll() throws -> [PlannerVector] {
        struct File: Decodable {
            var count: Int
            var vectors: [PlannerVector]
        }
        let url = try #require(
            Bundle.module.url(forResource: "planner-vectors", withExtension: "json", subdirectory: "Fixtures"),
            "Fixtures/planner-vectors.json is missing from the test bundle")
        let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
        #expect(file.vectors.count == file.count)
        return file.vectors
    }
}

/// Small helpers for writing instants and zones in tests.
enum TestTime {
    /// Parses ISO 8601 with an offset or `Z` (whole seconds).
    static func parse(_ text: String) throws -> Date {
        try Date(text, strategy: .iso8601)
    }

    static func zone(_ identifier: String) throws -> TimeZone {
        try #require(TimeZone(identifier: identifier), "unknown zone \(identifier)")
    }
}
