import FlintPluginAPI
import Foundation

/// Turns one rule's nodes into a `Rule`, collecting every problem instead of stopping at the first.
struct RuleDecoder {
    let file: String
    /// The file's whole text, carried on each rule (`Rule.fileText`).
    let text: String?
    private(set) var diagnostics: [Diagnostic] = []

    init(file: String, text: String? = nil) {
        self.file = file
        self.text = text
    }

    // MARK: Reporting

    mutating func error(_ node: SourceNode, _ message: String) {
        diagnostics.append(Diagnostic(severity: .error, file: file, line: node.line, column: node.column, message: message))
    }

    mutating func warning(_ node: SourceNode, _ message: String) {
        diagnostics.append(Diagnostic(severity: .warning, file: file, line: node.line, column: node.column, message: message))
    }

    func location(_ node: SourceNode) -> SourceLocation {
        SourceLocation(file: file, line: node.line, column: node.column)
    }

    /// Reads a mapping's keys, reporting unknown and duplicate keys; returns key -> (key node, value node).
    mutating func fields(
        _ node: SourceNode, in context: String, allowed: [String]
    ) -> [String: (key: SourceNode, value: SourceNode)]? {
        guard let pairs = node.mapping else {
            error(node, "\(context): expected a mapping, got \(node.typeName)")
            return nil
        }
        var result: [String: (key: SourceNode, value: SourceNode)] = [:]
        for (key, value) in pairs {
            guard let name = key.scalarText else {
                error(key, "\(context): keys must be plain names, got \(key.typeName)")
                continue
            }
            if !allowed.contains(name) {
                var message = "unknown key '\(name)' in \(context)"
                if let suggestion = Self.suggest(name, from: allowed) { message += "; did you mean '\(suggestion)'?" }
                message += " (expected one of: \(allowed.joined(separator: ", ")))"
                error(key, message)
                continue
            }
            if let first = result[name] {
                error(key, "duplicate key '\(name)' in \(context) (first at line \(first.key.line))")
                continue
            }
            result[name] = (key, value)
        }
        return result
    }

    /// The candidate a misspelt word most likely meant, or nil (`DidYouMean.suggest`).
    static func suggest(_ name: String, from candidates: [String], aliases: [String: String] = [:]) -> String? {
        DidYouMean.suggest(name, from: candidates, aliases: aliases)
    }

    /// "; did you mean 'x'?" or "".
    static func didYouMean(_ name: String, from candidates: [String], aliases: [String: String] = [:]) -> String {
        suggest(name, from: candidates, aliases: aliases).map { "; did you mean '\($0)'?" } ?? ""
    }

    /// Words people write for condition operators.
    static let operatorAliases: [String: String] = [
        "=": "eq", "==": "eq", "===": "eq", "is": "eq", "equal": "eq", "equals": "eq", "equal_to": "eq", "eql": "eq",
        "!=": "ne", "<>": "ne", "neq": "ne", "not": "ne", "is_not": "ne", "not_equal": "ne", "not_equals": "ne", "not_eq": "ne",
        ">": "gt", "greater": "gt", "greater_than": "gt", "more_than": "gt", "above": "gt",
        ">=": "gte", "ge": "gte", "greater_than_or_equal": "gte", "greater_or_equal": "gte", "at_least": "gte", "min": "gte",
        "<": "lt", "less": "lt", "less_than": "lt", "below": "lt",
        "<=": "lte", "le": "lte", "less_than_or_equal": "lte", "less_or_equal": "lte", "at_most": "lte", "max": "lte",
        "one_of": "in", "any_of": "in", "within": "in", "nin": "not_in", "not_one_of": "not_in", "none_of": "not_in",
        "has": "contains", "include": "contains", "includes": "contains", "has_item": "contains",
        "present": "exists", "defined": "exists", "is_set": "exists",
        "begins_with": "starts_with", "startswith": "starts_with", "prefix": "starts_with",
        "endswith": "ends_with", "suffix": "ends_with",
        "regex": "matches", "regexp": "matches", "match": "matches", "like": "matches", "pattern": "matches",
    ]

    /// Full weekday names and other spellings for `schedule.on`.
    static let weekdayAliases: [String: String] = [
        "monday": "mon", "tuesday": "tue", "tues": "tue", "wednesday": "wed", "thursday": "thu", "thur": "thu", "thurs": "thu",
        "friday": "fri", "saturday": "sat", "sunday": "sun",
    ]

