import BrazeSandbox
import FlintPluginAPI
import Foundation
import Testing

/// One row of the validator table: a body, and the first message expected (nil: valid).
struct ValidationCase: CustomTestStringConvertible, Sendable {
    var name: String
    var endpoint: SandboxEndpoint = .create
    var body: JSONValue
    var expected: String?
    var testDescription: String { name }

    init(_ name: String, _ body: JSONValue, _ expected: String?) {
        self.init(name, .create, body, expected)
    }

    init(_ name: String, _ endpoint: SandboxEndpoint, _ body: JSONValue, _ expected: String?) {
        self.name = name
        self.endpoint = endpoint
        self.body = body
        self.expected = expected
    }

    /// A create body whose schedule is `time` with the given flags.
    static func schedule(_ name: String, _ time: String, local: Bool = false, optimal: Bool = false, _ expected: String?) -> ValidationCase {
        ValidationCase(name, createBody { $0["schedule"] = ["time": .string(time), "in_local_time": .bool(local), "at_optimal_time": .bool(optimal)] }, expected)
    }

    static func audience(_ name: String, _ audience: JSONValue, _ expected: String?) -> ValidationCase {
        ValidationCase(name, createBody { $0["recipients"] = nil; $0["audience"] = audience }, expected)
    }
}

@Suite("The validator answers as Braze does, without sockets")
struct SandboxValidatorTests {
    static let validator = SandboxValidator()

    static let seedAudience: JSONValue = [
        "AND": [
            ["custom_attribute": ["custom_attribute_name": "eye_color", "comparison": "equals", "value": "blue"]],
            ["custom_attribute": ["custom_attribute_name": "favorite_foods", "comparison": "includes_value", "value": "pizza"]],
            [
                "OR": [
                    ["custom_attribute": ["custom_attribute_name": "last_purchase_time", "comparison": "less_than_x_days_ago", "value": 2]],
                    ["push_subscription_status": ["comparison": "is", "value": "opted_in"]],
                ]
            ],
            ["email_subscription_status": ["comparison": "is_not", "value": "subscribed"]],
            ["last_used_app": ["comparison": "after", "value": "2019-07-22T13:17:55+0000"]],
        ]
    ]

    static let valid: [ValidationCase] = [
        ValidationCase("one recipient and an instant in UTC", createBody(), nil),
        .schedule("an instant with an offset with colon", "2026-11-30T18:00:00+02:00", nil),
        .schedule("an instant with an offset without colon", "2026-11-30T18:00:00-0700", nil),
        .schedule("an instant with milliseconds", "2026-11-30T18:00:00.250Z", nil),
        .schedule("in_local_time with a wall clock", "2026-12-01T10:00:00", local: true, nil),
        .schedule("at_optimal_time with a date at midnight", "2026-12-01T00:00:00", optimal: true, nil),
        .schedule("at_optimal_time today (the date has not ended)", "2026-11-29T00:00:00", optimal: true, nil),
        .schedule("exactly 90 days ahead", "2027-02-27T12:00:00Z", nil),
        ValidationCase("50 recipients", createBody { $0["recipients"] = recipients(50) }, nil),
        ValidationCase("trigger_properties of 51,200 bytes", createBody { $0["trigger_properties"] = properties(ofSize: 51_200) }, nil),
        ValidationCase(
            "a recipient's trigger_properties of 51,200 bytes",
            createBody { $0["recipients"] = [["external_user_id": "u-1", "trigger_properties": properties(ofSize: 51_200)]] }, nil),
        ValidationCase("a user_alias recipient", createBody { $0["recipients"] = [["user_alias": ["alias_name": "a", "alias_label": "l"]]] }, nil),
        ValidationCase(
            "an email recipient with prioritization",
            createBody { $0["recipients"] = [["email": "a@example.com", "prioritization": ["unidentified", "most_recently_updated"]]] }, nil),
        ValidationCase(
            "send_to_existing_only false with attributes",
            createBody { $0["recipients"] = [["external_user_id": "u-9", "send_to_existing_only": false, "attributes": ["plan": "pro"]]] }, nil),
        ValidationCase("broadcast without recipients", createBody { $0["recipients"] = nil; $0["broadcast"] = true }, nil),
        .audience("the seed's audience without recipients", seedAudience, nil),
        .audience("exists without a value", ["custom_attribute": ["custom_attribute_name": "vip", "comparison": "exists"]], nil),
        ValidationCase("a send_id of 64 ASCII characters", createBody { $0["send_id"] = .string(String(repeating: "s", count: 64)) }, nil),
        ValidationCase("an immediate send takes no schedule", .send, createBody { $0["schedule"] = nil }, nil),
        ValidationCase("an update", .update, ["campaign_id": "c", "schedule_id": "s", "schedule": ["time": "2026-12-01T10:00:00Z"]], nil),
        ValidationCase("a delete", .delete, ["campaign_id": "c", "schedule_id": "s"], nil),
    ]

