import FlintPluginAPI

/// The operators a rule condition can use on a path (docs/architecture.md, Rules).
public enum ConditionOperator: String, Sendable, Hashable, CaseIterable, Codable {
    case eq, ne, `in`, notIn = "not_in", gt, gte, lt, lte, exists, contains
    case startsWith = "starts_with", endsWith = "ends_with", matches
}

/// A condition operand that does not fit its operator.
public struct ConditionError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    public init(message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// A regular expression compiled once, when the rule loads. Equal when the patterns are equal.
///
/// Swift's `Regex` rather than `NSRegularExpression`: it is `Sendable`, needs no Foundation, and its
/// compile errors say what is wrong ("expected ')'"), which `flint rules check` shows to the author.
public struct CompiledRegex: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    /// `Regex<AnyRegexOutput>` is not `Sendable` only because its output type is not; the compiled
    /// program is immutable once lowered (which `init` forces), and matching never shares output.
    nonisolated(unsafe) private let regex: Regex<AnyRegexOutput>

    public init(pattern: String) throws(ConditionError) {
        do {
            self.regex = try Regex(pattern)
        } catch {
            throw ConditionError(message: "invalid regular expression '\(pattern)': \(error)")
        }
        self.pattern = pattern
        // Lower the program now, once, rather than on the first event.
        _ = "".contains(regex)
    }

    /// Whether the pattern matches anywhere in `text` (a search, not anchored).
    public func matches(_ text: String) -> Bool {
        text.contains(regex)
    }

    public var description: String { pattern }

    public static func == (lhs: CompiledRegex, rhs: CompiledRegex) -> Bool { lhs.pattern == rhs.pattern }
    public func hash(into hasher: inout Hasher) { hasher.combine(pattern) }
}

/// One `path: { op: operand }` test. The operand is validated for its operator at construction, and
/// a `matches` pattern is compiled then, so evaluation never fails. Immutable, and a class so that
/// walking a condition tree never copies it.
public final class Comparison: Sendable, Hashable, CustomStringConvertible {
    public let path: FieldPath
    public let op: ConditionOperator
    public let operand: JSONValue
    /// The compiled pattern of a `matches` comparison; nil for other operators.
    public let regex: CompiledRegex?
    public let location: SourceLocation?
    /// `description` and the path's text, computed once: failures are explained on the hot path.
    private let text: String
    private let pathText: String

    /// Validates the operand: `in`/`not_in` need an array, `exists` a boolean, `matches` a valid
    /// regular expression, `starts_with`/`ends_with` a string, `gt gte lt lte` a number or a string.
    public init(path: FieldPath, op: ConditionOperator, operand: JSONValue, location: SourceLocation?) throws(ConditionError) {
        func refuse(_ needed: String) -> ConditionError {
            ConditionError(message: "'\(op.rawValue)' needs \(needed), got \(describeOperand(operand))")
        }
        var regex: CompiledRegex?
        switch op {
        case .eq, .ne, .contains:
            break
        case .in, .notIn:
            guard case .array = operand else { throw refuse("a list of values") }
        case .exists:
            guard case .bool = operand else { throw refuse("true or false") }
        case .startsWith, .endsWith:
            guard case .string = operand else { throw refuse("a string") }
        case .gt, .gte, .lt, .lte:
            switch operand {
            case .number, .string: break
            default: throw refuse("a number or a string")
            }
        case .matches:
            guard case .string(let pattern) = operand else { throw refuse("a regular expression string") }
            regex = try CompiledRegex(pattern: pattern)
        }
        self.path = path
        self.op = op
        self.operand = operand
        self.regex = regex
        self.location = location
        self.pathText = path.description
        if op == .exists, operand == .bool(true) {
            self.text = "\(path) exists"
        } else {
            self.text = "\(path) \(op.rawValue) \(shortJSON(operand))"
        }
    }

    /// `properties.cart_value gte 20`; `properties.plan exists` for `exists: true`.
    public var description: String { text }

    public static func == (lhs: Comparison, rhs: Comparison) -> Bool {
        lhs.path == rhs.path && lhs.op == rhs.op && lhs.operand == rhs.operand && lhs.location == rhs.location
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(path)
        hasher.combine(op)
        hasher.combine(operand)
    }

    /// Evaluates against a scope; nil when the comparison holds, else why it does not.
    public func failure(in scope: JSONValue) -> ComparisonFailure? {
        let value = path.resolve(in: scope)
        guard let detail = check(value) else { return nil }
        return ComparisonFailure(
            path: pathText, op: op.rawValue, expected: operand, seen: value,
            explanation: "\(description): \(detail)", location: location)
    }

    /// Whether the comparison holds.
    public func holds(in scope: JSONValue) -> Bool {
        check(path.resolve(in: scope)) == nil
    }

