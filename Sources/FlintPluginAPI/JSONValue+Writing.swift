extension JSONValue {
    /// Compact JSON with keys sorted by Unicode code point and no spaces: `{"a":1,"b":[true,null]}`.
    public var compactJSON: String {
        String(decoding: compactUTF8, as: UTF8.self)
    }

    /// The UTF-8 bytes of `compactJSON`, for request bodies.
    public var compactUTF8: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        JSONWriter.writeCompact(self, into: &out)
        return out
    }

    /// Indented JSON with sorted keys: `"key": value`, one member or element a line, `{}` and `[]` inline.
    public func prettyJSON(indent: Int = 2) -> String {
        var out: [UInt8] = []
        JSONWriter.writePretty(self, indent: max(0, indent), level: 0, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The number of UTF-8 bytes in `compactJSON`, computed without building it (Braze's 50 KB limit
    /// is 51,200 bytes of compact JSON, docs/architecture.md, Dispatch).
    public var compactUTF8Count: Int {
        JSONWriter.compactCount(self)
    }

    /// How a number prints in JSON and in templates: integral values with |x| < 2^53 without a
    /// fraction (`20`, `-3`), others in the shortest form that reads back to the same `Double`
    /// (`20.5`, `0.1`, `1e+21`, `1e-7`). Non-finite values print as `null`.
    public static func numberText(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 9_007_199_254_740_992 {
            return String(Int64(value))
        }
        var text = value.description
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            // Swift prints "1e-07"; JSON allows it, but "1e-7" is what people expect.
            var mantissa = String(text[..<e])
            if mantissa.hasSuffix(".0") { mantissa.removeLast(2) }
            var exponent = text[text.index(after: e)...]
            var sign = ""
            if let first = exponent.first, first == "+" || first == "-" {
                sign = String(first)
                exponent = exponent.dropFirst()
            }
            let digits = exponent.drop(while: { $0 == "0" })
            text = mantissa + "e" + sign + (digits.isEmpty ? "0" : String(digits))
        } else if text.hasSuffix(".0") {
            text.removeLast(2)
        }
        return text
    }
}

enum JSONWriter {
    static func writeCompact(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n): writeNumber(n, into: &out)
        case .string(let s): writeString(s, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            var first = true
            for element in elements {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeCompact(element, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            var first = true
            for (key, member) in sortedMembers(members) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                writeCompact(member, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func writePretty(_ value: JSONValue, indent: Int, level: Int, into out: inout [UInt8]) {
        switch value {
        case .array(let elements) where !elements.isEmpty:
            out.append(UInt8(ascii: "["))
            var first = true
            for element in elements {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                newline(indent: indent, level: level + 1, into: &out)
                writePretty(element, indent: indent, level: level + 1, into: &out)
            }
            newline(indent: indent, level: level, into: &out)
            out.append(UInt8(ascii: "]"))
        case .object(let members) where !members.isEmpty:
            out.append(UInt8(ascii: "{"))
            var first = true
            for (key, member) in sortedMembers(members) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                newline(indent: indent, level: level + 1, into: &out)
                writeString(key, into: &out)
                out.append(contentsOf: ": ".utf8)
                writePretty(member, indent: indent, level: level + 1, into: &out)
            }
            newline(indent: indent, level: level, into: &out)
            out.append(UInt8(ascii: "}"))
        default:
            writeCompact(value, into: &out)
        }
    }

    private static func newline(indent: Int, level: Int, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\n"))
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent * level))
    }

    /// The members in key order, each with its value (no second lookup by key while writing). Keys in
    /// code point order (UTF-8 byte order equals code point order), independent of locale and of
    /// Swift's canonical-equivalence string ordering.
    static func sortedMembers(_ members: [String: JSONValue]) -> [(key: String, value: JSONValue)] {
        if members.count == 1 { return [members.first!] }
        return members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    }

    /// `numberText`, with integers (the usual case: counts, amounts, ids) written digit by digit
    /// straight into the buffer.
    static func writeNumber(_ n: Double, into out: inout [UInt8]) {
        guard n.isFinite, n == n.rounded(), abs(n) < 9_007_199_254_740_992 else {
            out.append(contentsOf: JSONValue.numberText(n).utf8)
            return
        }
        var v = Int64(n)
        if v == 0 {
            out.append(UInt8(ascii: "0"))
            return
        }
        if v < 0 {
            out.append(UInt8(ascii: "-"))
            v = -v
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            while v > 0 {
                buffer[count] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                count += 1
            }
            for i in stride(from: count - 1, through: 0, by: -1) { out.append(buffer[i]) }
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Escapes per RFC 8259: `"` and `\`, control characters as `\n \t \r \b \f` or `\u00XX`.
    /// `/` and non-ASCII pass through.
    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        // Runs of bytes that need no escape are copied whole: most strings are one such run
        // (byte by byte, this was the largest single function of `flint ingest`'s profile).
        s.withUTF8 { bytes in
            var runStart = 0
            for i in 0..<bytes.count {
                let byte = bytes[i]
                guard byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 else { continue }
                if runStart < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
                appendEscape(byte, into: &out)
                runStart = i + 1
            }
            if runStart < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...])) }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func appendEscape(_ byte: UInt8, into out: inout [UInt8]) {
        out.append(0x5C)
        switch byte {
        case UInt8(ascii: "\""): out.append(0x22)
        case UInt8(ascii: "\\"): out.append(0x5C)
        case 0x0A: out.append(UInt8(ascii: "n"))
        case 0x09: out.append(UInt8(ascii: "t"))
        case 0x0D: out.append(UInt8(ascii: "r"))
        case 0x08: out.append(UInt8(ascii: "b"))
        case 0x0C: out.append(UInt8(ascii: "f"))
        default:
            out.append(UInt8(ascii: "u"))
            out.append(UInt8(ascii: "0"))
            out.append(UInt8(ascii: "0"))
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0xF)])
        }
    }

    static func compactCount(_ value: JSONValue) -> Int {
        switch value {
        case .null: return 4
        case .bool(let b): return b ? 4 : 5
        case .number(let n): return JSONValue.numberText(n).utf8.count
        case .string(let s): return stringCount(s)
        case .array(let elements):
            var total = 2 + max(0, elements.count - 1)
            for element in elements { total += compactCount(element) }
            return total
        case .object(let members):
            var total = 2 + max(0, members.count - 1)
            for (key, member) in members { total += stringCount(key) + 1 + compactCount(member) }
            return total
        }
    }

    private static func stringCount(_ s: String) -> Int {
        var total = 2
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x0A, 0x09, 0x0D, 0x08, 0x0C: total += 2
            case 0x00..<0x20: total += 6
            default: total += 1
            }
        }
        return total
    }
}
