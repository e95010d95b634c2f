import FlintPluginAPI

/// A path into an event: `properties.items[0].name`, `context.timezone`, `properties["Cart Value"]`.
public struct FieldPath: Sendable, Hashable, CustomStringConvertible {
    public enum Segment: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    public var segments: [Segment]

    public init(segments: [Segment]) {
        self.segments = segments
    }

    /// Parses `a.b[0].c`, also `a["key with spaces"]` and `a['x']`.
    ///
    /// Bare keys are any characters but whitespace, controls and `. [ ] " ' | { } : ,`; anything else
    /// goes in quotes (`\"`, `\'` and `\\` escape inside them). Errors on an empty path, empty
    /// segments (`a..b`, `a.`), `[x]`, unclosed brackets and negative indexes.
    public init(parsing text: String) throws(PathError) {
        let scalars = Array(text.unicodeScalars)
        var parser = PathParser(scalars: scalars, position: 0, columnBase: 1)
        let path = try parser.parse()
        if parser.position < scalars.count {
            throw PathError(
                message: "unexpected \(quotedForMessage(scalars[parser.position])) in path", column: parser.position + 1)
        }
        self = path
    }

    /// The canonical text: bare keys joined by `.`, other keys as `["..."]`, indexes as `[n]`.
    public var description: String {
        var text = ""
        for (i, segment) in segments.enumerated() {
            switch segment {
            case .key(let key):
                if isBareKey(key) {
                    if i > 0 { text += "." }
                    text += key
                } else {
                    text += "[\""
                    for scalar in key.unicodeScalars {
                        if scalar == "\"" || scalar == "\\" { text += "\\" }
                        text.unicodeScalars.append(scalar)
                    }
                    text += "\"]"
                }
            case .index(let index):
                text += "[\(index)]"
            }
        }
        return text
    }

    /// The value at this path; nil when it is missing (or the shape does not fit), `.null` when the
    /// value is an explicit null.
    public func resolve(in root: JSONValue) -> JSONValue? {
        var current = root
        for segment in segments {
            switch (segment, current) {
            case (.key(let key), .object(let members)):
                guard let next = members[key] else { return nil }
                current = next
            case (.index(let index), .array(let elements)):
                guard index < elements.count else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return current
    }
}

/// A path that does not parse, with the 1-based column (in Unicode scalars) of the problem.
public struct PathError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public var column: Int

    public init(message: String, column: Int) {
        self.message = message
        self.column = column
    }

    public var description: String { "column \(column): \(message)" }
}

// MARK: - Parsing

func isBareKeyScalar(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar {
    case ".", "[", "]", "\"", "'", "|", "{", "}", ":", ",": return false
    default:
        if scalar.value < 0x21 || scalar.value == 0x7F { return false }
        return !scalar.properties.isWhitespace
    }
}

private func isBareKey(_ key: String) -> Bool {
    !key.isEmpty && key.unicodeScalars.allSatisfy(isBareKeyScalar)
}

/// `'x'`, `U+0009`, or "end of input", for messages.
func quotedForMessage(_ scalar: Unicode.Scalar?) -> String {
    guard let scalar else { return "end of input" }
    if scalar.value < 0x20 || scalar.value == 0x7F || (scalar.properties.isWhitespace && scalar != " ") {
        return "U+" + String(scalar.value, radix: 16, uppercase: true).zeroPadded(to: 4)
    }
    return "'\(scalar)'"
}

extension String {
    func zeroPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// Parses a path out of a scalar array, stopping at the first scalar that cannot continue it
/// (so a template can read `{{ a.b | upcase }}`). Columns are `columnBase + index`.
struct PathParser {
    let scalars: [Unicode.Scalar]
    var position: Int
    let columnBase: Int

    func column(_ index: Int) -> Int { columnBase + index }

    func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        position + offset < scalars.count ? scalars[position + offset] : nil
    }

    mutating func parse() throws(PathError) -> FieldPath {
        var segments: [FieldPath.Segment] = []
        guard let first = peek() else { throw PathError(message: "empty path", column: column(position)) }
        if first == "[" {
            segments.append(try parseBracket())
        } else if isBareKeyScalar(first) {
            segments.append(.key(parseBareKey()))
        } else if first == "." {
            throw PathError(message: "empty segment before '.'", column: column(position))
        } else {
            throw PathError(message: "expected a path, found \(quotedForMessage(first))", column: column(position))
        }
        while let next = peek() {
            if next == "." {
                position += 1
                guard let after = peek() else {
                    throw PathError(message: "empty segment after '.' at the end of the path", column: column(position - 1))
                }
                if after == "." {
                    throw PathError(message: "empty segment between '..'", column: column(position))
                }
                guard isBareKeyScalar(after) else {
                    throw PathError(message: "expected a key after '.', found \(quotedForMessage(after))", column: column(position))
                }
                segments.append(.key(parseBareKey()))
            } else if next == "[" {
                segments.append(try parseBracket())
            } else if isBareKeyScalar(next) {
                throw PathError(message: "expected '.' or '[' before \(quotedForMessage(next))", column: column(position))
            } else {
                break
            }
        }
        return FieldPath(segments: segments)
    }

    mutating func parseBareKey() -> String {
        var key = String.UnicodeScalarView()
        while let scalar = peek(), isBareKeyScalar(scalar) {
            key.append(scalar)
            position += 1
        }
        return String(key)
    }

    /// `[12]`, `["key"]` or `['key']`; `position` is at the `[`.
    mutating func parseBracket() throws(PathError) -> FieldPath.Segment {
        let open = position
        position += 1
        while let s = peek(), s == " " { position += 1 }
        guard let first = peek() else { throw PathError(message: "unclosed '['", column: column(open)) }
        let segment: FieldPath.Segment
        if first == "\"" || first == "'" {
            let quoteStart = position
            position += 1
            var key = String.UnicodeScalarView()
            var closed = false
            while let scalar = peek() {
                position += 1
                if scalar == first {
                    closed = true
                    break
                }
                if scalar == "\\", let escaped = peek(), escaped == "\"" || escaped == "'" || escaped == "\\" {
                    key.append(escaped)
                    position += 1
                } else {
                    key.append(scalar)
                }
            }
            guard closed else { throw PathError(message: "unterminated quoted key", column: column(quoteStart)) }
            segment = .key(String(key))
        } else if first == "-" {
            throw PathError(message: "negative index is not allowed", column: column(position))
        } else if ("0"..."9").contains(first) {
            let digitsStart = position
            var value = 0
            while let scalar = peek(), ("0"..."9").contains(scalar) {
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (plus, overflow2) = times.addingReportingOverflow(Int(scalar.value - 0x30))
                if overflow1 || overflow2 {
                    throw PathError(message: "index is too large", column: column(digitsStart))
                }
                value = plus
                position += 1
            }
            segment = .index(value)
        } else if first == "]" {
            throw PathError(message: "empty brackets: expected an index or a quoted key", column: column(position))
        } else {
            throw PathError(
                message: "expected an index or a quoted key in brackets, found \(quotedForMessage(first))",
                column: column(position))
        }
        while let s = peek(), s == " " { position += 1 }
        guard let close = peek() else { throw PathError(message: "unclosed '['", column: column(open)) }
        guard close == "]" else {
            throw PathError(message: "expected ']' to close '[', found \(quotedForMessage(close))", column: column(position))
        }
        position += 1
        return segment
    }
}
