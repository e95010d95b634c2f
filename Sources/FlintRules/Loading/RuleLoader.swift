import FlintPluginAPI
import Foundation

/// One rule file's path (as shown in diagnostics) and text.
public struct RuleFile: Sendable, Hashable {
    public var path: String
    public var text: String

    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }

    /// The extensions rule files may have.
    public static let extensions: Set<String> = ["yaml", "yml", "json"]
}

/// What loading a set of rule files produced: the valid rules and every problem found.
public struct RuleLoadResult: Sendable {
    public var ruleSet: RuleSet
    /// Sorted by file, line, column.
    public var diagnostics: [Diagnostic]

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
    public var warnings: [Diagnostic] { diagnostics.filter { $0.severity == .warning } }
    /// A set with any error is refused whole (docs/architecture.md, Rules: reload keeps the last good set).
    public var isValid: Bool { errors.isEmpty }
}

/// Reads rule files. Pure: the caller reads the files; this only parses and checks text.
public enum RuleLoader {
    public static func load(_ files: [RuleFile]) -> RuleLoadResult {
        var rules: [Rule] = []
        var diagnostics: [Diagnostic] = []
        var firstDefinition: [String: SourceLocation] = [:]

        for file in files.sorted(by: { $0.path < $1.path }) {
            let root: SourceNode
            switch SourceNode.parse(file.text, file: file.path) {
            case .failure(let d):
                diagnostics.append(d)
                continue
            case .success(nil):
                diagnostics.append(Diagnostic(severity: .warning, file: file.path, line: 1, column: 1, message: "the file holds no rule"))
                continue
            case .success(let node?):
                root = node
            }
            var decoder = RuleDecoder(file: file.path, text: file.text)
            var ruleNodes: [SourceNode] = []
            if let pairs = root.mapping, pairs.contains(where: { $0.key.scalarText == "rules" }) {
                if let f = decoder.fields(root, in: "rules file", allowed: ["rules"]), let (_, list) = f["rules"] {
                    if let items = list.sequence {
                        ruleNodes = items
                        if items.isEmpty { decoder.warning(list, "rules: the list is empty") }
                    } else {
                        decoder.error(list, "rules: expected a list of rules, got \(list.typeName)")
                    }
                }
            } else if root.mapping != nil {
                ruleNodes = [root]
            } else {
                decoder.error(root, "expected a rule (a mapping with id, when, send, ...) or 'rules:' with a list of rules, got \(root.typeName)")
            }
            for node in ruleNodes {
                guard let rule = decoder.rule(node) else { continue }
                if let first = firstDefinition[rule.id] {
                    let idNode = node.mapping?.first(where: { $0.key.scalarText == "id" })?.value ?? node
                    decoder.error(idNode, "duplicate rule id '\(rule.id)' (first defined at \(first.file):\(first.line):\(first.column))")
                    continue
                }
                firstDefinition[rule.id] = rule.location
                rules.append(rule)
            }
            diagnostics += decoder.diagnostics
        }
        diagnostics.sort { ($0.file, $0.line, $0.column) < ($1.file, $1.line, $1.column) }
        return RuleLoadResult(ruleSet: RuleSet(rules), diagnostics: diagnostics)
    }
}

/// A validated set of rules, indexed by the event names that trigger them.
public struct RuleSet: Sendable {
    public let rules: [Rule]
    private let triggers: [String: [Rule]]
    private let cancellers: [String: [Rule]]
    private let byID: [String: Rule]

    public init(_ rules: [Rule]) {
        self.rules = rules
        var triggers: [String: [Rule]] = [:]
        var cancellers: [String: [Rule]] = [:]
        var byID: [String: Rule] = [:]
        for rule in rules {
            byID[rule.id] = rule
            guard rule.enabled else { continue }
            for name in Set(rule.trigger.events) { triggers[name, default: []].append(rule) }
            for name in Set(rule.cancelOn.flatMap(\.events)) { cancellers[name, default: []].append(rule) }
        }
        self.triggers = triggers
        self.cancellers = cancellers
        self.byID = byID
    }

    public static let empty = RuleSet([])

    /// Enabled rules whose `when.event` names this event, in load order.
    public func rules(triggeredBy name: String) -> [Rule] {
        triggers[name] ?? []
    }

    /// Enabled rules that a `name` event may cancel (`cancel_on`).
    public func rules(cancelledBy name: String) -> [Rule] {
        cancellers[name] ?? []
    }

    public func rule(id: String) -> Rule? { byID[id] }
}
