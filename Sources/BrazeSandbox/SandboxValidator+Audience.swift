import FlintPluginAPI
import Foundation

/// The connected-audience object, per docs/braze.md, Broadcast and audiences: one filter, or `AND`/`OR` arrays of
/// audience objects that nest.
extension SandboxValidator {
    /// What a comparison wants as `value`.
    enum AudienceValue: Sendable {
        /// `exists` / `does_not_exist`: no value at all.
        case none
        /// A string, number or boolean.
        case scalar
        case string
        case regex
        case number
        /// A count of days, a number >= 0.
        case days
        /// An ISO 8601 time.
        case time
    }

    /// Every custom attribute comparison of docs/braze.md, across the attribute types (string, array,
    /// number, boolean, time): the sandbox cannot know an attribute's type, so it takes the union.
    static let customAttributeComparisons: [String: AudienceValue] = [
        "equals": .scalar, "not_equal": .scalar, "does_not_equal": .scalar,
        "matches_regex": .regex, "does_not_match_regex": .regex,
        "exists": .none, "does_not_exist": .none,
        "includes_value": .scalar, "does_not_include_value": .scalar,
        "greater_than": .number, "greater_than_or_equal_to": .number, "less_than": .number, "less_than_or_equal_to": .number,
        "less_than_x_days_ago": .days, "greater_than_x_days_ago": .days,
        "less_than_x_days_in_the_future": .days, "greater_than_x_days_in_the_future": .days,
        "after": .time, "before": .time,
    ]

    static let subscriptionComparisons: Set<String> = ["is", "is_not"]
    static let subscriptionStates: Set<String> = ["opted_in", "subscribed", "unsubscribed"]
    static let audienceFilters = ["AND", "OR", "custom_attribute", "push_subscription_status", "email_subscription_status", "last_used_app"]

    /// Checks an audience object; `path` names it in messages (`audience.AND[1].custom_attribute`).
    func checkAudience(_ value: JSONValue, at path: String = "audience", into errors: inout [String]) {
        guard case .object(let object) = value else {
            errors.append("\(path) must be an object, got \(value.typeName)")
            return
        }
        guard object.count == 1, let (key, filter) = object.first.map({ ($0.key, $0.value) }) else {
            let keys = object.keys.sorted().joined(separator: ", ")
            errors.append("\(path) must hold exactly one filter or AND/OR (found \(keys.isEmpty ? "none" : keys))")
            return
        }
        let here = "\(path).\(key)"
        switch key {
        case "AND", "OR":
            guard case .array(let items) = filter, !items.isEmpty else {
                errors.append("\(here) must be a non-empty array of audience objects")
                return
            }
            for (index, item) in items.enumerated() {
                checkAudience(item, at: "\(here)[\(index)]", into: &errors)
            }
        case "custom_attribute":
            guard case .object(let fields) = filter else { return errors.append("\(here) must be an object, got \(filter.typeName)") }
            checkKnownKeys(fields, ["custom_attribute_name", "comparison", "value"], at: here, into: &errors)
            if (fields["custom_attribute_name"]?.stringValue ?? "").isEmpty {
                errors.append("\(here).custom_attribute_name must be a non-empty string")
            }
            guard let comparison = fields["comparison"]?.stringValue else {
                return errors.append("\(here).comparison is required (a string)")
            }
            guard let rule = Self.customAttributeComparisons[comparison] else {
                let known = Self.customAttributeComparisons.keys.sorted().joined(separator: ", ")
                return errors.append("\(here).comparison \(quoted(comparison)) is not a custom attribute comparison (\(known))")
            }
            checkAudienceValue(fields["value"], rule: rule, comparison: comparison, at: "\(here).value", into: &errors)
        case "push_subscription_status", "email_subscription_status":
            guard case .object(let fields) = filter else { return errors.append("\(here) must be an object, got \(filter.typeName)") }
            checkKnownKeys(fields, ["comparison", "value"], at: here, into: &errors)
            if !Self.subscriptionComparisons.contains(fields["comparison"]?.stringValue ?? "") {
                errors.append("\(here).comparison must be \"is\" or \"is_not\"")
            }
            if !Self.subscriptionStates.contains(fields["value"]?.stringValue ?? "") {
                errors.append("\(here).value must be \"opted_in\", \"subscribed\" or \"unsubscribed\"")
            }
        case "last_used_app":
            guard case .object(let fields) = filter else { return errors.append("\(here) must be an object, got \(filter.typeName)") }
            checkKnownKeys(fields, ["comparison", "value"], at: here, into: &errors)
            let comparison = fields["comparison"]?.stringValue ?? ""
            if comparison != "after", comparison != "before" {
                errors.append("\(here).comparison must be \"after\" or \"before\"")
            }
            checkAudienceValue(fields["value"], rule: .time, comparison: comparison, at: "\(here).value", into: &errors)
        default:
            errors.append("\(path) has an unknown filter \(quoted(key)) (expected one of \(Self.audienceFilters.joined(separator: ", ")))")
        }
    }

    func checkAudienceValue(_ value: JSONValue?, rule: AudienceValue, comparison: String, at path: String, into errors: inout [String]) {
        if rule == .none {
            if let value, !value.isNull { errors.append("\(path) must be absent: \(comparison) takes no value") }
            return
        }
        guard let value, !value.isNull else {
            return errors.append("\(path) is required with \(comparison)")
        }
        switch rule {
        case .none:
            break
        case .scalar:
            switch value {
            case .string, .number, .bool: break
            default: errors.append("\(path) must be a string, number or boolean with \(comparison), got \(value.typeName)")
            }
        case .string:
            if value.stringValue == nil { errors.append("\(path) must be a string with \(comparison), got \(value.typeName)") }
        case .regex:
            guard let pattern = value.stringValue else {
                return errors.append("\(path) must be a string with \(comparison), got \(value.typeName)")
            }
            if (try? NSRegularExpression(pattern: pattern)) == nil {
                errors.append("\(path) is not a valid regular expression")
            }
        case .number:
            if value.numberValue == nil { errors.append("\(path) must be a number with \(comparison), got \(value.typeName)") }
        case .days:
            guard let days = value.numberValue, days >= 0 else {
                return errors.append("\(path) must be a number of days (>= 0) with \(comparison)")
            }
        case .time:
            guard let text = value.stringValue, SandboxTime.parse(text) != nil else {
                return errors.append("\(path) must be an ISO 8601 time (e.g. 2019-07-22T13:17:55+0000)")
            }
        }
    }

    func checkKnownKeys(_ fields: [String: JSONValue], _ known: Set<String>, at path: String, into errors: inout [String]) {
        for key in fields.keys.sorted() where !known.contains(key) {
            errors.append("\(path) has an unknown key \(quoted(key))")
        }
    }

    func quoted(_ text: String) -> String {
        JSONValue.string(String(text.prefix(100))).compactJSON
    }
}
