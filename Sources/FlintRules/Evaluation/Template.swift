import FlintPluginAPI

/// A string with `{{ path | filter: arg | filter }}` expressions, as rules write trigger properties,
/// send ids and limit keys.
///
/// A lone expression (`"{{ properties.cart_value }}"`, nothing around it, not even spaces) keeps the
/// JSON type of its value; anything else renders a string. See docs/rules.md, Templates.
public struct Template: Sendable, Hashable, CustomStringConvertible {
    public enum Part: Sendable, Hashable {
        case literal(String)
        case expression(TemplateExpression)
    }

    /// `path | filter | filter`, applied left to right.
    public struct TemplateExpression: Sendable, Hashable, CustomStringConvertible {
        public var path: FieldPath
        public var filters: [TemplateFilter]

        public init(path: FieldPath, filters: [TemplateFilter] = []) {
            self.path = path
            self.filters = filters
        }

        /// The value after the filters; nil when missing.
        public func evaluate(in scope: JSONValue) -> JSONValue? {
            var value = path.resolve(in: scope)
            for filter in filters { value = filter.apply(to: value) }
            return value
        }

        /// `properties.name | default: "x" | upcase`
        public var description: String {
            ([path.description] + filters.map(\.description)).joined(separator: " | ")
        }
    }

    public enum TemplateFilter: Sendable, Hashable, CustomStringConvertible {
        /// Replaces a missing, null or empty-string value; the result has the default's type.
        case `default`(JSONValue)
        /// The printed form of the value in upper case (a string).
        case upcase
        /// The printed form of the value in lower case (a string).
        case downcase
        /// Rounds a number (or a numeric string) half away from zero to this many decimals.
        case round(Int)
        /// The value as compact JSON text (a string).
        case json

        /// The filter names in the order messages list them.
        public static let knownNames = ["default", "upcase", "downcase", "round", "json"]

        /// The most decimals `round` accepts; a Double carries about 15 significant digits.
        public static let maxRoundDecimals = 15

        public var name: String {
            switch self {
            case .default: "default"
            case .upcase: "upcase"
            case .downcase: "downcase"
            case .round: "round"
            case .json: "json"
            }
        }

        public var description: String {
            switch self {
            case .default(let value): "default: \(value.compactJSON)"
            case .round(let decimals): decimals == 0 ? "round" : "round: \(decimals)"
            default: name
            }
        }

        /// Applies the filter; nil means missing.
        public func apply(to value: JSONValue?) -> JSONValue? {
            switch self {
            case .default(let fallback):
                switch value {
                case nil, .null?, .string("")?: return fallback
                default: return value
                }
            case .upcase:
                guard let value, !value.isNull else { return nil }
                return .string(value.interpolationText.uppercased())
            case .downcase:
                guard let value, !value.isNull else { return nil }
                return .string(value.interpolationText.lowercased())
            case .round(let decimals):
                switch value {
                case .number(let x)?:
                    return .number(roundHalfAwayFromZero(x, decimals: decimals))
                case .string(let text)?:
                    guard let x = numericValue(of: text) else { return nil }
                    return .number(roundHalfAwayFromZero(x, decimals: decimals))
                default:
                    return nil
                }
            case .json:
                guard let value, !value.isNull else { return nil }
                return .string(value.compactJSON)
            }
        }
    }

    public var parts: [Part]
    public var source: String

    public init(parts: [Part], source: String) {
        self.parts = parts
        self.source = source
    }

    /// A template without expressions.
    public init(literal text: String) {
        self.parts = text.isEmpty ? [] : [.literal(text)]
        self.source = text
    }

    /// No expressions: renders to its text.
    public var isLiteral: Bool {
        parts.allSatisfy { if case .literal = $0 { true } else { false } }
    }

    /// Exactly one expression and nothing else (surrounding whitespace makes it a string template).
    public var isLone: Bool {
        if parts.count == 1, case .expression = parts[0] { return true }
        return false
    }

    public var description: String { source }

    /// Paths this template reads, in order (for lint warnings, e.g. a send_id reading userId).
    public var paths: [FieldPath] {
        parts.compactMap { if case .expression(let e) = $0 { e.path } else { nil } }
    }

    /// Parses a template.
    ///
    /// Errors for an unclosed `{{`, an empty expression, a bad path, an unknown filter (the message
    /// lists the known ones) and bad filter arguments: `round` takes an optional whole number of
    /// decimals (0 to 15, default 0); `default` takes one literal: `'x'`, `"x"`, a number, `true`,
    /// `false` or `null`.
    public init(parsing text: String) throws(TemplateError) {
        var parser = TemplateParser(scalars: Array(text.unicodeScalars))
        self.parts = try parser.parse()
        self.source = text
    }

    /// Renders against a scope (the event, with `user` beside it).
    ///
    /// A lone template keeps the JSON type of its value and gives nil when that is missing or null
    /// after the filters (the caller drops the key). Otherwise the result is a string: numbers
    /// without a trailing `.0`, missing and null as empty, arrays and objects as compact JSON.
    public func render(in scope: JSONValue) -> JSONValue? {
        if isLone, case .expression(let expression) = parts[0] {
            guard let value = expression.evaluate(in: scope), !value.isNull else { return nil }
            return value
        }
        return .string(interpolate(in: scope))
    }

