import FlintPluginAPI
import FlintRules
import Testing

private let event: JSONValue = [
    "userId": "u-42",
    "properties": [
        "cart_value": 59.5, "count": 20, "name": "Ada", "empty": "", "coupon": nil, "paid": true,
        "items": [["sku": "A1", "name": "Socks"]], "price_text": "12.345", "word": "Straße",
        "meta": ["b": 1, "a": [true, nil]],
    ],
]

private func render(_ text: String, in scope: JSONValue = event) throws -> JSONValue? {
    try Template(parsing: text).render(in: scope)
}

@Suite("Templates")
struct TemplateTests {
    // MARK: Shape

    @Test("a literal has no expressions and renders to its text")
    func literal() throws {
        let template = try Template(parsing: "cart-reminder }} { x }")
        #expect(template.isLiteral)
        #expect(!template.isLone)
        #expect(template.parts == [.literal("cart-reminder }} { x }")])
        #expect(template.render(in: event) == "cart-reminder }} { x }")
        #expect(template.renderString(in: event) == "cart-reminder }} { x }")
        #expect(try Template(parsing: "").render(in: event) == "")
    }

    @Test("a lone expression keeps the JSON type; surrounding text or spaces make a string")
    func loneKeepsType() throws {
        #expect(try render("{{ properties.cart_value }}") == 59.5)
        #expect(try render("{{properties.count}}") == 20)
        #expect(try render("{{ properties.paid }}") == true)
        #expect(try render("{{ properties.items }}") == [["sku": "A1", "name": "Socks"]])
        #expect(try Template(parsing: "{{ x }}").isLone)
        #expect(try !Template(parsing: " {{ x }}").isLone)
        #expect(try !Template(parsing: "{{ x }}{{ y }}").isLone)
        #expect(try render(" {{ properties.count }}") == " 20")
    }

    @Test("a lone template gives nil for missing and null, but keeps an empty string")
    func loneMissing() throws {
        #expect(try render("{{ properties.nope }}") == nil)
        #expect(try render("{{ properties.coupon }}") == nil)
        #expect(try render("{{ properties.empty }}") == "")
    }

    @Test("inside a string: numbers without .0, missing and null empty, containers as compact JSON")
    func interpolation() throws {
        #expect(try render("Total: {{ properties.count }}") == "Total: 20")
        #expect(try render("Total: {{ properties.cart_value }}!") == "Total: 59.5!")
        #expect(try render("[{{ properties.nope }}|{{ properties.coupon }}]") == "[|]")
        #expect(try render("paid={{ properties.paid }}") == "paid=true")
        #expect(try render("m={{ properties.meta }}") == #"m={"a":[true,null],"b":1}"#)
        #expect(try render("{{ userId }}-{{ properties.items[0].sku }}") == "u-42-A1")
    }

    @Test("renderString prints lone values and is nil only for a missing or null lone value")
    func renderString() throws {
        #expect(try Template(parsing: "{{ properties.count }}").renderString(in: event) == "20")
        #expect(try Template(parsing: "{{ properties.meta }}").renderString(in: event) == #"{"a":[true,null],"b":1}"#)
        #expect(try Template(parsing: "{{ properties.nope }}").renderString(in: event) == nil)
        #expect(try Template(parsing: "{{ properties.coupon }}").renderString(in: event) == nil)
        #expect(try Template(parsing: "id-{{ properties.nope }}").renderString(in: event) == "id-")
    }

    @Test("paths lists every path read, in order")
    func paths() throws {
        let template = try Template(parsing: "{{ userId }}:{{ properties.items[0].name | upcase }}")
        #expect(template.paths.map(\.description) == ["userId", "properties.items[0].name"])
        #expect(template.description == "{{ userId }}:{{ properties.items[0].name | upcase }}")
    }

    // MARK: Filters

