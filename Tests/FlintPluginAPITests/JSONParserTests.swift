import FlintPluginAPI
import Testing

@Suite("JSON parser")
struct JSONParserTests {
    // MARK: Valid documents

    @Test("a typical event parses to the expected value")
    func parsesEvent() throws {
        let text = """
            { "type": "track", "event": "Cart Abandoned", "messageId": "m-123",
              "userId": "u-42", "properties": { "cart_value": 59.5, "items": [{"sku": "A1", "name": "Socks"}] },
              "flags": [true, false, null], "empty": {}, "none": [] }
            """
        let value = try JSONParser.parse(text)
        let expected: JSONValue = [
            "type": "track", "event": "Cart Abandoned", "messageId": "m-123", "userId": "u-42",
            "properties": ["cart_value": 59.5, "items": [["sku": "A1", "name": "Socks"]]],
            "flags": [true, false, nil], "empty": [:], "none": [],
        ]
        #expect(value == expected)
    }

    @Test(
        "numbers follow the JSON grammar and read as Double",
        arguments: [
            ("0", 0.0), ("-0", -0.0), ("20", 20), ("-3", -3), ("20.5", 20.5), ("0.1", 0.1), ("1E2", 100),
            ("1e+2", 100), ("1.5e-3", 0.0015), ("999999999999999999", 1e18),
            ("9007199254740993", 9_007_199_254_740_992), ("123456789012345678901234567890", 1.2345678901234568e29),
            ("1e-400", 0), ("-1.7976931348623157e308", -1.7976931348623157e308),
        ] as [(String, Double)])
    func numbers(text: String, expected: Double) throws {
        let value = try JSONParser.parse(text)
        #expect(value == .number(expected))
        #expect(value.numberValue?.sign == expected.sign)
    }

    @Test("strings decode every escape, surrogate pairs and raw UTF-8")
    func strings() throws {
        let text = #""a\"b\\c\/d\b\f\n\r\t \u00e9 \uD83D\uDE00 é 😀 中""#
        #expect(try JSONParser.parse(text) == .string("a\"b\\c/d\u{08}\u{0C}\n\r\t é 😀 é 😀 中"))
        #expect(try JSONParser.parse(#""\u0000""#) == .string("\u{0}"))
        #expect(try JSONParser.parse(#""""#) == .string(""))
    }

    @Test("duplicate keys are allowed and the last one wins")
    func duplicateKeys() throws {
        #expect(try JSONParser.parse(#"{"a": 1, "a": 2}"#) == ["a": 2])
    }

    @Test("whitespace is space, tab, CR and LF; a leading BOM is skipped")
    func whitespace() throws {
        #expect(try JSONParser.parse(" \t\r\n[ 1 ,\t2 ]\r\n ") == [1, 2])
        #expect(try JSONParser.parse([0xEF, 0xBB, 0xBF] + Array("[]".utf8)) == [])
    }

