import FlintPluginAPI
import FlintRules
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An out-of-process plugin as declared in flint.yaml:
///
/// ```yaml
/// plugins:
///   - name: orders
///     kind: source
///     command: [python3, Plugins/Examples/ndjson_source.py]
///     env: {SOURCE_FILE: exports/orders.ndjson}
///     timeout: 10s
/// ```
public struct ExecPluginSpec: Sendable, Hashable {
    public var name: String
    public var kind: PluginStatus.Kind
    /// The program and its arguments. A program without '/' is looked up on Flint's PATH; a relative
    /// path is taken from `directory`.
    public var command: [String]
    /// The plugin's whole environment: nothing of Flint's is passed on unless declared here.
    public var environment: [String: String]
    /// How long the hello may take, and how long an action may take to answer one request.
    public var timeout: TimeInterval
    /// The working directory: the folder flint.yaml is in.
    public var directory: String
    /// Restart delays grow from `minimumBackoff`, doubling, up to `maximumBackoff`.
    public var minimumBackoff: TimeInterval
    public var maximumBackoff: TimeInterval

    public init(
        name: String, kind: PluginStatus.Kind, command: [String], environment: [String: String] = [:], timeout: TimeInterval = 10,
        directory: String = FileManager.default.currentDirectoryPath, minimumBackoff: TimeInterval = 1, maximumBackoff: TimeInterval = 60
    ) {
        self.name = name
        self.kind = kind
        self.command = command
        self.environment = environment
        self.timeout = timeout
        self.directory = directory
        self.minimumBackoff = minimumBackoff
        self.maximumBackoff = maximumBackoff
    }

    /// The command line as shown to people (arguments with spaces quoted).
    public var displayCommand: String {
        command.map { $0.contains(" ") || $0.isEmpty ? "'\($0)'" : $0 }.joined(separator: " ")
    }

    public static let keys = ["name", "kind", "command", "env", "timeout", "max_backoff"]

    /// Reads the `plugins:` list. `${NAME}` in an `env` value is replaced by Flint's own environment
    /// variable (so a secret can stay out of the file). Every problem is reported, each as
    /// `plugins[i].key: what is wrong (how to fix)`. `reserved` are the names of the plugins the host
    /// builds in, which an exec plugin cannot take.
    public static func parse(
        _ list: [JSONValue], directory: String, environment: [String: String], reserved: Set<String> = []
    ) -> (specs: [ExecPluginSpec], problems: [String]) {
        var specs: [ExecPluginSpec] = []
        var problems: [String] = []
        var seen: Set<String> = []
        for (index, item) in list.enumerated() {
            let at = "plugins[\(index)]"
            guard case .object(let o) = item else {
                problems.append("\(at): expected a mapping with name, kind and command")
                continue
            }
            var ok = true
            func fail(_ key: String, _ message: String) {
                problems.append("\(at).\(key): \(message)")
                ok = false
            }
            for key in o.keys.sorted() where !keys.contains(key) {
                fail(key, "unknown setting (expected one of: \(keys.joined(separator: ", ")))")
            }
            var name = ""
            if case .string(let s)? = o["name"] {
                name = s
                let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
                if s.isEmpty || !s.unicodeScalars.allSatisfy(allowed.contains) {
                    fail("name", "'\(s)' is not a plugin name (letters, digits, '-', '_', '.')")
                } else if reserved.contains(s) {
                    fail("name", "'\(s)' is the name of a built-in plugin; choose another")
                } else if !seen.insert(s).inserted {
                    fail("name", "'\(s)' is declared twice")
                }
            } else {
                fail("name", o["name"] == nil ? "missing (the name rules use in send.action, and logs show)" : "expected a string")
            }
            var kind = PluginStatus.Kind.source
            if case .string(let s)? = o["kind"], let k = PluginStatus.Kind(rawValue: s) {
                kind = k
            } else {
                fail("kind", o["kind"] == nil ? "missing (source or action)" : "expected source or action, got \(o["kind"]!.compactJSON)")
            }
            var command: [String] = []
            switch o["command"] {
            case .array(let parts)?:
                for (i, p) in parts.enumerated() {
                    if case .string(let s) = p { command.append(s) } else { fail("command[\(i)]", "expected a string, got \(p.typeName)") }
                }
                if parts.isEmpty { fail("command", "is empty; give the program and its arguments, e.g. [python3, plugins/source.py]") }
            case .string(let s)?:
                fail("command", "expected a list of the program and its arguments, e.g. [\(s.split(separator: " ").joined(separator: ", "))]")
            case nil:
                fail("command", "missing: the program and its arguments, e.g. [python3, plugins/source.py]")
            case let other?:
                fail("command", "expected a list of strings, got \(other.typeName)")
            }
            var env: [String: String] = [:]
            if let e = o["env"] {
                if case .object(let pairs) = e {
                    for (key, value) in pairs.sorted(by: { $0.key < $1.key }) {
                        let text: String
                        switch value {
                        case .string(let s): text = s
                        case .number, .bool: text = value.compactJSON
                        default:
                            fail("env.\(key)", "expected a string, got \(value.typeName)")
                            continue
                        }
                        switch expand(text, environment: environment) {
                        case .success(let v): env[key] = v
                        case .failure(let missing): fail("env.\(key)", "${\(missing)} is not set in Flint's environment")
                        }
                    }
                } else {
                    fail("env", "expected a mapping of variable names to values")
                }
            }
            func duration(_ key: String, default value: TimeInterval) -> TimeInterval {
                guard let v = o[key] else { return value }
                guard case .string(let s) = v, let ms = DurationText.milliseconds(s), ms > 0 else {
                    fail(key, "\(v.compactJSON) is not a duration (e.g. 500ms, 10s, 1m)")
                    return value
                }
                return TimeInterval(ms) / 1000
            }
            let timeout = duration("timeout", default: 10)
            let maxBackoff = duration("max_backoff", default: 60)
            if ok {
                specs.append(
                    ExecPluginSpec(
                        name: name, kind: kind, command: command, environment: env, timeout: timeout, directory: directory,
                        minimumBackoff: min(1, maxBackoff), maximumBackoff: maxBackoff))
            }
        }
        return (specs, problems)
    }

    /// Replaces `${NAME}` with Flint's variable; fails with the first name that is not set.
    static func expand(_ text: String, environment: [String: String]) -> Result<String, ExpansionMissing> {
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                out += rest[open.lowerBound...]
                return .success(out)
            }
            let name = String(rest[open.upperBound..<close])
            guard let value = environment[name] else { return .failure(ExpansionMissing(name: name)) }
            out += value
            rest = rest[rest.index(after: close)...]
        }
        return .success(out + rest)
    }

    struct ExpansionMissing: Error, CustomStringConvertible {
        var name: String
        var description: String { name }
    }

    /// The program to start: an absolute path, a path relative to `directory`, or a name found on
    /// `searchPath` (Flint's PATH). Nil when nothing executable is there.
    public func resolvedProgram(searchPath: String?) -> String? {
        guard let program = command.first, !program.isEmpty else { return nil }
        func executable(_ path: String) -> Bool { access(path, X_OK) == 0 && !isDirectory(path) }
        if program.contains("/") {
            let path = program.hasPrefix("/") ? program : URL(fileURLWithPath: directory).appendingPathComponent(program).standardized.path
            return executable(path) ? path : nil
        }
        let dirs = (searchPath ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        for dir in dirs where dir.hasPrefix("/") {
            let path = dir + "/" + program
            if executable(path) { return path }
        }
        return nil
    }

    private func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }
}