    @Test("default applies to missing, null and \"\", and takes the default's type")
    func defaultFilter() throws {
        #expect(try render("{{ properties.nope | default: 'your items' }}") == "your items")
        #expect(try render("{{ properties.coupon | default: \"none\" }}") == "none")
        #expect(try render("{{ properties.empty | default: 0 }}") == 0)
        #expect(try render("{{ properties.nope | default: -2.5 }}") == -2.5)
        #expect(try render("{{ properties.nope | default: true }}") == true)
        #expect(try render("{{ properties.nope | default: false }}") == false)
        #expect(try render("{{ properties.nope | default: null }}") == nil)
        #expect(try render("{{ properties.nope | default: 'it\\'s' }}") == "it's")
        #expect(try render("{{ properties.nope | default: 'a | b }}' }}") == "a | b }}")
        // Present values, even falsy ones, are kept.
        #expect(try render("{{ properties.paid | default: 'x' }}") == true)
        #expect(try render("{{ properties.count | default: 'x' }}") == 20)
        #expect(try render("{{ properties.items[0].name | default: 'your items' }}") == "Socks")
        #expect(try render("Hi {{ properties.nope | default: 'there' }}") == "Hi there")
    }

    @Test("upcase and downcase give strings, of numbers too")
    func caseFilters() throws {
        #expect(try render("{{ properties.name | upcase }}") == "ADA")
        #expect(try render("{{ properties.name | downcase }}") == "ada")
        #expect(try render("{{ properties.word | upcase }}") == "STRASSE")
        #expect(try render("{{ properties.count | upcase }}") == "20")
        #expect(try render("{{ properties.cart_value | downcase }}") == "59.5")
        #expect(try render("{{ properties.nope | upcase }}") == nil)
        #expect(try render("{{ properties.coupon | downcase }}") == nil)
    }

    @Test(
        "round goes half away from zero on the decimal value",
        arguments: [
            (2.5, 0, 3.0), (-2.5, 0, -3.0), (2.4, 0, 2.0), (-2.4, 0, -2.0), (0.5, 0, 1.0), (-0.4, 0, 0.0),
            (999.5, 0, 1000.0), (1.005, 2, 1.01), (1.004999, 2, 1.0), (-0.05, 1, -0.1), (59.5, 0, 60.0),
            (12.345, 2, 12.35), (0.000_123_45, 6, 0.000_123), (1e21, 2, 1e21), (123.0, 3, 123.0),
            (0.0004, 3, 0.0), (9.995, 2, 10.0), (1234.5678, 15, 1234.5678),
        ] as [(Double, Int, Double)])
    func roundFilter(input: Double, decimals: Int, expected: Double) throws {
        let template = try Template(parsing: "{{ x | round: \(decimals) }}")
        let result = template.render(in: ["x": .number(input)])
        #expect(result == .number(expected))
        if expected == 0 { #expect(result?.numberValue?.sign == .plus) }
    }

    @Test("round without an argument is round: 0; numeric strings round; other inputs give nil")
    func roundInputs() throws {
        #expect(try render("{{ properties.cart_value | round }}") == 60)
        #expect(try render("{{ properties.price_text | round: 2 }}") == 12.35)
        #expect(try render("{{ properties.name | round }}") == nil)
        #expect(try render("{{ properties.paid | round }}") == nil)
        #expect(try render("{{ properties.nope | round }}") == nil)
        #expect(try render("{{ properties.items | round }}") == nil)
        #expect(try render("{{ properties.cart_value | round }} USD") == "60 USD")
    }

    @Test("json gives compact JSON text; missing and null give nil")
    func jsonFilter() throws {
        #expect(try render("{{ properties.meta | json }}") == .string(#"{"a":[true,null],"b":1}"#))
        #expect(try render("{{ properties.name | json }}") == .string(#""Ada""#))
        #expect(try render("{{ properties.count | json }}") == "20")
        #expect(try render("{{ properties.nope | json }}") == nil)
        #expect(try render("{{ properties.coupon | json }}") == nil)
    }

    @Test("filters apply left to right")
    func chains() throws {
        #expect(try render("{{ properties.nope | default: 'none' | upcase }}") == "NONE")
        #expect(try render("{{ properties.nope | upcase | default: 'none' }}") == "none")
        #expect(try render("{{ properties.cart_value | round | json }}") == "60")
        #expect(try render("{{ properties.price_text | round: 1 | default: 0 }}") == 12.3)
        let template = try Template(parsing: "{{ a | default: 'x' | round: 2 | upcase | downcase | json }}")
        guard case .expression(let expression) = template.parts.first else {
            Issue.record("expected an expression")
            return
        }
        #expect(expression.filters == [.default("x"), .round(2), .upcase, .downcase, .json])
    }

    // MARK: Errors

    @Test(
        "bad templates are refused with the column of the problem",
        arguments: [
            ("Hi {{ name", "unclosed '{{': expected '}}'", 4),
            ("Hi {{ name }", "unclosed '{{': expected '}}'", 4),
            ("a {{ }}", "empty expression: expected a path between '{{' and '}}'", 3),
            ("{{}}", "empty expression: expected a path between '{{' and '}}'", 1),
            ("{{ x | upper }}", "unknown filter 'upper'; did you mean 'upcase'? (known filters: default, upcase, downcase, round, json)", 8),
            ("{{ x | }}", "expected a filter name after '|', found '}' (known filters: default, upcase, downcase, round, json)", 8),
            ("{{ x | round: -1 }}", "filter 'round' takes a whole number of decimals from 0 to 15, found '-1'", 15),
            ("{{ x | round: 1.5 }}", "filter 'round' takes a whole number of decimals from 0 to 15, found '1.5'", 15),
            ("{{ x | round: 16 }}", "filter 'round' takes a whole number of decimals from 0 to 15, found '16'", 15),
            ("{{ x | round: }}", "filter 'round' takes a whole number of decimals from 0 to 15, found '}'", 15),
            ("{{ x | default }}", "filter 'default' needs a value, e.g. default: 'none'", 8),
            ("{{ x | default: }}", "filter 'default' needs a value after ':', found '}'", 17),
            (
                "{{ x | default: none }}",
                "invalid value 'none' for 'default': use a quoted string ('x' or \"x\"), a number, true, false or null", 17
            ),
            ("{{ x | default: 'abc }}", "unterminated string in 'default' value", 17),
            ("{{ x | upcase: 1 }}", "filter 'upcase' takes no argument", 8),
            ("{{ a..b }}", "empty segment between '..'", 6),
            ("{{ a[x] }}", "expected an index or a quoted key in brackets, found 'x'", 6),
            ("{{ x y }}", "expected '|' or '}}' after the path, found 'y'", 6),
            ("{{ x | upcase y }}", "expected '|' or '}}' after a filter, found 'y'", 15),
            ("ok {{ x }} then {{ | }}", "expected a path, found '|'", 20),
        ])
    func errors(text: String, message: String, column: Int) {
        let error = #expect(throws: TemplateError.self) { try Template(parsing: text) }
        #expect(error == TemplateError(message: message, column: column))
    }
}

@Suite("Templated values")
struct TemplatedValueTests {
    private func template(_ text: String) throws -> TemplatedValue {
        .template(try Template(parsing: text))
    }

