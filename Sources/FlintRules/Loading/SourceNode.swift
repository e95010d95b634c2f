import FlintPluginAPI
import Foundation
import Yams

/// A YAML or JSON node with its position, read so that what a person means is what counts
/// (docs/architecture.md): keys are strings, only `true`/`false` are booleans, `10:00` stays text.
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
        func make(_ problem: String, _ context: YamlError.Context?, _ mark: Mark, _ yaml: String) -> Diagnostic {
            if let (plain, at) = plainWords(problem, context, mark, yaml) {
                return Diagnostic(severity: .error, file: file, line: at.line, column: at.column, message: plain)
            }
            var message = "invalid YAML: \(problem)"
            if let context { message += " (\(context.text))" }
            return Diagnostic(severity: .error, file: file, line: mark.line, column: mark.column, message: message)
        }
        switch error {
        case .scanner(let context, let problem, let mark, let yaml),
            .parser(let context, let problem, let mark, let yaml),
            .composer(let context, let problem, let mark, let yaml):
            return make(problem, context, mark, yaml)
        case .reader(let problem, _, _, _):
            return Diagnostic(severity: .error, file: file, line: 1, column: 1, message: "unreadable file: \(problem)")
        default:
            return Diagnostic(severity: .error, file: file, line: 1, column: 1, message: "invalid YAML: \(error)")
        }
    }
}

extension SourceNode {
    /// libyaml's words for the usual indentation mistakes, said plainly, and where to point; nil for the others.
    static func plainWords(_ problem: String, _ context: YamlError.Context?, _ mark: Mark, _ yaml: String) -> (String, Mark)? {
        let sameColumn = "(check that keys at the same level start in the same column)"
        switch problem {
        case "mapping values are not allowed in this context":
            return ("bad indentation: this line is indented further than the keys above it, or a value contains ': ' "
                + "\(sameColumn.dropLast()); quote a value that contains ': ')", mark)
        case "did not find expected key":
            return ("bad indentation: this line does not line up with the keys above it \(sameColumn)", mark)
        case "did not find expected '-' indicator":
            return ("bad indentation: this line does not line up with the '- ' items of the list above it "
                + "(check that the items of one list start in the same column)", mark)
        case "could not find expected ':'":
            // libyaml notices on the next line; the key without ':' is where its scan began.
            return ("a line without ':' in a mapping (each line is 'key: value'); check its indentation and that its quotes are closed",
                context?.mark ?? mark)
        case "block sequence entries are not allowed in this context":
            return ("bad indentation: a '- ' list item cannot follow a key's value on the same line "
                + "(start the list on the next line, indented under its key)", mark)
        case "found character that cannot start any token":
            if character(in: yaml, at: mark) == "\t" {
                return ("a tab in the indentation: YAML is indented with spaces only", mark)
            }
            return ("this character cannot start a YAML value; quote the value (e.g. \"@home\")", mark)
        default:
            return nil
        }
    }

    /// The character at a 1-based line and column, if any.
    private static func character(in text: String, at mark: Mark) -> Character? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard mark.line >= 1, mark.line <= lines.count else { return nil }
        let line = lines[mark.line - 1]
        guard mark.column >= 1, mark.column <= line.count else { return nil }
        return line[line.index(line.startIndex, offsetBy: mark.column - 1)]
    }
}

extension Diagnostic: Error {}