    /// Renders to a string (for ids and keys), lone or not; nil when a lone result is missing or null.
    public func renderString(in scope: JSONValue) -> String? {
        if isLone, case .expression(let expression) = parts[0] {
            guard let value = expression.evaluate(in: scope), !value.isNull else { return nil }
            return value.interpolationText
        }
        return interpolate(in: scope)
    }

    private func interpolate(in scope: JSONValue) -> String {
        var text = ""
        for part in parts {
            switch part {
            case .literal(let literal): text += literal
            case .expression(let expression): text += expression.evaluate(in: scope)?.interpolationText ?? ""
            }
        }
        return text
    }
}

/// A template that does not parse, with the 1-based column (in Unicode scalars) of the problem.
public struct TemplateError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public var column: Int

    public init(message: String, column: Int) {
        self.message = message
        self.column = column
    }

    public var description: String { "column \(column): \(message)" }
}

extension JSONValue {
    /// How a value prints inside a string template: strings as is, numbers without a trailing `.0`,
    /// null as empty, arrays and objects as compact JSON.
    var interpolationText: String {
        switch self {
        case .null: ""
        case .bool(let b): b ? "true" : "false"
        case .number(let n): JSONValue.numberText(n)
        case .string(let s): s
        case .array, .object: compactJSON
        }
    }
}

/// A string that reads as a JSON number (surrounding spaces allowed), for `round` on "12.345".
private func numericValue(of text: String) -> Double? {
    guard !text.isEmpty, text.utf8.count <= 64, case .number(let x)? = try? JSONParser.parse(text) else { return nil }
    return x
}

/// Rounds half away from zero on the shortest decimal form of `x`, so `1.005` with two decimals is
/// `1.01` as a person expects (binary `x * 100` would give 100.49999999999999 and round down).
func roundHalfAwayFromZero(_ x: Double, decimals: Int) -> Double {
    guard x.isFinite, x != 0 else { return x == 0 ? 0 : x }
    // Split the shortest round-trip form into digits and the position of the decimal point.
    let text = abs(x).description
    var mantissa = Substring(text)
    var exponent = 0
    if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        mantissa = text[..<e]
        exponent = Int(text[text.index(after: e)...]) ?? 0
    }
    var digits: [UInt8] = []
    var pointPosition = 0
    var seenPoint = false
    for c in mantissa.utf8 {
        if c == UInt8(ascii: ".") {
            seenPoint = true
        } else {
            digits.append(c - UInt8(ascii: "0"))
            if !seenPoint { pointPosition += 1 }
        }
    }
    pointPosition += exponent
    while let first = digits.first, first == 0, digits.count > 1 {
        digits.removeFirst()
        pointPosition -= 1
    }
    // value = 0.d1d2d3... * 10^pointPosition; keep `pointPosition + decimals` digits.
    let keep = pointPosition + decimals
    if keep >= digits.count { return x }
    if keep < 0 { return 0 }
    var kept = Array(digits[0..<keep])
    if digits[keep] >= 5 {
        var k = kept.count - 1
        while k >= 0, kept[k] == 9 {
            kept[k] = 0
            k -= 1
        }
        if k >= 0 { kept[k] += 1 } else { kept.insert(1, at: 0) }
    }
    if kept.isEmpty || kept.allSatisfy({ $0 == 0 }) { return 0 }
    let rounded = String(decoding: kept.map { $0 + UInt8(ascii: "0") }, as: UTF8.self) + "e-\(decimals)"
    guard let magnitude = Double(rounded) else { return x }
    return x < 0 ? -magnitude : magnitude
}

// MARK: - Parsing

private struct TemplateParser {
    let scalars: [Unicode.Scalar]
    var position = 0

    init(scalars: [Unicode.Scalar]) {
        self.scalars = scalars
    }