    /// nil when the comparison holds for `value`, else the reason ("saw 12.5", "missing", ...).
    private func check(_ value: JSONValue?) -> String? {
        switch op {
        case .eq:
            guard let value else { return "missing" }
            if jsonEqual(value, operand) { return nil }
            return sameType(value, operand) ? seen(value) : mismatch(value, needed: withArticle(operand.typeName))
        case .ne:
            guard let value, jsonEqual(value, operand) else { return nil }
            return seen(value)
        case .in:
            guard let value else { return "missing" }
            let options = operand.arrayValue ?? []
            if options.contains(where: { jsonEqual(value, $0) }) { return nil }
            if options.contains(where: { sameType(value, $0) }) { return "\(seen(value)), not in the list" }
            return "\(seenWithType(value)), not in the list, which holds no \(value.typeName)"
        case .notIn:
            guard let value, (operand.arrayValue ?? []).contains(where: { jsonEqual(value, $0) }) else { return nil }
            return "\(seen(value)), which is in the list"
        case .gt, .gte, .lt, .lte:
            guard let value else { return "missing" }
            let order: Int
            switch (value, operand) {
            case (.number(let a), .number(let b)):
                order = a < b ? -1 : (a > b ? 1 : 0)
            case (.string(let a), .string(let b)):
                order = compareScalars(a, b)
            default:
                return mismatch(value, needed: withArticle(operand.typeName))
            }
            let holds =
                switch op {
                case .gt: order > 0
                case .gte: order >= 0
                case .lt: order < 0
                default: order <= 0
                }
            return holds ? nil : seen(value)
        case .exists:
            let present = value.map { !$0.isNull } ?? false
            if present == (operand.boolValue ?? true) { return nil }
            guard let value else { return "missing" }
            return seen(value)
        case .contains:
            guard let value else { return "missing" }
            switch (value, operand) {
            case (.array(let elements), _):
                return elements.contains(where: { jsonEqual($0, operand) }) ? nil : seen(value)
            case (.string(let text), .string(let needle)):
                return containsBytes(text, needle) ? nil : seen(value)
            case (.string, _):
                return mismatch(value, needed: "an array to contain \(shortJSON(operand))")
            default:
                return mismatch(value, needed: "an array or a string")
            }
        case .startsWith, .endsWith:
            guard let value else { return "missing" }
            guard case .string(let text) = value, case .string(let affix) = operand else {
                return mismatch(value, needed: "a string")
            }
            let holds =
                op == .startsWith
                ? text.utf8.starts(with: affix.utf8)
                : text.utf8.reversed().starts(with: affix.utf8.reversed())
            return holds ? nil : seen(value)
        case .matches:
            guard let value else { return "missing" }
            guard case .string(let text) = value else { return mismatch(value, needed: "a string") }
            return regex?.matches(text) ?? false ? nil : "\(seen(value)), which does not match"
        }
    }
}

// MARK: - Helpers

/// Equality for conditions: same type and equal; numbers by value (20 == 20.0); strings by Unicode
/// scalars (no normalization, like Braze and SQL would compare them).
private func jsonEqual(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.number(let x), .number(let y)): return x == y
    case (.string(let x), .string(let y)): return x.utf8.elementsEqual(y.utf8)
    case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { jsonEqual($0, $1) }
    case (.object(let x), .object(let y)):
        guard x.count == y.count else { return false }
        for (key, value) in x {
            guard let other = y[key], jsonEqual(value, other) else { return false }
        }
        return true
    default: return false
    }
}

private func sameType(_ a: JSONValue, _ b: JSONValue) -> Bool { a.typeName == b.typeName }

/// -1, 0 or 1, comparing by Unicode scalar values (UTF-8 byte order is the same order).
private func compareScalars(_ a: String, _ b: String) -> Int {
    if a.utf8.elementsEqual(b.utf8) { return 0 }
    return a.utf8.lexicographicallyPrecedes(b.utf8) ? -1 : 1
}

private func containsBytes(_ haystack: String, _ needle: String) -> Bool {
    let h = Array(haystack.utf8)
    let n = Array(needle.utf8)
    if n.isEmpty { return true }
    guard n.count <= h.count else { return false }
    for start in 0...(h.count - n.count) where h[start] == n[0] {
        var k = 1
        while k < n.count, h[start + k] == n[k] { k += 1 }
        if k == n.count { return true }
    }
    return false
}

/// Compact JSON cut to a readable length for explanations (the full value is kept in `seen`).
private func shortJSON(_ value: JSONValue, limit: Int = 120) -> String {
    let text = value.compactJSON
    guard text.unicodeScalars.count > limit else { return text }
    return String(String.UnicodeScalarView(text.unicodeScalars.prefix(limit))) + "…"
}

private func seen(_ value: JSONValue) -> String { "saw \(shortJSON(value))" }

private func seenWithType(_ value: JSONValue) -> String {
    value.isNull ? "saw null" : "saw \(shortJSON(value)) (\(value.typeName))"
}

private func mismatch(_ value: JSONValue, needed: String) -> String {
    "\(seenWithType(value)), \(needed) is needed"
}

private func withArticle(_ typeName: String) -> String {
    switch typeName {
    case "null": "null"
    case "array", "object": "an \(typeName)"
    default: "a \(typeName)"
    }
}

private func describeOperand(_ value: JSONValue) -> String {
    value.isNull ? "null" : "\(withArticle(value.typeName)) (\(shortJSON(value, limit: 60)))"
}
