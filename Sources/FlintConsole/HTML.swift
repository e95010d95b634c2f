/// The console's one HTML builder: every text node and every attribute value is escaped when it is
/// written, so a value from an event (`<script>`, `"><img onerror=...>`) always shows as text.
/// There is no way to write raw markup through it. Inline script and style cannot be written
/// either: `script` elements take only a `src`, and `style` and `on...` attributes are refused
/// (the Content-Security-Policy forbids them too; docs/console.md).
public indirect enum Node: Sendable {
    case element(String, [(String, String)], [Node])
    case text(String)
    case group([Node])

    /// Renders the node and its children.
    public func render() -> String {
        var out = ""
        out.reserveCapacity(4096)
        write(into: &out)
        return out
    }

    /// A whole page: the doctype, then the node.
    public func document() -> String { "<!doctype html>\n" + render() }

    static let voidElements: Set<String> = ["br", "hr", "img", "input", "link", "meta", "col", "source"]

    func write(into out: inout String) {
        switch self {
        case .text(let s):
            Node.escape(s, into: &out)
        case .group(let nodes):
            for n in nodes { n.write(into: &out) }
        case .element(let name, let attributes, let children):
            out += "<" + name
            for (key, value) in attributes where Node.allowed(attribute: key, on: name) {
                out += " " + key + "=\""
                Node.escape(value, into: &out)
                out += "\""
            }
            out += ">"
            if Node.voidElements.contains(name) { return }
            if name != "script" {
                for c in children { c.write(into: &out) }
            }
            out += "</" + name + ">"
        }
    }

    /// No inline style, no event handler attributes; names are the code's own, never data.
    static func allowed(attribute: String, on element: String) -> Bool {
        let lower = attribute.lowercased()
        if lower == "style" || lower.hasPrefix("on") { return false }
        return attribute.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || $0 == 45 || ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || $0 == 58 }
    }

    /// `&`, `<`, `>`, `"` and `'` as character references.
    public static func escape(_ s: String, into out: inout String) {
        // Most text has nothing to escape: appended whole.
        if !s.utf8.contains(where: { $0 == 38 || $0 == 60 || $0 == 62 || $0 == 34 || $0 == 39 }) {
            out += s
            return
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
    }

    public static func escape(_ s: String) -> String {
        var out = ""
        escape(s, into: &out)
        return out
    }
}

/// An element: `el("a", ["href": "/ui/"], "Home")`.
public func el(_ name: String, _ attributes: KeyValuePairs<String, String> = [:], _ children: Node...) -> Node {
    .element(name, attributes.map { ($0.key, $0.value) }, children)
}

/// An element with its children as an array.
public func el(_ name: String, _ attributes: KeyValuePairs<String, String> = [:], children: [Node]) -> Node {
    .element(name, attributes.map { ($0.key, $0.value) }, children)
}

/// An element whose attributes are computed (a list of pairs; nil values left out).
public func el(_ name: String, attrs: [(String, String?)], children: [Node] = []) -> Node {
    .element(name, attrs.compactMap { pair in pair.1.map { (pair.0, $0) } }, children)
}

extension Node: ExpressibleByStringLiteral, ExpressibleByStringInterpolation {
    public init(stringLiteral value: String) { self = .text(value) }
}

/// Text.
public func txt(_ s: String) -> Node { .text(s) }

/// Percent-encodes a value for a URL's query or path segment (unreserved characters kept).
public func urlEncode(_ s: String) -> String {
    var out = ""
    for byte in s.utf8 {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E: out.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            let hex = Array("0123456789ABCDEF")
            out += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0xF)])
        }
    }
    return out
}

/// `path?k=v&k2=v2`, each value encoded; nil and empty values left out.
public func link(_ path: String, _ query: [(String, String?)]) -> String {
    let parts = query.compactMap { k, v -> String? in
        guard let v, !v.isEmpty else { return nil }
        return k + "=" + urlEncode(v)
    }
    return parts.isEmpty ? path : path + "?" + parts.joined(separator: "&")
}
