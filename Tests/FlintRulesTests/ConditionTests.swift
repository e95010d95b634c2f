import FlintPluginAPI
import FlintRules
import Foundation
import Testing

private let event: JSONValue = [
    "event": "Cart Abandoned",
    "userId": "u-42",
    "properties": [
        "cart_value": 12.5, "count": 20, "currency": "USD", "test_order": true, "coupon": nil, "price_text": "12",
        "tags": ["vip", "eu", 3], "sku": "A1-RED", "name": "Zoë", "items": [["sku": "A1"]], "empty": "",
    ],
    "context": ["timezone": "America/Los_Angeles"],
]

private func comparison(
    _ path: String, _ op: ConditionOperator, _ operand: JSONValue, line: Int? = nil
) throws -> Comparison {
    try Comparison(
        path: FieldPath(parsing: path), op: op, operand: operand,
        location: line.map { SourceLocation(file: "rules/cart.yaml", line: $0, column: 7) })
}

private func condition(_ path: String, _ op: ConditionOperator, _ operand: JSONValue) throws -> Condition {
    .comparison(try comparison(path, op, operand))
}

private func holds(_ path: String, _ op: ConditionOperator, _ operand: JSONValue) throws -> Bool {
    try condition(path, op, operand).evaluate(in: event).passed
}

private func explanation(_ path: String, _ op: ConditionOperator, _ operand: JSONValue) throws -> String? {
    try condition(path, op, operand).evaluate(in: event).failure?.explanation
}

@Suite("Conditions")
struct ConditionTests {
    struct Row: Sendable, CustomStringConvertible {
        var path: String
        var op: ConditionOperator
        var operand: JSONValue
        var holds: Bool
        init(_ path: String, _ op: ConditionOperator, _ operand: JSONValue, _ holds: Bool) {
            self.path = path
            self.op = op
            self.operand = operand
            self.holds = holds
        }
        var description: String { "\(path) \(op.rawValue) \(operand.compactJSON) -> \(holds)" }
    }

