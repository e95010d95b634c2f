import FlintPluginAPI
import Testing

@Suite("JSON writer")
struct JSONWriterTests {
    @Test("compact JSON sorts keys and has no spaces")
    func compact() {
        let value: JSONValue = ["b": [true, nil], "a": 1, "c": ["y": "z", "x": [:]], "d": []]
        #expect(value.compactJSON == #"{"a":1,"b":[true,null],"c":{"x":{},"y":"z"},"d":[]}"#)
    }

    @Test("keys sort by Unicode code point, not by locale")
    func keyOrder() {
        let value: JSONValue = ["é": 1, "a": 2, "Z": 3, "B": 4, "aa": 5, "😀": 6]
        #expect(value.compactJSON == #"{"B":4,"Z":3,"a":2,"aa":5,"é":1,"😀":6}"#)
    }

    @Test(
        "numbers print integral values plainly and others in shortest round-trip form",
        arguments: [
            (20, "20"), (-3, "-3"), (20.5, "20.5"), (0.1, "0.1"), (-0.0, "0"), (0, "0"), (1e21, "1e+21"),
            (1e-7, "1e-7"), (0.0001, "0.0001"), (1.5e300, "1.5e+300"), (.leastNonzeroMagnitude, "5e-324"),
            (9_007_199_254_740_991, "9007199254740991"), (9_007_199_254_740_992, "9007199254740992"),
            (1e16, "1e+16"), (123_456_789.125, "123456789.125"), (-2.5e-10, "-2.5e-10"),
            (.infinity, "null"), (-.infinity, "null"), (.nan, "null"), (1, "1"), (-1, "-1"), (10, "10"), (100, "100"),
            (-9_007_199_254_740_991, "-9007199254740991"), (1_000_000, "1000000"),
        ] as [(Double, String)])
    func numbers(value: Double, text: String) throws {
        #expect(JSONValue.number(value).compactJSON == text)
        if value.isFinite {
            #expect(try JSONParser.parse(text) == .number(value))
        }
    }

    @Test("strings escape quotes, backslashes and control characters only")
    func escapes() {
        let value = JSONValue.string("a\"b\\c\n\t\r\u{08}\u{0C}\u{01}\u{1F}\u{7F}/é😀")
        #expect(value.compactJSON == #""a\"b\\c\n\t\r\b\f\u0001\u001f"# + "\u{7F}/é😀\"")
    }

    @Test("pretty JSON indents nested values and keeps empty containers inline")
    func pretty() {
        let value: JSONValue = ["b": [1, ["x": nil]], "a": "s", "e": [:], "f": []]
        let expected = """
            {
              "a": "s",
              "b": [
                1,
                {
                  "x": null
                }
              ],
              "e": {},
              "f": []
            }
            """
        #expect(value.prettyJSON() == expected)
        #expect(JSONValue.array([1, 2]).prettyJSON(indent: 4) == "[\n    1,\n    2\n]")
        #expect(JSONValue.string("x").prettyJSON() == #""x""#)
        #expect(JSONValue.object([:]).prettyJSON() == "{}")
    }

    @Test("compactUTF8Count is the byte count of compactJSON")
    func utf8Count() {
        let value: JSONValue = ["é": "\u{01}\"😀", "n": [1.5, -0.0, 1e21, nil, true, false], "o": [:]]
        #expect(value.compactUTF8Count == value.compactJSON.utf8.count)
        #expect(value.compactUTF8 == Array(value.compactJSON.utf8))
    }

    @Test("random values survive write then parse, compact and pretty (seeded)")
    func roundTrip() throws {
        var generator = SplitMix64(seed: 0x5EED_F11E)
        for _ in 0..<400 {
            let value = randomValue(depth: 0, using: &generator)
            let compact = value.compactJSON
            #expect(try JSONParser.parse(compact) == value, "compact: \(compact)")
            #expect(try JSONParser.parse(value.prettyJSON(indent: 3)) == value)
            #expect(value.compactUTF8Count == compact.utf8.count)
            // Writing is deterministic: the parsed copy writes the same text.
            #expect(try JSONParser.parse(compact).compactJSON == compact)
        }
    }
}

// MARK: - Random values

/// A small seeded generator so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomValue(depth: Int, using generator: inout SplitMix64) -> JSONValue {
    let choice = Int.random(in: 0..<(depth >= 4 ? 4 : 6), using: &generator)
    switch choice {
    case 0: return .null
    case 1: return .bool(Bool.random(using: &generator))
    case 2: return .number(randomNumber(using: &generator))
    case 3: return .string(randomString(using: &generator))
    case 4:
        return .array((0..<Int.random(in: 0...4, using: &generator)).map { _ in randomValue(depth: depth + 1, using: &generator) })
    default:
        var members: [String: JSONValue] = [:]
        for _ in 0..<Int.random(in: 0...4, using: &generator) {
            members[randomString(using: &generator)] = randomValue(depth: depth + 1, using: &generator)
        }
        return .object(members)
    }
}

func randomNumber(using generator: inout SplitMix64) -> Double {
    switch Int.random(in: 0..<5, using: &generator) {
    case 0: return Double(Int.random(in: -1_000_000...1_000_000, using: &generator))
    case 1: return Double(Int.random(in: -100_000...100_000, using: &generator)) / 100
    case 2: return Double.random(in: -1...1, using: &generator)
    case 3:
        // Any finite bit pattern: subnormals, huge and tiny exponents.
        while true {
            let d = Double(bitPattern: generator.next())
            if d.isFinite { return d }
        }
    default: return Double(Int64.random(in: Int64.min...Int64.max, using: &generator))
    }
}

func randomString(using generator: inout SplitMix64) -> String {
    let pool: [Unicode.Scalar] = [
        "a", "b", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}", "\u{7F}", "é", "ß", "中", "😀",
        "\u{2028}", "\u{FFFF}", "\u{10FFFF}", "\u{0301}",
    ]
    var scalars = String.UnicodeScalarView()
    for _ in 0..<Int.random(in: 0...8, using: &generator) {
        scalars.append(pool.randomElement(using: &generator)!)
    }
    return String(scalars)
}
