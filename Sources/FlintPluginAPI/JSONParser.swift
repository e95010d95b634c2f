/// Why a JSON text was refused, and where.
///
/// `offset` counts bytes from the start of the input; `line` and `column` are 1-based, and the column
/// counts Unicode scalars (characters, for almost all text) from the start of the line.
public struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public var offset: Int
    public var line: Int
    public var column: Int

    public init(message: String, offset: Int, line: Int, column: Int) {
        self.message = message
        self.offset = offset
        self.line = line
        self.column = column
    }

    /// `line 3, column 14: expected ',' or '}' after object member`
    public var description: String { "line \(line), column \(column): \(message)" }
}

/// A strict, allocation-light JSON reader (RFC 8259) with a nesting limit and precise errors.
///
/// Hand-written rather than `JSONDecoder` because ingest needs exact positions for rejected events,
/// a depth limit (docs/architecture.md, HTTP: JSON nesting depth 64) and speed on large NDJSON files.
public enum JSONParser {
    public static let defaultMaxDepth = 64

    /// Parses one JSON text (RFC 8259).
    ///
    /// Rejects invalid UTF-8, trailing garbage and nesting deeper than `maxDepth` arrays/objects.
    /// Duplicate keys are allowed (the last one wins). A leading UTF-8 byte order mark is skipped.
    public static func parse(_ bytes: some Collection<UInt8>, maxDepth: Int = defaultMaxDepth) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError>? = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONParseError) in try parseBuffer(buffer, maxDepth: maxDepth) }
        }
        if let result { return try result.get() }
        let copy = Array(bytes)
        return try copy.withUnsafeBufferPointer { buffer in
            Result { () throws(JSONParseError) in try parseBuffer(buffer, maxDepth: maxDepth) }
        }.get()
    }

    /// Parses one JSON text held in a string.
    public static func parse(_ text: String, maxDepth: Int = defaultMaxDepth) throws(JSONParseError) -> JSONValue {
        var text = text
        return try text.withUTF8 { buffer in
            Result { () throws(JSONParseError) in try parseBuffer(buffer, maxDepth: maxDepth) }
        }.get()
    }

    /// Parses NDJSON: one JSON text per line.
    ///
    /// Blank lines (only spaces, tabs or CR) are skipped; a CR before the LF is tolerated. `line` is the
    /// 1-based line number; an error's `offset` counts from the start of `bytes` and its `line`/`column`
    /// point into the whole input.
    public static func parseLines(
        _ bytes: some Collection<UInt8>, maxDepth: Int = defaultMaxDepth
    ) -> [(line: Int, result: Result<JSONValue, JSONParseError>)] {
        if let result = bytes.withContiguousStorageIfAvailable({ parseLinesBuffer($0, maxDepth: maxDepth) }) {
            return result
        }
        return Array(bytes).withUnsafeBufferPointer { parseLinesBuffer($0, maxDepth: maxDepth) }
    }

    /// Parses NDJSON held in a string.
    public static func parseLines(
        _ text: String, maxDepth: Int = defaultMaxDepth
    ) -> [(line: Int, result: Result<JSONValue, JSONParseError>)] {
        var text = text
        return text.withUTF8 { parseLinesBuffer($0, maxDepth: maxDepth) }
    }

    static func parseBuffer(_ buffer: UnsafeBufferPointer<UInt8>, maxDepth: Int) throws(JSONParseError) -> JSONValue {
        var start = 0
        if buffer.count >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF { start = 3 }
        var parser = Parser(buffer: buffer, start: start, end: buffer.count, maxDepth: maxDepth, lineStart: 0, lineNumber: 1)
        return try parser.parseDocument()
    }

    static func parseLinesBuffer(
        _ buffer: UnsafeBufferPointer<UInt8>, maxDepth: Int
    ) -> [(line: Int, result: Result<JSONValue, JSONParseError>)] {
        var results: [(line: Int, result: Result<JSONValue, JSONParseError>)] = []
        var lineStart = 0
        var lineNumber = 1
        if buffer.count >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF { lineStart = 3 }
        let count = buffer.count
        while lineStart < count {
            var lineEnd = lineStart
            while lineEnd < count, buffer[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            var contentEnd = lineEnd
            if contentEnd > lineStart, buffer[contentEnd - 1] == UInt8(ascii: "\r") { contentEnd -= 1 }
            var blank = true
            for k in lineStart..<contentEnd where !isWhitespace(buffer[k]) {
                blank = false
                break
            }
            if !blank {
                var parser = Parser(
                    buffer: buffer, start: lineStart, end: contentEnd, maxDepth: maxDepth,
                    lineStart: lineStart, lineNumber: lineNumber)
                let result = Result { () throws(JSONParseError) in try parser.parseDocument() }
                results.append((line: lineNumber, result: result))
            }
            lineStart = lineEnd + 1
            lineNumber += 1
        }
        return results
    }

    @inline(__always)
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }
}

