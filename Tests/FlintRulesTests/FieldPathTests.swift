import FlintPluginAPI
import FlintRules
import Testing

@Suite("Field paths")
struct FieldPathTests {
    @Test("dotted keys and indexes parse into segments")
    func parses() throws {
        let path = try FieldPath(parsing: "properties.items[0].name")
        #expect(path.segments == [.key("properties"), .key("items"), .index(0), .key("name")])
        #expect(path.description == "properties.items[0].name")
    }

    @Test(
        "quoted keys in brackets, with a canonical description",
        arguments: [
            (#"a["key with spaces"]"#, [FieldPath.Segment.key("a"), .key("key with spaces")], #"a["key with spaces"]"#),
            ("a['x']", [.key("a"), .key("x")], "a.x"),
            (#"a["q\"uote"]"#, [.key("a"), .key("q\"uote")], #"a["q\"uote"]"#),
            (#"a['it\'s'][2]"#, [.key("a"), .key("it's"), .index(2)], #"a["it's"][2]"#),
            (#"["Cart Value"]"#, [.key("Cart Value")], #"["Cart Value"]"#),
            ("[3].x", [.index(3), .key("x")], "[3].x"),
            ("a[ 12 ]", [.key("a"), .index(12)], "a[12]"),
            ("user.traits.plan-tier_2", [.key("user"), .key("traits"), .key("plan-tier_2")], "user.traits.plan-tier_2"),
            ("données.é", [.key("données"), .key("é")], "données.é"),
            (#"a[""]"#, [.key("a"), .key("")], #"a[""]"#),
        ])
    func quoted(text: String, segments: [FieldPath.Segment], canonical: String) throws {
        let path = try FieldPath(parsing: text)
        #expect(path.segments == segments)
        #expect(path.description == canonical)
        #expect(try FieldPath(parsing: path.description) == path)
    }

    @Test(
        "bad paths are refused with the column of the problem",
        arguments: [
            ("", "empty path", 1),
            ("a..b", "empty segment between '..'", 3),
            ("a.", "empty segment after '.' at the end of the path", 2),
            (".a", "empty segment before '.'", 1),
            ("a[x]", "expected an index or a quoted key in brackets, found 'x'", 3),
            ("a[]", "empty brackets: expected an index or a quoted key", 3),
            ("a[", "unclosed '['", 2),
            ("a[1", "unclosed '['", 2),
            ("a[1}", "expected ']' to close '[', found '}'", 4),
            ("a[-1]", "negative index is not allowed", 3),
            ("a['x", "unterminated quoted key", 3),
            ("a b", "unexpected ' ' in path", 2),
            ("a[0]b", "expected '.' or '[' before 'b'", 5),
            ("a.|", "expected a key after '.', found '|'", 3),
            ("a[99999999999999999999]", "index is too large", 3),
        ])
    func errors(text: String, message: String, column: Int) {
        let error = #expect(throws: PathError.self) { try FieldPath(parsing: text) }
        #expect(error == PathError(message: message, column: column))
    }

    @Test("resolve tells missing (nil) from an explicit null")
    func resolve() throws {
        let event: JSONValue = [
            "properties": ["items": [["name": "Socks"]], "coupon": nil, "n": 0],
            "list": [1, 2],
        ]
        #expect(try FieldPath(parsing: "properties.items[0].name").resolve(in: event) == "Socks")
        #expect(try FieldPath(parsing: "properties.coupon").resolve(in: event) == .null)
        #expect(try FieldPath(parsing: "properties.missing").resolve(in: event) == nil)
        #expect(try FieldPath(parsing: "properties.items[1].name").resolve(in: event) == nil)
        #expect(try FieldPath(parsing: "properties.items.name").resolve(in: event) == nil)
        #expect(try FieldPath(parsing: "properties.n.x").resolve(in: event) == nil)
        #expect(try FieldPath(parsing: "list[1]").resolve(in: event) == 2)
        #expect(try FieldPath(parsing: "list.1").resolve(in: event) == nil)
        #expect(try FieldPath(parsing: "[0]").resolve(in: [7]) == 7)
    }
}