    func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        position + offset < scalars.count ? scalars[position + offset] : nil
    }

    func column(_ index: Int) -> Int { index + 1 }

    mutating func skipWhitespace() {
        while let s = peek(), s.properties.isWhitespace { position += 1 }
    }

    mutating func parse() throws(TemplateError) -> [Template.Part] {
        var parts: [Template.Part] = []
        var literal = String.UnicodeScalarView()
        while let scalar = peek() {
            if scalar == "{", peek(1) == "{" {
                if !literal.isEmpty {
                    parts.append(.literal(String(literal)))
                    literal = String.UnicodeScalarView()
                }
                parts.append(.expression(try parseExpression()))
            } else {
                literal.append(scalar)
                position += 1
            }
        }
        if !literal.isEmpty { parts.append(.literal(String(literal))) }
        return parts
    }

    /// `{{ path | filter: arg }}`; `position` is at the first `{`.
    mutating func parseExpression() throws(TemplateError) -> Template.TemplateExpression {
        let open = position
        position += 2
        skipWhitespace()
        guard let first = peek() else { throw unclosed(open) }
        if first == "}", peek(1) == "}" {
            throw TemplateError(message: "empty expression: expected a path between '{{' and '}}'", column: column(open))
        }
        var pathParser = PathParser(scalars: scalars, position: position, columnBase: 1)
        let path: FieldPath
        do {
            path = try pathParser.parse()
        } catch {
            throw TemplateError(message: error.message, column: error.column)
        }
        position = pathParser.position

        var filters: [Template.TemplateFilter] = []
        while true {
            skipWhitespace()
            guard let next = peek(), !(next == "}" && peek(1) == nil) else { throw unclosed(open) }
            if next == "}", peek(1) == "}" {
                position += 2
                return Template.TemplateExpression(path: path, filters: filters)
            }
            guard next == "|" else {
                let after = filters.isEmpty ? "the path" : "a filter"
                throw TemplateError(
                    message: "expected '|' or '}}' after \(after), found \(quotedForMessage(next))", column: column(position))
            }
            position += 1
            skipWhitespace()
            filters.append(try parseFilter(open: open))
        }
    }

    mutating func parseFilter(open: Int) throws(TemplateError) -> Template.TemplateFilter {
        let nameStart = position
        var name = ""
        while let s = peek(), s.properties.isAlphabetic || ("0"..."9").contains(s) || s == "_" {
            name.unicodeScalars.append(s)
            position += 1
        }
        let known = Template.TemplateFilter.knownNames.joined(separator: ", ")
        guard !name.isEmpty else {
            throw TemplateError(
                message: "expected a filter name after '|', found \(quotedForMessage(peek())) (known filters: \(known))",
                column: column(nameStart))
        }
        skipWhitespace()
        var hasArgument = false
        if peek() == ":" {
            hasArgument = true
            position += 1
            skipWhitespace()
        }
        switch name {
        case "default":
            guard hasArgument else {
                throw TemplateError(
                    message: "filter 'default' needs a value, e.g. default: 'none'", column: column(nameStart))
            }
            return .default(try parseLiteralArgument(open: open))
        case "round":
            guard hasArgument else { return .round(0) }
            let argumentStart = position
            let token = readToken()
            guard !token.isEmpty, token.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }),
                let decimals = Int(token), decimals <= Template.TemplateFilter.maxRoundDecimals
            else {
                let found = token.isEmpty ? quotedForMessage(peek()) : "'\(token)'"
                throw TemplateError(
                    message:
                        "filter 'round' takes a whole number of decimals from 0 to \(Template.TemplateFilter.maxRoundDecimals), found \(found)",
                    column: column(argumentStart))
            }
            return .round(decimals)
        case "upcase", "downcase", "json":
            if hasArgument {
                throw TemplateError(message: "filter '\(name)' takes no argument", column: column(nameStart))
            }
            switch name {
            case "upcase": return .upcase
            case "downcase": return .downcase
            default: return .json
            }
        default:
            let hint = RuleDecoder.didYouMean(
                name, from: Template.TemplateFilter.knownNames,
                aliases: ["upper": "upcase", "uppercase": "upcase", "lower": "downcase", "lowercase": "downcase", "to_json": "json", "fallback": "default"])
            throw TemplateError(message: "unknown filter '\(name)'\(hint) (known filters: \(known))", column: column(nameStart))
        }
    }

    /// Reads scalars up to whitespace, `|` or `}`.
    mutating func readToken() -> String {
        var token = ""
        while let s = peek(), !s.properties.isWhitespace, s != "|", s != "}" {
            token.unicodeScalars.append(s)
            position += 1
        }
        return token
    }

    /// `'x'`, `"x"`, a number, `true`, `false` or `null`.
    mutating func parseLiteralArgument(open: Int) throws(TemplateError) -> JSONValue {
        let start = position
        guard let first = peek() else { throw unclosed(open) }
        if first == "'" || first == "\"" {
            position += 1
            var text = String.UnicodeScalarView()
            while let s = peek() {
                position += 1
                if s == first { return .string(String(text)) }
                if s == "\\", let escaped = peek(), escaped == "'" || escaped == "\"" || escaped == "\\" {
                    text.append(escaped)
                    position += 1
                } else {
                    text.append(s)
                }
            }
            throw TemplateError(message: "unterminated string in 'default' value", column: column(start))
        }
        let token = readToken()
        switch token {
        case "true": return .bool(true)
        case "false": return .bool(false)
        case "null": return .null
        case "":
            throw TemplateError(
                message: "filter 'default' needs a value after ':', found \(quotedForMessage(peek()))", column: column(start))
        default:
            if case .number(let n)? = try? JSONParser.parse(token) { return .number(n) }
            throw TemplateError(
                message:
                    "invalid value '\(token)' for 'default': use a quoted string ('x' or \"x\"), a number, true, false or null",
                column: column(start))
        }
    }

    func unclosed(_ open: Int) -> TemplateError {
        TemplateError(message: "unclosed '{{': expected '}}'", column: column(open))
    }
}
