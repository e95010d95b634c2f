import FlintPluginAPI
import Foundation
import Yams

/// A YAML or JSON node with its position, read so that what a person means is what counts
/// (DESIGN.md fine print): keys are strings, only `true`/`false` are booleans, `10:00` stays text.
struct SourceNode: Sendable {
    enum Kind: Sendable {
        /// `quoted` is true for single/double-quoted and block scalars: never a number or boolean.
        case scalar(String, quoted: Bool)
        case mapping([(key: SourceNode, value: SourceNode)])
        case sequence([SourceNode])
    }

    var kind: Kind
    var line: Int
    var column: Int

    var typeName: String {
        switch kind {
        case .scalar(let text, let quoted):
            if quoted { return "a string" }
            switch SourceNode.interpret(plain: text) {
            case .null: return "null"
            case .bool: return "a boolean"
            case .number: return "a number"
            default: return "a string"
            }
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    var mapping: [(key: SourceNode, value: SourceNode)]? {
        if case .mapping(let pairs) = kind { return pairs }
        return nil
    }

    var sequence: [SourceNode]? {
        if case .sequence(let items) = kind { return items }
        return nil
    }

    /// The scalar's text, whatever its style.
    var scalarText: String? {
        if case .scalar(let text, _) = kind { return text }
        return nil
    }

    /// The node as a JSON value: quoted scalars are strings; plain ones are null, booleans,
    /// numbers or strings by their text.
    var json: JSONValue {
        switch kind {
        case .scalar(let text, let quoted):
            return quoted ? .string(text) : SourceNode.interpret(plain: text)
        case .mapping(let pairs):
            var object: [String: JSONValue] = [:]
            for (key, value) in pairs { object[key.scalarText ?? ""] = value.json }
            return .object(object)
        case .sequence(let items):
            return .array(items.map(\.json))
        }
    }

    static func interpret(plain text: String) -> JSONValue {
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "true": return .bool(true)
        case "false": return .bool(false)
        default:
            if let n = number(text) { return .number(n) }
            return .string(text)
        }
    }

    /// A YAML/JSON decimal number: `-12`, `3.5`, `1e3`. Not `0x1F`, `1_000`, `.5`, `10:00`.
    static func number(_ text: String) -> Double? {
        var sawDigit = false
        var index = text.startIndex
        if index < text.endIndex, text[index] == "-" || text[index] == "+" { index = text.index(after: index) }
        guard index < text.endIndex, text[index].isASCII, text[index].isNumber else { return nil }
        for c in text[index...] {
            if c.isASCII, c.isNumber {
                sawDigit = true
            } else if c != "." && c != "e" && c != "E" && c != "-" && c != "+" {
                return nil
            }
        }
        guard sawDigit else { return nil }
        return Double(text)
    }
}

/// A problem found while reading rules: `file:line:col: error: message`.
public struct Diagnostic: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable, Codable {
        case error
        case warning
    }

    public var severity: Severity
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String

    public init(severity: Severity, file: String, line: Int, column: Int, message: String) {
        self.severity = severity
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String { "\(file):\(line):\(column): \(severity.rawValue): \(message)" }
}

extension SourceNode {
    /// Reads one YAML or JSON text into nodes; a syntax error becomes a diagnostic.
    static func parse(_ text: String, file: String) -> Result<SourceNode?, Diagnostic> {
        do {
            guard let root = try Yams.compose(yaml: text, .basic) else { return .success(nil) }
            return .success(try SourceNode(root, file: file))
        } catch let error as YamlError {
            return .failure(Self.diagnostic(for: error, file: file))
        } catch let diagnostic as Diagnostic {
            return .failure(diagnostic)
        } catch {
            return .failure(Diagnostic(severity: .error, file: file, line: 1, column: 1, message: "\(error)"))
        }
    }

    private init(_ node: Node, file: String) throws {
        let mark = node.mark
        line = mark?.line ?? 1
        column = mark?.column ?? 1
        switch node {
        case .scalar(let scalar):
            kind = .scalar(scalar.string, quoted: scalar.style != .plain && scalar.style != .any)
        case .mapping(let mapping):
            kind = .mapping(try mapping.map { (try SourceNode($0.key, file: file), try SourceNode($0.value, file: file)) })
        case .sequence(let sequence):
            kind = .sequence(try sequence.map { try SourceNode($0, file: file) })
        case .alias:
            throw Diagnostic(
                severity: .error, file: file, line: line, column: column,
                message: "YAML aliases (*name) are not supported in rules; write the value out")
        }
    }

    private static func diagnostic(for error: YamlError, file: String) -> Diagnostic {
        func make(_ problem: String, _ context: YamlError.Context?, _ mark: Mark) -> Diagnostic {
            var message = "invalid YAML: \(problem)"
            if let context { message += " (\(context.text))" }
            return Diagnostic(severity: .error, file: file, line: mark.line, column: mark.column, message: message)
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            return make(problem, context, mark)
        case .reader(let problem, _, _, _):
            return Diagnostic(severity: .error, file: file, line: 1, column: 1, message: "unreadable file: \(problem)")
        default:
            return Diagnostic(severity: .error, file: file, line: 1, column: 1, message: "invalid YAML: \(error)")
        }
    }
}

extension Diagnostic: Error {}
