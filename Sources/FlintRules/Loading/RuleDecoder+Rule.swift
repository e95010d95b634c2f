import FlintPluginAPI
import Foundation

extension RuleDecoder {
    static let ruleKeys = ["id", "description", "enabled", "when", "send", "schedule", "limit", "cancel_on", "mode"]
    static let maxDelay = 90 * 86_400

    /// Decodes one rule mapping; nil when it has errors (all of them are reported).
    mutating func rule(_ node: SourceNode) -> Rule? {
        let before = diagnostics.filter { $0.severity == .error }.count
        guard let f = fields(node, in: "rule", allowed: Self.ruleKeys) else { return nil }

        var id = ""
        if let (_, value) = f["id"] {
            if let text = string(value, "id") {
                if text.isEmpty || text.count > 128
                    || !text.unicodeScalars.allSatisfy({ "abcdefghijklmnopqrstuvwxyz0123456789._-".unicodeScalars.contains($0) })
                {
                    error(value, "id: '\(text)' must be 1-128 characters of a-z, 0-9, '.', '_' or '-'")
                } else {
                    id = text
                }
            }
        } else {
            error(node, "rule: missing required key 'id'")
        }
        let description = f["description"].flatMap { string($0.value, "description") }
        let enabled = f["enabled"].flatMap { bool($0.value, "enabled") } ?? true
        var mode = RuleMode.live
        if let (_, value) = f["mode"], let text = string(value, "mode") {
            if let m = RuleMode(rawValue: text) {
                mode = m
            } else {
                error(value, "mode: '\(text)' is not one of live, shadow" + Self.didYouMean(text, from: ["live", "shadow"], aliases: ["dry_run": "shadow", "dry-run": "shadow", "test": "shadow", "on": "live", "enabled": "live"]))
            }
        }

        var trigger: Trigger?
        if let (_, value) = f["when"] {
            trigger = self.trigger(value, "when")
        } else {
            error(node, "rule: missing required key 'when' (which events this rule reacts to)")
        }

        var send: SendSpec?
        if let (key, value) = f["send"] {
            send = self.send(value, key: key)
        } else {
            error(node, "rule: missing required key 'send' (what to deliver: campaign_id, recipient, ...)")
        }

        var schedule = ScheduleSpec()
        if let (_, value) = f["schedule"] { schedule = self.schedule(value) ?? schedule }

        var limit = LimitSpec()
        if let (_, value) = f["limit"] { limit = self.limit(value) ?? limit }

        var cancelOn: [Trigger] = []
        if let (_, value) = f["cancel_on"] {
            if let items = value.sequence {
                for (i, item) in items.enumerated() {
                    if let t = self.trigger(item, "cancel_on[\(i)]") { cancelOn.append(t) }
                }
            } else if value.mapping != nil {
                if let t = self.trigger(value, "cancel_on") { cancelOn.append(t) }
            } else {
                error(value, "cancel_on: expected a list of {event: ...}, got \(value.typeName)")
            }
        }

        let after = diagnostics.filter { $0.severity == .error }.count
        guard after == before, let trigger, let send else { return nil }
        let definition = node.json
        return Rule(
            id: id, description: description, enabled: enabled, trigger: trigger, send: send, schedule: schedule,
            limit: limit, cancelOn: cancelOn, location: location(node),
            version: RuleVersion.hash(definition), definition: definition, fileText: text, mode: mode)
    }

    // MARK: when / cancel_on

    mutating func trigger(_ node: SourceNode, _ what: String) -> Trigger? {
        guard let f = fields(node, in: what, allowed: ["event", "if"]) else { return nil }
        var events: [String] = []
        if let (_, value) = f["event"] {
            if let items = value.sequence {
                if items.isEmpty { error(value, "\(what).event: the list of event names is empty") }
                for item in items {
                    if let name = string(item, "\(what).event") { events.append(name) }
                }
            } else if let name = string(value, "\(what).event") {
                if name.isEmpty { error(value, "\(what).event: the event name is empty") } else { events.append(name) }
            }
        } else {
            error(node, "\(what): missing required key 'event' (an event name or a list of names)")
        }
        var condition: Condition?
        if let (_, value) = f["if"] {
            condition = self.condition(value, "\(what).if")
            if condition == nil { return nil }
        }
        return Trigger(events: events, condition: condition)
    }

