import FlintPluginAPI
import Foundation

/// Connected-audience checks, per docs/braze.md, Broadcast and audiences.
extension RuleDecoder {
    static let comparisonsByType: [(type: String, comparisons: [String])] = [
        ("string", ["equals", "not_equal", "matches_regex", "does_not_match_regex", "exists", "does_not_exist"]),
        ("array", ["includes_value", "does_not_include_value", "exists", "does_not_exist"]),
        ("number", ["equals", "not_equal", "greater_than", "greater_than_or_equal_to", "less_than", "less_than_or_equal_to", "exists", "does_not_exist"]),
        ("boolean", ["equals", "does_not_equal", "exists", "does_not_exist"]),
        ("time", ["less_than_x_days_ago", "greater_than_x_days_ago", "less_than_x_days_in_the_future", "greater_than_x_days_in_the_future", "after", "before", "exists", "does_not_exist"]),
    ]

    static let filterNames = ["custom_attribute", "push_subscription_status", "email_subscription_status", "last_used_app"]

    mutating func audience(_ node: SourceNode, _ what: String) {
        guard let pairs = node.mapping else {
            error(node, "\(what): expected a connected-audience filter or {AND: [...]} / {OR: [...]}, got \(node.typeName)")
            return
        }
        guard pairs.count == 1, let (key, value) = pairs.first, let name = key.scalarText else {
            error(node, "\(what): an audience node holds exactly one key: AND, OR, or one filter (\(Self.filterNames.joined(separator: ", ")))")
            return
        }
        switch name {
        case "AND", "OR":
            guard let items = value.sequence, !items.isEmpty else {
                error(value, "\(what).\(name): expected a non-empty list of filters")
                return
            }
            for (i, item) in items.enumerated() { audience(item, "\(what).\(name)[\(i)]") }
        case "custom_attribute":
            customAttribute(value, "\(what).custom_attribute")
        case "push_subscription_status", "email_subscription_status":
            guard let f = fields(value, in: "\(what).\(name)", allowed: ["comparison", "value"]) else { return }
            oneOf(f, key: "comparison", in: ["is", "is_not"], parent: key, "\(what).\(name)")
            oneOf(f, key: "value", in: ["opted_in", "subscribed", "unsubscribed"], parent: key, "\(what).\(name)")
        case "last_used_app":
            guard let f = fields(value, in: "\(what).last_used_app", allowed: ["comparison", "value"]) else { return }
            oneOf(f, key: "comparison", in: ["after", "before"], parent: key, "\(what).last_used_app")
            if let (_, v) = f["value"] {
                if v.scalarText.flatMap(Timestamp.parse) == nil {
                    error(v, "\(what).last_used_app.value: expected an ISO 8601 time such as 2026-07-22T13:17:55Z, got \(describe(v))")
                }
            } else {
                error(key, "\(what).last_used_app: missing required key 'value'")
            }
        default:
            var message = "\(what): unknown audience filter '\(name)'"
            if let s = Self.suggest(name, from: Self.filterNames + ["AND", "OR"]) { message += "; did you mean '\(s)'?" }
            error(key, message + " (filters: \(Self.filterNames.joined(separator: ", ")), or AND / OR)")
        }
    }

    private mutating func oneOf(
        _ f: [String: (key: SourceNode, value: SourceNode)], key: String, in allowed: [String], parent: SourceNode, _ what: String
    ) {
        guard let (_, v) = f[key] else {
            error(parent, "\(what): missing required key '\(key)'")
            return
        }
        guard let text = v.scalarText, allowed.contains(text) else {
            error(v, "\(what).\(key): expected one of \(allowed.joined(separator: ", ")), got \(describe(v))")
            return
        }
    }

    private mutating func customAttribute(_ node: SourceNode, _ what: String) {
        guard let f = fields(node, in: what, allowed: ["custom_attribute_name", "comparison", "value"]) else { return }
        if let (_, v) = f["custom_attribute_name"] {
            if let s = string(v, "\(what).custom_attribute_name"), s.isEmpty { error(v, "\(what).custom_attribute_name: must not be empty") }
        } else {
            error(node, "\(what): missing required key 'custom_attribute_name'")
        }
        guard let (_, c) = f["comparison"] else {
            error(node, "\(what): missing required key 'comparison'")
            return
        }
        let all = Self.comparisonsByType.flatMap(\.comparisons)
        guard let comparison = c.scalarText, all.contains(comparison) else {
            var message = "\(what).comparison: unknown comparison \(describe(c))"
            if let s = Self.suggest(c.scalarText ?? "", from: Array(Set(all)).sorted()) { message += "; did you mean '\(s)'?" }
            error(c, message)
            return
        }
        let value = f["value"]
        if comparison == "exists" || comparison == "does_not_exist" {
            if let (key, _) = value { error(key, "\(what).value: '\(comparison)' takes no value; remove it") }
            return
        }
        guard let (_, v) = value else {
            error(node, "\(what): missing required key 'value' for comparison '\(comparison)'")
            return
        }
        let json = v.json
        // The types whose comparisons include this one, and whether the value fits any of them.
        let types = Self.comparisonsByType.filter { $0.comparisons.contains(comparison) }.map(\.type)
        let fits = types.contains { type in
            switch (type, json) {
            case ("string", .string): return true
            case ("number", .number): return true
            case ("boolean", .bool): return true
            case ("array", .string), ("array", .number), ("array", .bool): return true
            case ("time", .number(let n)) where comparison.contains("_x_days_"): return n >= 0 && n == n.rounded()
            case ("time", .string(let s)) where comparison == "after" || comparison == "before": return Timestamp.parse(s) != nil
            default: return false
            }
        }
        if !fits {
            let expected: String
            if comparison.contains("_x_days_") {
                expected = "a whole number of days"
            } else if comparison == "after" || comparison == "before" {
                expected = "an ISO 8601 time"
            } else {
                expected = types.map { $0 == "array" ? "an array element (string or number)" : "a \($0)" }.joined(separator: " or ")
            }
            error(v, "\(what).value: '\(comparison)' needs \(expected), got \(describe(v))")
            return
        }
        if comparison.hasSuffix("match_regex") || comparison == "matches_regex", case .string(let pattern) = json {
            if (try? NSRegularExpression(pattern: pattern)) == nil {
                error(v, "\(what).value: '\(pattern)' is not a valid regular expression")
            }
        }
    }
}