    @Test("objects drop keys whose lone template renders nil; arrays keep null in their place")
    func render() throws {
        let value: TemplatedValue = .object([
            (key: "cart_value", value: try template("{{ properties.cart_value }}")),
            (key: "coupon", value: try template("{{ properties.coupon }}")),
            (key: "missing", value: try template("{{ properties.nope }}")),
            (key: "label", value: try template("Cart: {{ properties.nope }}")),
            (key: "explicit_null", value: .literal(.null)),
            (key: "list", value: .array([try template("{{ properties.nope }}"), .literal(1), try template("{{ userId }}")])),
            (key: "nested", value: .object([(key: "first", value: try template("{{ properties.items[0].name }}"))])),
        ])
        #expect(
            value.render(in: event)
                == [
                    "cart_value": 59.5, "label": "Cart: ", "explicit_null": nil, "list": [nil, 1, "u-42"],
                    "nested": ["first": "Socks"],
                ])
        #expect(try template("{{ properties.nope }}").render(in: event) == nil)
        #expect(value.paths.count == 7)
    }

    @Test("equality and hashing respect member order")
    func hashable() {
        let a: TemplatedValue = .object([(key: "x", value: .literal(1)), (key: "y", value: .literal(2))])
        let b: TemplatedValue = .object([(key: "x", value: .literal(1)), (key: "y", value: .literal(2))])
        let c: TemplatedValue = .object([(key: "y", value: .literal(2)), (key: "x", value: .literal(1))])
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(a != c)
        #expect(Set([a, b, c]).count == 2)
    }
}