    static let rows: [Row] = [
        // eq: same type and equal, numbers by value
        Row("properties.count", .eq, 20, true),
        Row("properties.count", .eq, 20.0, true),
        Row("properties.count", .eq, "20", false),
        Row("properties.currency", .eq, "USD", true),
        Row("properties.currency", .eq, "usd", false),
        Row("properties.test_order", .eq, true, true),
        Row("properties.test_order", .eq, 1, false),
        Row("properties.coupon", .eq, nil, true),
        Row("properties.nope", .eq, nil, false),
        Row("properties.nope", .eq, "x", false),
        Row("properties.tags", .eq, ["vip", "eu", 3], true),
        Row("properties.items", .eq, [["sku": "A1"]], true),
        Row("properties.name", .eq, "Zoe\u{0308}", false),  // scalars, not canonical equivalence
        // ne: holds for missing and for another type
        Row("properties.currency", .ne, "CAD", true),
        Row("properties.currency", .ne, "USD", false),
        Row("properties.nope", .ne, "USD", true),
        Row("properties.count", .ne, "20", true),
        Row("properties.count", .ne, 20, false),
        // in / not_in
        Row("properties.currency", .in, ["USD", "CAD"], true),
        Row("properties.currency", .in, ["EUR"], false),
        Row("properties.count", .in, ["20", 21], false),
        Row("properties.count", .in, [20.0], true),
        Row("properties.nope", .in, ["USD"], false),
        Row("properties.currency", .in, [], false),
        Row("properties.currency", .notIn, ["EUR"], true),
        Row("properties.currency", .notIn, ["USD", "CAD"], false),
        Row("properties.nope", .notIn, ["USD"], true),
        Row("properties.count", .notIn, ["20"], true),
        // gt gte lt lte: numbers with numbers, strings with strings
        Row("properties.cart_value", .gte, 12.5, true),
        Row("properties.cart_value", .gt, 12.5, false),
        Row("properties.cart_value", .lt, 20, true),
        Row("properties.cart_value", .lte, 12.4, false),
        Row("properties.cart_value", .gt, -1, true),
        Row("properties.price_text", .gte, 10, false),
        Row("properties.cart_value", .gte, "10", false),
        Row("properties.nope", .lt, 100, false),
        Row("properties.coupon", .lt, 100, false),
        Row("properties.currency", .gt, "CAD", true),
        Row("properties.currency", .lt, "USDA", true),
        Row("properties.currency", .gte, "USD", true),
        Row("properties.currency", .gt, "usd", false),  // 'U' < 'u' by scalar value
        Row("properties.name", .gt, "Zoz", true),  // 'ë' (U+00EB) > 'z'
        Row("properties.tags", .gt, 1, false),
        // exists
        Row("properties.currency", .exists, true, true),
        Row("properties.coupon", .exists, true, false),
        Row("properties.nope", .exists, true, false),
        Row("properties.nope", .exists, false, true),
        Row("properties.coupon", .exists, false, true),
        Row("properties.empty", .exists, true, true),
        Row("properties.currency", .exists, false, false),
        // contains: membership on arrays, substring on strings
        Row("properties.tags", .contains, "vip", true),
        Row("properties.tags", .contains, 3, true),
        Row("properties.tags", .contains, "vi", false),
        Row("properties.sku", .contains, "-RE", true),
        Row("properties.sku", .contains, "red", false),
        Row("properties.sku", .contains, "", true),
        Row("properties.sku", .contains, 1, false),
        Row("properties.count", .contains, 2, false),
        Row("properties.nope", .contains, "x", false),
        // starts_with / ends_with: strings only
        Row("properties.sku", .startsWith, "A1", true),
        Row("properties.sku", .startsWith, "RED", false),
        Row("properties.sku", .endsWith, "-RED", true),
        Row("properties.sku", .endsWith, "A1", false),
        Row("properties.count", .startsWith, "2", false),
        Row("properties.nope", .endsWith, "x", false),
        Row("properties.name", .endsWith, "ë", true),
        // matches: unanchored search
        Row("properties.sku", .matches, "[0-9]-R", true),
        Row("properties.sku", .matches, "^A\\d-[A-Z]+$", true),
        Row("properties.sku", .matches, "^RED", false),
        Row("properties.sku", .matches, "(?i)red", true),
        Row("context.timezone", .matches, "^America/", true),
        Row("properties.count", .matches, "20", false),
        Row("properties.nope", .matches, ".*", false),
    ]

    @Test("every operator, with type mismatches and missing paths", arguments: rows)
    func operators(_ row: Row) throws {
        #expect(try holds(row.path, row.op, row.operand) == row.holds)
        let result = try condition(row.path, row.op, row.operand).evaluate(in: event)
        // A failure always says why; a pass never carries a failure.
        #expect((result.failure == nil) == row.holds)
    }