    @Test("input without contiguous storage is parsed too")
    func nonContiguousInput() throws {
        let bytes = Array(#"}"b":"a"{"#.utf8).reversed()
        #expect(try JSONParser.parse(bytes) == ["a": "b"])
    }

    @Test("depth 64 is accepted and 65 is rejected at the 65th bracket")
    func depthLimit() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try JSONParser.parse(ok)
        let objects = String(repeating: #"{"a":"#, count: 63) + "[1]" + String(repeating: "}", count: 63)
        _ = try JSONParser.parse(objects)

        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        #expect(error == JSONParseError(message: "nesting deeper than 64 levels", offset: 64, line: 1, column: 65))

        #expect(throws: JSONParseError.self) { try JSONParser.parse("[[1]]", maxDepth: 1) }
        #expect(try JSONParser.parse("[1]", maxDepth: 1) == [1])
    }

    @Test("a very deep document fails cleanly instead of overflowing the stack")
    func veryDeep() {
        let deep = String(repeating: "[", count: 200_000)
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        #expect(error?.offset == 64)
    }

    // MARK: Errors

    struct ErrorCase: Sendable, CustomStringConvertible {
        var input: [UInt8]
        var message: String
        var line: Int
        var column: Int
        var offset: Int? = nil

        init(_ text: String, _ message: String, line: Int = 1, column: Int, offset: Int? = nil) {
            self.input = Array(text.utf8)
            self.message = message
            self.line = line
            self.column = column
            self.offset = offset
        }

        init(bytes: [UInt8], _ message: String, line: Int = 1, column: Int, offset: Int? = nil) {
            self.input = bytes
            self.message = message
            self.line = line
            self.column = column
            self.offset = offset
        }

        var description: String { message }
    }

    static let errorCases: [ErrorCase] = [
        // Truncated input
        ErrorCase("", "empty input, expected a JSON value", column: 1),
        ErrorCase("  \n ", "empty input, expected a JSON value", line: 2, column: 2),
        ErrorCase("[1, 2", "unexpected end of input, expected ',' or ']' after array element", column: 6),
        ErrorCase(#"{"a": 1"#, "unexpected end of input, expected ',' or '}' after object member", column: 8),
        ErrorCase(#"{"a""#, "unexpected end of input, expected ':' after object key", column: 5),
        ErrorCase(#"{"a":"#, "unexpected end of input, expected a value", column: 6),
        ErrorCase("{", "unexpected end of input, expected an object key", column: 2),
        ErrorCase(#"["abc"#, "unterminated string", column: 2),
        ErrorCase("tru", "unexpected end of input in 'tru'", column: 4),
        ErrorCase("1.", "unexpected end of input, expected a digit after '.'", column: 3),
        ErrorCase("1e+", "unexpected end of input, expected a digit in the exponent", column: 4),
        ErrorCase("-", "unexpected end of input, expected a digit after '-'", column: 2),
        ErrorCase(#""\u12"#, "unexpected end of input in \\u escape", column: 6),
        // Structure
        ErrorCase("{\"a\": 1,\n \"b\" 2}", "expected ':' after object key, found '2'", line: 2, column: 6, offset: 14),
        ErrorCase(#"{"a": 1 "b": 2}"#, "expected ',' or '}' after object member, found '\"'", column: 9),
        ErrorCase("[1 2]", "expected ',' or ']' after array element, found '2'", column: 4),
        ErrorCase("{1: 2}", "expected a string key, found '1'", column: 2),
        ErrorCase("[1,]", "trailing comma in array", column: 4),
        ErrorCase(#"{"a":1,}"#, "trailing comma in object", column: 8),
        ErrorCase("[\r\n1,\r\n]", "trailing comma in array", line: 3, column: 1),
        ErrorCase("{\"é\": 1,\n  \"ü\": x}", "invalid literal 'x'", line: 2, column: 8),
        // Trailing garbage
        ErrorCase("{} x", "unexpected 'x' after the JSON value", column: 4),
        ErrorCase("1 2", "unexpected '2' after the JSON value", column: 3),
        ErrorCase("[1]]", "unexpected ']' after the JSON value", column: 4),
        ErrorCase("12abc", "unexpected 'a'", column: 3),
        ErrorCase("1.2.3", "unexpected '.'", column: 4),
        // Numbers
        ErrorCase("01", "leading zeros are not allowed", column: 1),
        ErrorCase("[-012]", "leading zeros are not allowed", column: 3),
        ErrorCase(".5", "expected a value, found '.'", column: 1),
        ErrorCase("+1", "expected a value, found '+'", column: 1),
        ErrorCase("1.e5", "expected a digit after '.', found 'e'", column: 3),
        ErrorCase("NaN", "invalid literal 'NaN'", column: 1),
        ErrorCase("Infinity", "invalid literal 'Infinity'", column: 1),
        ErrorCase("-Infinity", "expected a digit after '-', found 'I'", column: 2),
        ErrorCase("1e400", "number 1e400 is out of range", column: 1),
        ErrorCase("[True]", "invalid literal 'True'", column: 2),
        // Strings
        ErrorCase(#""a\x""#, "invalid escape '\\x' in string", column: 3),
        ErrorCase(#""\u12G4""#, "invalid \\u escape: expected 4 hex digits", column: 2),
        ErrorCase(
            #""\uD800""#, "lone surrogate \\uD800 (a high surrogate needs a following \\uDC00-\\uDFFF)", column: 2),
        ErrorCase(
            #"["ok", "\uDC00"]"#, "lone surrogate \\uDC00 (a low surrogate without a high one)", column: 9),
        ErrorCase(
            #""\uD800\u0041""#, "lone surrogate \\uD800 (followed by \\u0041, not a low surrogate)", column: 2),
        ErrorCase("\"a\nb\"", "unescaped control character U+000A in string", column: 3),
        ErrorCase("\"a\u{01}\"", "unescaped control character U+0001 in string", column: 3),
        ErrorCase("\u{0C}1", "expected a value, found 'U+000C'", column: 1),
        // Invalid UTF-8
        ErrorCase(bytes: Array(#"["caf"#.utf8) + [0xE9] + Array(#""]"#.utf8), "invalid UTF-8 byte 0xE9", column: 6, offset: 5),
        ErrorCase(bytes: [0x22, 0xC0, 0x80, 0x22], "invalid UTF-8 byte 0xC0", column: 2),
        ErrorCase(bytes: [0x22, 0xED, 0xA0, 0x80, 0x22], "invalid UTF-8 byte 0xED", column: 2),
        ErrorCase(bytes: [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], "invalid UTF-8 byte 0xF4", column: 2),
        ErrorCase(bytes: [0x22, 0xE2, 0x82, 0x22], "invalid UTF-8 byte 0xE2", column: 2),
        ErrorCase(bytes: [0x22, 0x5C, 0x6E, 0xFF, 0x22], "invalid UTF-8 byte 0xFF", column: 4),
        ErrorCase(bytes: [0x5B, 0x80, 0x5D], "invalid UTF-8 byte 0x80", column: 2),
        ErrorCase(bytes: [0x5B, 0x31, 0x5D, 0x20, 0xC3], "invalid UTF-8 byte 0xC3", column: 5),
        ErrorCase("[é]", "expected a value, found 'é'", column: 2),
    ]

    @Test("each error names the problem and its line and column", arguments: errorCases)
    func errors(_ errorCase: ErrorCase) {
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(errorCase.input) }
        #expect(error?.message == errorCase.message)
        #expect(error?.line == errorCase.line)
        #expect(error?.column == errorCase.column)
        if let offset = errorCase.offset { #expect(error?.offset == offset) }
    }

    @Test("the description reads 'line L, column C: message'")
    func errorDescription() {
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse("{\n  \"a\" 1}") }
        #expect(error?.description == "line 2, column 7: expected ':' after object key, found '1'")
    }

    @Test("valid strings given as String and as bytes agree")
    func stringAndBytesAgree() throws {
        let text = #"{"k": ["é", 1.25, {"z": null}]}"#
        #expect(try JSONParser.parse(text) == JSONParser.parse(Array(text.utf8)))
    }

    // MARK: NDJSON

    @Test("NDJSON: blank lines are skipped, CRLF is tolerated, a bad middle line fails alone")
    func ndjson() throws {
        let text = "{\"a\":1}\r\n\n  \r\n{bad}\n[2]\r\n\"last\""
        let lines = JSONParser.parseLines(Array(text.utf8))
        #expect(lines.map(\.line) == [1, 4, 5, 6])
        #expect(try lines[0].result.get() == ["a": 1])
        #expect(try lines[2].result.get() == [2])
        #expect(try lines[3].result.get() == "last")
        guard case .failure(let error) = lines[1].result else {
            Issue.record("line 4 should fail")
            return
        }
        #expect(error.message == "expected a string key, found 'b'")
        #expect(error.line == 4)
        #expect(error.column == 2)
        #expect(error.offset == 15)
    }

    @Test("NDJSON: an error at the end of a CRLF line points inside that line")
    func ndjsonTruncatedLine() {
        let lines = JSONParser.parseLines("[1,\r\n{}\n")
        #expect(lines.count == 2)
        guard case .failure(let error) = lines[0].result else {
            Issue.record("line 1 should fail")
            return
        }
        #expect(error.line == 1)
        #expect(error.column == 4)
        #expect(error.message == "unexpected end of input, expected a value")
    }

    @Test("NDJSON: empty input gives no lines; a value spanning lines is an error per line")
    func ndjsonEdges() {
        #expect(JSONParser.parseLines("").isEmpty)
        #expect(JSONParser.parseLines("\n\r\n  \n").isEmpty)
        let lines = JSONParser.parseLines("{\n}")
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { if case .failure = $0.result { true } else { false } })
    }
}