    /// A condition: `{all: [...]}`, `{any: [...]}`, `{not: ...}`, `{path: {op: operand}}`, `{path: value}`
    /// (equality), or a list (all of them).
    mutating func condition(_ node: SourceNode, _ what: String) -> Condition? {
        if let items = node.sequence {
            var parts: [Condition] = []
            var ok = true
            for (i, item) in items.enumerated() {
                if let c = condition(item, "\(what)[\(i)]") { parts.append(c) } else { ok = false }
            }
            return ok ? .all(parts) : nil
        }
        guard let pairs = node.mapping else {
            error(node, "\(what): expected a condition (a mapping such as {properties.total: {gte: 20}}), got \(node.typeName)")
            return nil
        }
        if pairs.isEmpty {
            error(node, "\(what): empty condition")
            return nil
        }
        var parts: [Condition] = []
        var ok = true
        for (key, value) in pairs {
            guard let name = key.scalarText else {
                error(key, "\(what): expected a path or all/any/not, got \(key.typeName)")
                ok = false
                continue
            }
            switch name {
            case "all", "any":
                guard let items = value.sequence else {
                    error(value, "\(what).\(name): expected a list of conditions, got \(value.typeName)")
                    ok = false
                    continue
                }
                var inner: [Condition] = []
                for (i, item) in items.enumerated() {
                    if let c = condition(item, "\(what).\(name)[\(i)]") { inner.append(c) } else { ok = false }
                }
                parts.append(name == "all" ? .all(inner) : .any(inner))
            case "not":
                if let c = condition(value, "\(what).not") { parts.append(.not(c)) } else { ok = false }
            default:
                if let c = comparisons(path: name, key: key, value: value, what) { parts.append(c) } else { ok = false }
            }
        }
        guard ok else { return nil }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    private mutating func comparisons(path text: String, key: SourceNode, value: SourceNode, _ what: String) -> Condition? {
        let path: FieldPath
        do {
            path = try FieldPath(parsing: text)
        } catch {
            var at = key
            at.column += error.column - 1
            self.error(at, "\(what): invalid path '\(text)': \(error.message)")
            return nil
        }
        guard let pairs = value.mapping else {
            // `path: value` is shorthand for `path: {eq: value}`.
            return comparison(path: path, op: .eq, operand: value, opNode: key, what)
        }
        if pairs.isEmpty {
            error(value, "\(what).\(text): no operator; use one of \(ConditionOperator.allCases.map(\.rawValue).joined(separator: " "))")
            return nil
        }
        var parts: [Condition] = []
        var ok = true
        for (opKey, operand) in pairs {
            guard let opName = opKey.scalarText, let op = ConditionOperator(rawValue: opName) else {
                var message = "unknown operator '\(opKey.scalarText ?? opKey.typeName)' for \(text)"
                if let s = Self.suggest(opKey.scalarText ?? "", from: ConditionOperator.allCases.map(\.rawValue), aliases: Self.operatorAliases) {
                    message += "; did you mean '\(s)'?"
                }
                message += " (operators: \(ConditionOperator.allCases.map(\.rawValue).joined(separator: " ")))"
                error(opKey, message)
                ok = false
                continue
            }
            if let c = comparison(path: path, op: op, operand: operand, opNode: opKey, what) { parts.append(c) } else { ok = false }
        }
        guard ok else { return nil }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    private mutating func comparison(
        path: FieldPath, op: ConditionOperator, operand: SourceNode, opNode: SourceNode, _ what: String
    ) -> Condition? {
        do {
            return .comparison(try Comparison(path: path, op: op, operand: operand.json, location: location(opNode)))
        } catch {
            self.error(operand, "\(what): \(path) \(op.rawValue): \(error.message)")
            return nil
        }
    }
}

/// A rule's version: a content hash of its canonical definition.
public enum RuleVersion {
    /// 16 hex digits of FNV-1a 64 over the compact JSON of the definition. Stable across
    /// formatting changes (comments, key order, quoting), different when anything meaningful changes.
    public static func hash(_ definition: JSONValue) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in definition.compactJSON.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x100_0000_01b3
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