    static let invalid: [ValidationCase] = [
        ValidationCase("a body that is not an object", ["campaign_id"], "the request body must be a JSON object, got array"),
        ValidationCase("no campaign_id", createBody { $0["campaign_id"] = nil }, "campaign_id is required"),
        ValidationCase("a campaign_id that is a number", createBody { $0["campaign_id"] = 7 }, "campaign_id must be a string, got number"),
        ValidationCase("an empty campaign_id", createBody { $0["campaign_id"] = "" }, "invalid campaign_id: it is empty"),
        ValidationCase("a send_id of 65 characters", createBody { $0["send_id"] = .string(String(repeating: "s", count: 65)) }, "invalid send_id"),
        ValidationCase("an empty send_id", createBody { $0["send_id"] = "" }, "invalid send_id"),
        ValidationCase("a send_id that is not ASCII", createBody { $0["send_id"] = "café" }, "invalid send_id"),
        ValidationCase("51 recipients", createBody { $0["recipients"] = recipients(51) }, "recipients holds 51 objects: at most 50 are allowed"),
        ValidationCase("recipients that are not an array", createBody { $0["recipients"] = ["external_user_id": "u"] }, "recipients must be an array, got object"),
        ValidationCase(
            "two identifiers in one recipient (the seed's own example)",
            createBody { $0["recipients"] = [["user_alias": ["alias_name": "a", "alias_label": "l"], "external_user_id": "u-1"]] },
            "recipients[0] must carry exactly one of external_user_id, user_alias, email (found external_user_id, user_alias)"),
        ValidationCase(
            "a recipient without identifier", createBody { $0["recipients"] = [["trigger_properties": [:]]] },
            "recipients[0] must carry exactly one of external_user_id, user_alias, email (found none)"),
        ValidationCase(
            "an email without prioritization", createBody { $0["recipients"] = [["email": "a@example.com"]] },
            "recipients[0].prioritization is required with email"),
        ValidationCase(
            "a user_alias without label", createBody { $0["recipients"] = [["user_alias": ["alias_name": "a"]]] },
            "recipients[0].user_alias must be an object with non-empty string alias_name and alias_label"),
        ValidationCase(
            "send_to_existing_only false with a user_alias",
            createBody {
                $0["recipients"] = [["user_alias": ["alias_name": "a", "alias_label": "l"], "send_to_existing_only": false, "attributes": [:]]]
            }, "recipients[0].send_to_existing_only false is not allowed with user_alias"),
        ValidationCase(
            "send_to_existing_only false without attributes",
            createBody { $0["recipients"] = [["external_user_id": "u", "send_to_existing_only": false]] },
            "recipients[0].send_to_existing_only false needs attributes to create the user"),
        ValidationCase("broadcast with recipients", createBody { $0["broadcast"] = true }, "recipients are not allowed when broadcast is true"),
        ValidationCase("broadcast that is a string", createBody { $0["broadcast"] = "true" }, "broadcast must be a boolean, got string"),
        ValidationCase("neither recipients nor audience nor broadcast", createBody { $0["recipients"] = nil }, "no recipients"),
        ValidationCase("an empty recipients array", createBody { $0["recipients"] = [] }, "no recipients"),
        ValidationCase(
            "trigger_properties of 51,201 bytes", createBody { $0["trigger_properties"] = properties(ofSize: 51_201) },
            "trigger_properties is 51201 bytes of JSON: at most 51200 (50 KB) are allowed"),
        ValidationCase(
            "a recipient's trigger_properties of 51,201 bytes",
            createBody { $0["recipients"] = [["external_user_id": "u-1", "trigger_properties": properties(ofSize: 51_201)]] },
            "recipients[0].trigger_properties is 51201 bytes"),
        ValidationCase("trigger_properties that are an array", createBody { $0["trigger_properties"] = [1] }, "trigger_properties must be an object, got array"),
        ValidationCase("no schedule", createBody { $0["schedule"] = nil }, "schedule is required"),
        ValidationCase("a schedule without time", createBody { $0["schedule"] = ["in_local_time": false] }, "schedule.time is required"),
        ValidationCase("a time that is a number", createBody { $0["schedule"] = ["time": 1_795_953_600] }, "schedule.time must be a string, got number"),
        ValidationCase(
            "a flag that is a string", createBody { $0["schedule"] = ["time": "2026-12-01T10:00:00Z", "in_local_time": "false"] },
            "schedule.in_local_time must be a boolean, got string"),
        .schedule("both flags", "2026-12-01T10:00:00", local: true, optimal: true, "schedule.in_local_time and schedule.at_optimal_time cannot both be true"),
        .schedule("an instant without offset", "2026-12-01T10:00:00", "schedule.time must be an ISO 8601 time with Z or an offset"),
        .schedule("an instant that is not a time", "tomorrow at ten", "schedule.time must be an ISO 8601 time with Z or an offset"),
        .schedule("an instant with a space for T", "2026-12-01 10:00:00Z", "schedule.time must be an ISO 8601 time with Z or an offset"),
        .schedule("an instant on February 30", "2027-02-30T10:00:00Z", "schedule.time must be an ISO 8601 time with Z or an offset"),
        .schedule("in_local_time with Z", "2026-12-01T10:00:00Z", local: true, "with in_local_time, schedule.time must be a wall-clock time without Z or offset"),
        .schedule("in_local_time with an offset", "2026-12-01T10:00:00+01:00", local: true, "with in_local_time, schedule.time must be a wall-clock time"),
        .schedule("at_optimal_time at ten", "2026-12-01T10:00:00", optimal: true, "with at_optimal_time, schedule.time must be a date at midnight"),
        .schedule("at_optimal_time with Z", "2026-12-01T00:00:00Z", optimal: true, "with at_optimal_time, schedule.time must be a date at midnight"),
        .schedule("at_optimal_time as a bare date", "2026-12-01", optimal: true, "with at_optimal_time, schedule.time must be a date at midnight"),
        .schedule("an instant already past", "2026-11-29T11:59:59Z", "schedule.time is in the past"),
        .schedule("an instant equal to now", "2026-11-29T12:00:00Z", "schedule.time is in the past"),
        .schedule("a local time already passed in the company zone", "2026-11-29T11:00:00", local: true, "local time already passed in company time zone"),
        .schedule("an optimal-time date already over", "2026-11-28T00:00:00", optimal: true, "optimal-time date already passed in company time zone"),
        .schedule("an instant 90 days and a second ahead", "2027-02-27T12:00:01Z", "schedule.time is more than 90 days ahead"),
        .schedule("a local time beyond 90 days", "2027-03-01T10:00:00", local: true, "schedule.time is more than 90 days ahead"),
        .schedule("an optimal-time date beyond 90 days", "2027-03-01T00:00:00", optimal: true, "schedule.time is more than 90 days ahead"),
        .audience("an unknown filter", ["eye_color": "blue"], "audience has an unknown filter \"eye_color\""),
        .audience("two filters in one object", ["AND": [], "OR": []], "audience must hold exactly one filter or AND/OR (found AND, OR)"),
        .audience("an empty AND", ["AND": []], "audience.AND must be a non-empty array of audience objects"),
        .audience(
            "a comparison no type has", ["custom_attribute": ["custom_attribute_name": "x", "comparison": "contains", "value": "a"]],
            "audience.custom_attribute.comparison \"contains\" is not a custom attribute comparison"),
        .audience(
            "exists with a value", ["custom_attribute": ["custom_attribute_name": "x", "comparison": "exists", "value": true]],
            "audience.custom_attribute.value must be absent: exists takes no value"),
        .audience(
            "equals without a value", ["custom_attribute": ["custom_attribute_name": "x", "comparison": "equals"]],
            "audience.custom_attribute.value is required with equals"),
        .audience(
            "greater_than with a string", ["custom_attribute": ["custom_attribute_name": "x", "comparison": "greater_than", "value": "3"]],
            "audience.custom_attribute.value must be a number with greater_than, got string"),
        .audience(
            "a negative number of days",
            ["OR": [["custom_attribute": ["custom_attribute_name": "t", "comparison": "less_than_x_days_ago", "value": -1]]]],
            "audience.OR[0].custom_attribute.value must be a number of days (>= 0) with less_than_x_days_ago"),
        .audience(
            "a regex that does not compile",
            ["custom_attribute": ["custom_attribute_name": "x", "comparison": "matches_regex", "value": "(unclosed"]],
            "audience.custom_attribute.value is not a valid regular expression"),
        .audience(
            "a custom attribute without name", ["custom_attribute": ["comparison": "exists"]],
            "audience.custom_attribute.custom_attribute_name must be a non-empty string"),
        .audience(
            "a subscription state that does not exist", ["push_subscription_status": ["comparison": "is", "value": "maybe"]],
            "audience.push_subscription_status.value must be \"opted_in\", \"subscribed\" or \"unsubscribed\""),
        .audience(
            "a subscription comparison that does not exist", ["email_subscription_status": ["comparison": "equals", "value": "subscribed"]],
            "audience.email_subscription_status.comparison must be \"is\" or \"is_not\""),
        .audience(
            "last_used_app with a date that is not one", ["last_used_app": ["comparison": "after", "value": "yesterday"]],
            "audience.last_used_app.value must be an ISO 8601 time"),
        .audience(
            "a filter with a misspelt key", ["last_used_app": ["comparison": "after", "value": "2026-01-01T00:00:00Z", "valeu": 1]],
            "audience.last_used_app has an unknown key \"valeu\""),
        ValidationCase("an update without schedule_id", .update, ["campaign_id": "c", "schedule": ["time": "2026-12-01T10:00:00Z"]], "schedule_id is required"),
        ValidationCase("an update without schedule", .update, ["campaign_id": "c", "schedule_id": "s"], "schedule is required"),
        ValidationCase("a delete with a numeric schedule_id", .delete, ["campaign_id": "c", "schedule_id": 3], "schedule_id must be a string, got number"),
        ValidationCase("a send without recipients", .send, ["campaign_id": "c"], "no recipients"),
    ]

