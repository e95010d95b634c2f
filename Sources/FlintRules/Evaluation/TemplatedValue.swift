import FlintPluginAPI

/// A JSON-shaped tree whose strings may be templates, such as a rule's `trigger_properties`.
/// Object members keep the order they were written in.
public indirect enum TemplatedValue: Sendable, Hashable {
    case literal(JSONValue)
    case template(Template)
    case array([TemplatedValue])
    case object([(key: String, value: TemplatedValue)])

    /// Renders against a scope. Objects drop members whose lone template renders nil (missing or
    /// null); arrays keep `.null` in their place so positions do not shift. A duplicate key keeps
    /// its last value. The whole value is nil only when it is itself a template rendering nil.
    public func render(in scope: JSONValue) -> JSONValue? {
        switch self {
        case .literal(let value):
            return value
        case .template(let template):
            return template.render(in: scope)
        case .array(let elements):
            return .array(elements.map { $0.render(in: scope) ?? .null })
        case .object(let members):
            var rendered: [String: JSONValue] = [:]
            rendered.reserveCapacity(members.count)
            for member in members {
                if let value = member.value.render(in: scope) {
                    rendered[member.key] = value
                } else {
                    rendered[member.key] = nil
                }
            }
            return .object(rendered)
        }
    }

    /// Every path the templates in this tree read, in order.
    public var paths: [FieldPath] {
        switch self {
        case .literal: []
        case .template(let template): template.paths
        case .array(let elements): elements.flatMap(\.paths)
        case .object(let members): members.flatMap(\.value.paths)
        }
    }

    public static func == (lhs: TemplatedValue, rhs: TemplatedValue) -> Bool {
        switch (lhs, rhs) {
        case (.literal(let a), .literal(let b)): return a == b
        case (.template(let a), .template(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .literal(let value):
            hasher.combine(0)
            hasher.combine(value)
        case .template(let template):
            hasher.combine(1)
            hasher.combine(template)
        case .array(let elements):
            hasher.combine(2)
            hasher.combine(elements)
        case .object(let members):
            hasher.combine(3)
            hasher.combine(members.count)
            for member in members {
                hasher.combine(member.key)
                hasher.combine(member.value)
            }
        }
    }
}