// MARK: - The parser

private enum ContainerKind {
    case array
    case object
}

private struct Parser {
    let buffer: UnsafeBufferPointer<UInt8>
    var index: Int
    let end: Int
    let maxDepth: Int
    /// Where line counting starts for error positions (the start of an NDJSON line, or 0).
    let lineStart: Int
    let lineNumber: Int
    /// Reused for strings with escapes.
    var scratch: [UInt8] = []

    init(buffer: UnsafeBufferPointer<UInt8>, start: Int, end: Int, maxDepth: Int, lineStart: Int, lineNumber: Int) {
        self.buffer = buffer
        self.index = start
        self.end = end
        self.maxDepth = maxDepth
        self.lineStart = lineStart
        self.lineNumber = lineNumber
    }

    // MARK: Document and containers

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        // Open containers, innermost last, with where their elements start in the shared stacks.
        // Elements collect in `elements`/`members` and become an Array or a Dictionary of the right
        // size when the container closes: no per-container growth, no rehashing.
        var kinds: [ContainerKind] = []
        var starts: [Int] = []
        var elements: [JSONValue] = []
        var members: [(key: String, value: JSONValue)] = []
        var keys: [String] = []

        skipWhitespace()
        if index >= end { throw error("empty input, expected a JSON value", at: index) }