    @Test("failure explanations say what was seen and what was needed")
    func explanations() throws {
        #expect(try explanation("properties.cart_value", .gte, 20) == "properties.cart_value gte 20: saw 12.5")
        #expect(
            try explanation("properties.price_text", .gte, 20)
                == #"properties.price_text gte 20: saw "12" (string), a number is needed"#)
        #expect(try explanation("properties.plan", .exists, true) == "properties.plan exists: missing")
        #expect(try explanation("properties.coupon", .exists, true) == "properties.coupon exists: saw null")
        #expect(try explanation("properties.currency", .exists, false) == #"properties.currency exists false: saw "USD""#)
        #expect(try explanation("properties.count", .eq, "20") == #"properties.count eq "20": saw 20 (number), a string is needed"#)
        #expect(try explanation("properties.count", .eq, 21) == "properties.count eq 21: saw 20")
        #expect(try explanation("properties.currency", .ne, "USD") == #"properties.currency ne "USD": saw "USD""#)
        #expect(
            try explanation("properties.currency", .in, ["EUR", "GBP"])
                == #"properties.currency in ["EUR","GBP"]: saw "USD", not in the list"#)
        #expect(
            try explanation("properties.count", .in, ["20"])
                == #"properties.count in ["20"]: saw 20 (number), not in the list, which holds no number"#)
        #expect(
            try explanation("properties.currency", .notIn, ["USD"])
                == #"properties.currency not_in ["USD"]: saw "USD", which is in the list"#)
        #expect(
            try explanation("properties.coupon", .lt, 100) == "properties.coupon lt 100: saw null, a number is needed")
        #expect(
            try explanation("properties.count", .contains, 2)
                == "properties.count contains 2: saw 20 (number), an array or a string is needed")
        #expect(
            try explanation("properties.sku", .contains, 1)
                == #"properties.sku contains 1: saw "A1-RED" (string), an array to contain 1 is needed"#)
        #expect(
            try explanation("properties.count", .startsWith, "2")
                == #"properties.count starts_with "2": saw 20 (number), a string is needed"#)
        #expect(
            try explanation("properties.sku", .matches, "^RED")
                == #"properties.sku matches "^RED": saw "A1-RED", which does not match"#)
        #expect(try explanation("properties.nope", .contains, "x") == #"properties.nope contains "x": missing"#)
    }

    @Test("a failure carries the path, operator, operand, the value seen and the source location")
    func failureFields() throws {
        let c = Condition.comparison(try comparison("properties.cart_value", .gte, 20, line: 9))
        let result = c.evaluate(in: event)
        #expect(!result.passed)
        #expect(
            result.failure
                == ComparisonFailure(
                    path: "properties.cart_value", op: "gte", expected: 20, seen: 12.5,
                    explanation: "properties.cart_value gte 20: saw 12.5",
                    location: SourceLocation(file: "rules/cart.yaml", line: 9, column: 7)))
        let missing = try condition("properties.plan", .exists, true).evaluate(in: event)
        #expect(missing.failure?.seen == nil)
        #expect(missing.failure?.expected == true)
    }

    @Test("long values are cut in the explanation but kept whole in seen")
    func longValues() throws {
        let long = String(repeating: "x", count: 500)
        let result = try condition("v", .eq, "y").evaluate(in: ["v": .string(long)])
        #expect(result.failure?.seen == .string(long))
        #expect(result.failure?.explanation.hasSuffix("…") == true)
        #expect((result.failure?.explanation.count ?? 0) < 200)
    }

    // MARK: Combinators

    @Test("all of nothing holds; any of nothing does not")
    func empty() {
        #expect(Condition.all([]).evaluate(in: event) == .passed)
        let any = Condition.any([]).evaluate(in: event)
        #expect(!any.passed)
        #expect(any.failure?.explanation == "any of no conditions never holds")
    }

    @Test("all stops at the first failing comparison")
    func all() throws {
        let c = Condition.all([
            try condition("properties.currency", .in, ["USD", "CAD"]),
            try condition("properties.cart_value", .gte, 20),
            try condition("properties.plan", .exists, true),
        ])
        let result = c.evaluate(in: event)
        #expect(!result.passed)
        #expect(result.failure?.path == "properties.cart_value")
        #expect(result.failure?.explanation == "properties.cart_value gte 20: saw 12.5")
        #expect(Condition.all([try condition("properties.count", .eq, 20)]).evaluate(in: event).passed)
    }

    @Test("any holds when one alternative does; otherwise it lists every alternative")
    func any() throws {
        let passing = Condition.any([try condition("properties.count", .eq, 1), try condition("properties.count", .eq, 20)])
        #expect(passing.evaluate(in: event).passed)
        let failing = Condition.any([try condition("properties.count", .eq, 1), try condition("properties.plan", .exists, true)])
        let result = failing.evaluate(in: event)
        #expect(!result.passed)
        #expect(result.failure?.path == "properties.count")
        #expect(
            result.failure?.explanation
                == "none of 2 alternatives held: properties.count eq 1: saw 20; properties.plan exists: missing")
    }

    @Test("not inverts, and its failure says the inner condition held")
    func not() throws {
        let c = Condition.not(.comparison(try comparison("properties.test_order", .eq, true, line: 12)))
        let result = c.evaluate(in: event)
        #expect(!result.passed)
        #expect(result.failure?.explanation == "not (properties.test_order eq true): it held")
        #expect(result.failure?.op == "not eq")
        #expect(result.failure?.seen == true)
        #expect(result.failure?.location?.line == 12)
        #expect(Condition.not(try condition("properties.test_order", .eq, false)).evaluate(in: event).passed)
        #expect(Condition.not(.any([])).evaluate(in: event).passed)
        #expect(!Condition.not(.all([])).evaluate(in: event).passed)
    }

    @Test("nested all / any / not, as the cart-abandoned rule writes them")
    func nested() throws {
        let rule = Condition.all([
            try condition("properties.cart_value", .gte, 10),
            try condition("properties.currency", .in, ["USD", "CAD"]),
            .not(try condition("properties.test_order", .eq, true)),
        ])
        let result = rule.evaluate(in: event)
        #expect(!result.passed)
        #expect(result.failure?.explanation == "not (properties.test_order eq true): it held")

        var live = event
        if case .object(var top) = live, case .object(var properties)? = top["properties"] {
            properties["test_order"] = false
            top["properties"] = .object(properties)
            live = .object(top)
        }
        #expect(rule.evaluate(in: live).passed)

        let deep = Condition.any([
            .all([try condition("event", .eq, "Order Completed"), try condition("properties.count", .gt, 0)]),
            .not(.any([try condition("userId", .startsWith, "u-"), try condition("userId", .eq, nil)])),
        ])
        let deepResult = deep.evaluate(in: event)
        #expect(!deepResult.passed)
        #expect(
            deepResult.failure?.explanation
                == #"none of 2 alternatives held: event eq "Order Completed": saw "Cart Abandoned"; not (any(userId starts_with "u-", userId eq null)): it held"#
        )
        #expect(deep.comparisons.count == 4)
    }

    // MARK: Construction

    @Test(
        "operands are validated for their operator",
        arguments: [
            (ConditionOperator.in, JSONValue.string("USD"), "'in' needs a list of values, got a string (\"USD\")"),
            (.notIn, 3, "'not_in' needs a list of values, got a number (3)"),
            (.exists, "yes", "'exists' needs true or false, got a string (\"yes\")"),
            (.startsWith, 1, "'starts_with' needs a string, got a number (1)"),
            (.endsWith, nil, "'ends_with' needs a string, got null"),
            (.gt, true, "'gt' needs a number or a string, got a boolean (true)"),
            (.lte, JSONValue.array([1]), "'lte' needs a number or a string, got an array ([1])"),
            (.matches, 5, "'matches' needs a regular expression string, got a number (5)"),
        ])
    func validation(op: ConditionOperator, operand: JSONValue, message: String) throws {
        let error = #expect(throws: ConditionError.self) {
            try Comparison(path: FieldPath(parsing: "a"), op: op, operand: operand, location: nil)
        }
        #expect(error?.message == message)
    }

    @Test("an invalid regular expression is refused with the compiler's message")
    func badRegex() throws {
        let error = #expect(throws: ConditionError.self) {
            try Comparison(path: FieldPath(parsing: "a"), op: .matches, operand: "(abc", location: nil)
        }
        #expect(error?.message == "invalid regular expression '(abc': expected ')'")
        let ok = try comparison("a", .matches, "^a+$")
        #expect(ok.regex?.pattern == "^a+$")
        #expect(try comparison("a", .eq, 1).regex == nil)
    }

    @Test("operators read and print their rule spelling")
    func operatorNames() {
        #expect(ConditionOperator(rawValue: "not_in") == .notIn)
        #expect(ConditionOperator(rawValue: "starts_with") == .startsWith)
        #expect(ConditionOperator.allCases.count == 13)
    }

    @Test("results encode to JSON for the ledger")
    func codable() throws {
        let result = try condition("properties.plan", .exists, true).evaluate(in: event)
        let json = try JSONParser.parse(Array(try JSONEncoder().encode(result)))
        #expect(json["passed"] == false)
        #expect(json["failure"]?["explanation"] == "properties.plan exists: missing")
    }
}