    @Test("a valid body has no errors", arguments: valid)
    func acceptsValid(_ row: ValidationCase) {
        #expect(Self.validator.errors(in: row.body, for: row.endpoint, now: testNow) == [])
    }

    @Test("an invalid body is refused with the right first message", arguments: invalid)
    func refusesInvalid(_ row: ValidationCase) throws {
        let errors = Self.validator.errors(in: row.body, for: row.endpoint, now: testNow)
        let first = try #require(errors.first, "no error for \(row.name)")
        #expect(first.hasPrefix(try #require(row.expected)), "\(errors)")
    }

    @Test("broken JSON is refused with the parser's position")
    func brokenJSON() {
        let errors = Self.validator.errors(in: Array(#"{"campaign_id": "c",}"#.utf8), for: .create, now: testNow)
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix("invalid JSON: line 1, column") == true, "\(errors)")
    }

    @Test("an unknown campaign is refused when the campaigns are configured")
    func knownCampaigns() {
        let validator = SandboxValidator(knownCampaigns: ["camp-1"])
        #expect(validator.errors(in: createBody(), for: .create, now: testNow) == [])
        #expect(validator.errors(in: createBody { $0["campaign_id"] = "camp-2" }, for: .create, now: testNow) == ["invalid campaign_id"])
    }

    @Test("a local time is checked in the company time zone, not in UTC")
    func companyZone() {
        // 00:30 on Nov 30 in Auckland (UTC+13) is 11:30Z on Nov 29: already past at 12:00Z.
        let auckland = SandboxValidator(companyTimeZone: TimeZone(identifier: "Pacific/Auckland")!)
        let body = createBody { $0["schedule"] = ["time": "2026-11-30T00:30:00", "in_local_time": true] }
        #expect(auckland.errors(in: body, for: .create, now: testNow) == ["local time already passed in company time zone"])
        #expect(Self.validator.errors(in: body, for: .create, now: testNow) == [])
        // 11:00 in Los Angeles (UTC-8) is 19:00Z: still ahead although 11:00Z has passed.
        let losAngeles = SandboxValidator(companyTimeZone: TimeZone(identifier: "America/Los_Angeles")!)
        let morning = createBody { $0["schedule"] = ["time": "2026-11-29T11:00:00", "in_local_time": true] }
        #expect(losAngeles.errors(in: morning, for: .create, now: testNow) == [])
    }

    @Test("every problem is listed, in order")
    func allProblems() {
        let body: JSONValue = ["broadcast": true, "recipients": recipients(51), "schedule": ["time": "2026-12-01T10:00:00"]]
        let errors = Self.validator.errors(in: body, for: .create, now: testNow)
        #expect(
            errors == [
                "campaign_id is required",
                "recipients are not allowed when broadcast is true",
                "recipients holds 51 objects: at most 50 are allowed",
                "schedule.time must be an ISO 8601 time with Z or an offset (e.g. 2026-12-01T10:00:00Z); a time without offset needs in_local_time",
            ])
    }
}