    // MARK: Scalars

    mutating func string(_ node: SourceNode, _ what: String) -> String? {
        guard case .scalar(let text, let quoted) = node.kind else {
            error(node, "\(what): expected a string, got \(node.typeName)")
            return nil
        }
        if !quoted, case .null = SourceNode.interpret(plain: text) {
            error(node, "\(what): expected a string, got null")
            return nil
        }
        return text
    }

    mutating func bool(_ node: SourceNode, _ what: String) -> Bool? {
        if case .scalar(let text, quoted: false) = node.kind {
            if text == "true" { return true }
            if text == "false" { return false }
        }
        error(node, "\(what): expected true or false, got \(node.typeName == "a string" ? "'\(node.scalarText ?? "")'" : node.typeName)")
        return nil
    }

    mutating func integer(_ node: SourceNode, _ what: String, minimum: Int) -> Int? {
        if case .scalar(let text, quoted: false) = node.kind, let n = Int(text), n >= minimum { return n }
        error(node, "\(what): expected a whole number >= \(minimum), got \(describe(node))")
        return nil
    }

    mutating func duration(_ node: SourceNode, _ what: String) -> Int? {
        guard let text = node.scalarText else {
            error(node, "\(what): expected a duration such as 2h or 1h30m, got \(node.typeName)")
            return nil
        }
        guard let seconds = DurationText.seconds(text) else {
            error(node, "\(what): '\(text)' is not a duration; write a number and a unit (s, m, h, d, w), e.g. 90s, 2h, 1h30m, 7d")
            return nil
        }
        return seconds
    }

    mutating func timeOfDay(_ node: SourceNode, _ what: String) -> TimeOfDay? {
        guard let text = node.scalarText, let time = TimeOfDay(parsing: text) else {
            error(node, "\(what): expected a time of day HH:MM (24-hour clock, e.g. \"10:00\"), got \(describe(node))")
            return nil
        }
        return time
    }

    mutating func template(_ node: SourceNode, _ what: String) -> Template? {
        guard let text = string(node, what) else { return nil }
        return template(text: text, node: node, what)
    }

    mutating func template(text: String, node: SourceNode, _ what: String) -> Template? {
        do {
            return try Template(parsing: text)
        } catch {
            // Point inside the scalar when it sits on one line; quoted scalars start one column earlier.
            var at = node
            if case .scalar(_, let quoted) = node.kind, !text.contains("\n") {
                at.column += error.column - 1 + (quoted ? 1 : 0)
            }
            self.error(at, "\(what): invalid template: \(error.message)")
            return nil
        }
    }

    func describe(_ node: SourceNode) -> String {
        if case .scalar(let text, _) = node.kind { return "'\(text)'" }
        return node.typeName
    }

    /// A templated JSON tree (trigger_properties, send.with).
    mutating func templatedValue(_ node: SourceNode, _ what: String) -> TemplatedValue? {
        switch node.kind {
        case .scalar(let text, let quoted):
            let value = quoted ? JSONValue.string(text) : SourceNode.interpret(plain: text)
            if case .string(let s) = value, s.contains("{{") {
                guard let t = template(text: s, node: node, what) else { return nil }
                return .template(t)
            }
            return .literal(value)
        case .sequence(let items):
            var out: [TemplatedValue] = []
            var ok = true
            for (i, item) in items.enumerated() {
                if let v = templatedValue(item, "\(what)[\(i)]") { out.append(v) } else { ok = false }
            }
            return ok ? .array(out) : nil
        case .mapping(let pairs):
            var out: [(key: String, value: TemplatedValue)] = []
            var seen: [String: Int] = [:]
            var ok = true
            for (key, value) in pairs {
                guard let name = key.scalarText else {
                    error(key, "\(what): keys must be strings")
                    ok = false
                    continue
                }
                if let line = seen[name] {
                    error(key, "duplicate key '\(name)' in \(what) (first at line \(line))")
                    ok = false
                    continue
                }
                seen[name] = key.line
                if let v = templatedValue(value, "\(what).\(name)") { out.append((name, v)) } else { ok = false }
            }
            return ok ? .object(out) : nil
        }
    }
}