        nextValue: while true {
            skipWhitespace()
            guard index < end else { throw error("unexpected end of input, expected a value", at: index) }
            var value: JSONValue
            switch buffer[index] {
            case UInt8(ascii: "{"):
                if kinds.count >= maxDepth { throw error("nesting deeper than \(maxDepth) levels", at: index) }
                index += 1
                skipWhitespace()
                if index < end, buffer[index] == UInt8(ascii: "}") {
                    index += 1
                    value = .object([:])
                } else {
                    kinds.append(.object)
                    starts.append(members.count)
                    keys.append(try parseKeyAndColon(afterComma: false))
                    continue nextValue
                }
            case UInt8(ascii: "["):
                if kinds.count >= maxDepth { throw error("nesting deeper than \(maxDepth) levels", at: index) }
                index += 1
                skipWhitespace()
                if index < end, buffer[index] == UInt8(ascii: "]") {
                    index += 1
                    value = .array([])
                } else {
                    kinds.append(.array)
                    starts.append(elements.count)
                    continue nextValue
                }
            case UInt8(ascii: "\""):
                value = .string(try parseString())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = .number(try parseNumber())
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"):
                // true / false / null, or a helpful "invalid literal 'NaN'".
                value = try parseLiteral()
            default:
                throw unexpected(at: index, expecting: "a value")
            }

            // A value is complete: hand it to the enclosing containers, closing those that end here.
            while true {
                guard let kind = kinds.last else {
                    skipWhitespace()
                    if index < end { throw unexpected(at: index, expecting: nil, trailing: true) }
                    return value
                }
                skipWhitespace()
                switch kind {
                case .array:
                    elements.append(value)
                    guard index < end else {
                        throw error("unexpected end of input, expected ',' or ']' after array element", at: index)
                    }
                    switch buffer[index] {
                    case UInt8(ascii: ","):
                        index += 1
                        skipWhitespace()
                        if index < end, buffer[index] == UInt8(ascii: "]") {
                            throw error("trailing comma in array", at: index)
                        }
                        continue nextValue
                    case UInt8(ascii: "]"):
                        index += 1
                        kinds.removeLast()
                        let start = starts.removeLast()
                        value = .array(Array(elements[start...]))
                        elements.removeSubrange(start...)
                    default:
                        throw unexpected(at: index, expecting: "',' or ']' after array element")
                    }
                case .object:
                    members.append((key: keys.removeLast(), value: value))
                    guard index < end else {
                        throw error("unexpected end of input, expected ',' or '}' after object member", at: index)
                    }
                    switch buffer[index] {
                    case UInt8(ascii: ","):
                        index += 1
                        keys.append(try parseKeyAndColon(afterComma: true))
                        continue nextValue
                    case UInt8(ascii: "}"):
                        index += 1
                        kinds.removeLast()
                        let start = starts.removeLast()
                        var object = [String: JSONValue](minimumCapacity: members.count - start)
                        for member in members[start...] { object[member.key] = member.value }
                        members.removeSubrange(start...)
                        value = .object(object)
                    default:
                        throw unexpected(at: index, expecting: "',' or '}' after object member")
                    }
                }
            }
        }
    }

    mutating func parseKeyAndColon(afterComma: Bool) throws(JSONParseError) -> String {
        skipWhitespace()
        guard index < end else { throw error("unexpected end of input, expected an object key", at: index) }
        guard buffer[index] == UInt8(ascii: "\"") else {
            if afterComma, buffer[index] == UInt8(ascii: "}") { throw error("trailing comma in object", at: index) }
            throw unexpected(at: index, expecting: "a string key")
        }
        let key = try parseString()
        skipWhitespace()
        guard index < end else { throw error("unexpected end of input, expected ':' after object key", at: index) }
        guard buffer[index] == UInt8(ascii: ":") else { throw unexpected(at: index, expecting: "':' after object key") }
        index += 1
        return key
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while index < end, JSONParser.isWhitespace(buffer[index]) { index += 1 }
    }

    // MARK: Literals

    mutating func parseLiteral() throws(JSONParseError) -> JSONValue {
        let start = index
        var wordEnd = index
        while wordEnd < end, isWordByte(buffer[wordEnd]) { wordEnd += 1 }
        let word = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<wordEnd]), as: UTF8.self)
        switch word {
        case "true":
            index = wordEnd
            return .bool(true)
        case "false":
            index = wordEnd
            return .bool(false)
        case "null":
            index = wordEnd
            return .null
        default:
            if wordEnd == end, "true".hasPrefix(word) || "false".hasPrefix(word) || "null".hasPrefix(word) {
                throw error("unexpected end of input in '\(word)'", at: wordEnd)
            }
            throw error("invalid literal '\(word)'", at: start)
        }
    }

    func isWordByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
            true
        default:
            false
        }
    }

    // MARK: Numbers

    mutating func parseNumber() throws(JSONParseError) -> Double {
        let start = index
        var simpleInteger = true
        if buffer[index] == UInt8(ascii: "-") {
            index += 1
            guard index < end else { throw error("unexpected end of input, expected a digit after '-'", at: index) }
            guard isDigit(buffer[index]) else { throw unexpected(at: index, expecting: "a digit after '-'") }
        }
        if buffer[index] == UInt8(ascii: "0") {
            index += 1
            if index < end, isDigit(buffer[index]) { throw error("leading zeros are not allowed", at: index - 1) }
        } else {
            while index < end, isDigit(buffer[index]) { index += 1 }
        }
        if index < end, buffer[index] == UInt8(ascii: ".") {
            simpleInteger = false
            index += 1
            guard index < end else { throw error("unexpected end of input, expected a digit after '.'", at: index) }
            guard isDigit(buffer[index]) else { throw unexpected(at: index, expecting: "a digit after '.'") }
            while index < end, isDigit(buffer[index]) { index += 1 }
        }
        if index < end, buffer[index] == UInt8(ascii: "e") || buffer[index] == UInt8(ascii: "E") {
            simpleInteger = false
            index += 1
            if index < end, buffer[index] == UInt8(ascii: "+") || buffer[index] == UInt8(ascii: "-") { index += 1 }
            guard index < end else { throw error("unexpected end of input, expected a digit in the exponent", at: index) }
            guard isDigit(buffer[index]) else { throw unexpected(at: index, expecting: "a digit in the exponent") }
            while index < end, isDigit(buffer[index]) { index += 1 }
        }
        // A letter or '.' glued to a number ("12abc", "1.2.3") is a typo, not two tokens.
        if index < end, isWordByte(buffer[index]) || buffer[index] == UInt8(ascii: ".") {
            throw unexpected(at: index, expecting: nil)
        }

        let length = index - start
        if simpleInteger, length <= 18 {
            // Fast path: exact in Int64, and Int64 -> Double conversion is correctly rounded.
            var negative = false
            var k = start
            if buffer[k] == UInt8(ascii: "-") {
                negative = true
                k += 1
            }
            var value: Int64 = 0
            while k < index {
                value = value &* 10 &+ Int64(buffer[k] &- UInt8(ascii: "0"))
                k += 1
            }
            if negative { return value == 0 ? -0.0 : -Double(value) }
            return Double(value)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<index]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw error("number \(text) is out of range", at: start)
        }
        return value
    }

    @inline(__always)
    func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    // MARK: Strings

    /// Parses a string starting at the opening quote; leaves `index` after the closing quote.
    mutating func parseString() throws(JSONParseError) -> String {
        let open = index
        index += 1
        let start = index
        // Fast path: no escapes. Validate UTF-8 as we go.
        while index < end {
            let byte = buffer[index]
            if byte == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<index]), as: UTF8.self)
                index += 1
                return s
            } else if byte == UInt8(ascii: "\\") {
                scratch.removeAll(keepingCapacity: true)
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<index]))
                return try parseStringWithEscapes(open: open)
            } else if byte < 0x20 {
                throw error("unescaped control character \(scalarName(UInt32(byte))) in string", at: index)
            } else if byte < 0x80 {
                index += 1
            } else {
                index += try validateUTF8Sequence(at: index)
            }
        }
        throw error("unterminated string", at: open)
    }

    mutating func parseStringWithEscapes(open: Int) throws(JSONParseError) -> String {
        while index < end {
            let byte = buffer[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return String(decoding: scratch, as: UTF8.self)
            } else if byte == UInt8(ascii: "\\") {
                let escapeStart = index
                index += 1
                guard index < end else { throw error("unterminated string", at: open) }
                let e = buffer[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""): scratch.append(0x22)
                case UInt8(ascii: "\\"): scratch.append(0x5C)
                case UInt8(ascii: "/"): scratch.append(0x2F)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"):
                    let unit = try parseHex4(escapeStart: escapeStart)
                    var scalarValue = UInt32(unit)
                    if unit >= 0xD800, unit <= 0xDBFF {
                        // A high surrogate must be followed by an escaped low surrogate.
                        guard index + 1 < end, buffer[index] == UInt8(ascii: "\\"), buffer[index + 1] == UInt8(ascii: "u") else {
                            throw error("lone surrogate \\u\(hex4(unit)) (a high surrogate needs a following \\uDC00-\\uDFFF)", at: escapeStart)
                        }
                        let lowStart = index
                        index += 2
                        let low = try parseHex4(escapeStart: lowStart)
                        guard low >= 0xDC00, low <= 0xDFFF else {
                            throw error("lone surrogate \\u\(hex4(unit)) (followed by \\u\(hex4(low)), not a low surrogate)", at: escapeStart)
                        }
                        scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                    } else if unit >= 0xDC00, unit <= 0xDFFF {
                        throw error("lone surrogate \\u\(hex4(unit)) (a low surrogate without a high one)", at: escapeStart)
                    }
                    appendUTF8(scalarValue)
                default:
                    throw error("invalid escape '\\\(describeByteInline(e, at: index - 1))' in string", at: escapeStart)
                }
            } else if byte < 0x20 {
                throw error("unescaped control character \(scalarName(UInt32(byte))) in string", at: index)
            } else if byte < 0x80 {
                scratch.append(byte)
                index += 1
            } else {
                let length = try validateUTF8Sequence(at: index)
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[index..<(index + length)]))
                index += length
            }
        }
        throw error("unterminated string", at: open)
    }

    /// Reads the four hex digits after `\u`; `index` is just past the `u`.
    mutating func parseHex4(escapeStart: Int) throws(JSONParseError) -> UInt16 {
        var value: UInt16 = 0
        for _ in 0..<4 {
            guard index < end else { throw error("unexpected end of input in \\u escape", at: index) }
            let byte = buffer[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("invalid \\u escape: expected 4 hex digits", at: escapeStart)
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }

    mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            scratch.append(UInt8(scalar))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | (scalar >> 6)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | (scalar >> 12)))
            scratch.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        default:
            scratch.append(UInt8(0xF0 | (scalar >> 18)))
            scratch.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }

    /// Validates the multi-byte UTF-8 sequence whose lead byte is at `position` (Unicode Table 3-7:
    /// no overlongs, no surrogates, nothing above U+10FFFF) and returns its length.
    func validateUTF8Sequence(at position: Int) throws(JSONParseError) -> Int {
        guard let length = utf8SequenceLength(at: position) else {
            throw error("invalid UTF-8 byte 0x\(hex2(buffer[position]))", at: position)
        }
        return length
    }

    func utf8SequenceLength(at position: Int) -> Int? {
        let lead = buffer[position]
        let available = end - position
        @inline(__always) func cont(_ k: Int, _ low: UInt8 = 0x80, _ high: UInt8 = 0xBF) -> Bool {
            k < available && buffer[position + k] >= low && buffer[position + k] <= high
        }
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: return cont(1) ? 2 : nil
        case 0xE0: return cont(1, 0xA0, 0xBF) && cont(2) ? 3 : nil
        case 0xE1...0xEC, 0xEE...0xEF: return cont(1) && cont(2) ? 3 : nil
        case 0xED: return cont(1, 0x80, 0x9F) && cont(2) ? 3 : nil
        case 0xF0: return cont(1, 0x90, 0xBF) && cont(2) && cont(3) ? 4 : nil
        case 0xF1...0xF3: return cont(1) && cont(2) && cont(3) ? 4 : nil
        case 0xF4: return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : nil
        default: return nil
        }
    }

    // MARK: Errors

    /// "unexpected 'x', expected ..." for the byte at `position`, or "invalid UTF-8 byte 0xC3".
    func unexpected(at position: Int, expecting: String?, trailing: Bool = false) -> JSONParseError {
        let byte = buffer[position]
        if byte >= 0x80, utf8SequenceLength(at: position) == nil {
            return error("invalid UTF-8 byte 0x\(hex2(byte))", at: position)
        }
        let found = describeByteInline(byte, at: position)
        if trailing { return error("unexpected '\(found)' after the JSON value", at: position) }
        if let expecting { return error("expected \(expecting), found '\(found)'", at: position) }
        return error("unexpected '\(found)'", at: position)
    }

    /// A printable rendering of the character starting at `position`, for messages.
    func describeByteInline(_ byte: UInt8, at position: Int) -> String {
        if byte >= 0x80, let length = utf8SequenceLength(at: position) {
            return String(decoding: UnsafeBufferPointer(rebasing: buffer[position..<(position + length)]), as: UTF8.self)
        }
        if byte >= 0x80 { return "\\x\(hex2(byte))" }
        if byte < 0x20 || byte == 0x7F { return scalarName(UInt32(byte)) }
        return String(UnicodeScalar(byte))
    }

    func error(_ message: String, at position: Int) -> JSONParseError {
        var line = lineNumber
        var column = 1
        var k = lineStart
        let stop = min(position, buffer.count)
        while k < stop {
            let byte = buffer[k]
            if byte == 0x0A {
                line += 1
                column = 1
            } else if byte == 0x0D {
                if k + 1 < buffer.count, buffer[k + 1] == 0x0A {
                    // Counted with the LF.
                } else {
                    line += 1
                    column = 1
                }
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
            k += 1
        }
        return JSONParseError(message: message, offset: position, line: line, column: column)
    }
}

private func hex2(_ byte: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
}

private func hex4(_ unit: UInt16) -> String {
    hex2(UInt8(unit >> 8)) + hex2(UInt8(unit & 0xFF))
}

private func scalarName(_ value: UInt32) -> String {
    "U+" + hex4(UInt16(truncatingIfNeeded: value))
}
