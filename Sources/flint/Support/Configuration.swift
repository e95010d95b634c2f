import ArgumentParser
import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation
import Yams

/// Flint's configuration: `flint.yaml` < environment < flags (docs/architecture.md, Configuration).
struct Configuration: Sendable {
    struct Webhook: Sendable {
        var tokens: [String] = []
        var hmacSecret: String?
        var maxBodyBytes = 4 * 1024 * 1024
    }

    struct Braze: Sendable {
        var restEndpoint: String?
        var apiKey: String?
        var companyTimeZone: String?
        var requestsPerHour = 250_000
        var audienceRequestsPerMinute = 250
        var timeout: TimeInterval = 10
        var maxAttempts = 8
        var coalesceWindow: TimeInterval = 0.25
    }

    var listen = "127.0.0.1:8080"
    var database = "flint.db"
    var rules = "rules"
    var inbox = "inbox"
    var defaultTimeZone = "UTC"
    var lead = 60
    var webhook = Webhook()
    /// The console's listener (`console.listen`, `FLINT_CONSOLE_LISTEN`, `--console-listen`): host:port, or `off`.
    var consoleListen = "127.0.0.1:8081"
    var braze = Braze()
    var plugins: [JSONValue] = []
    /// The exec plugins declared under `plugins:`.
    var execPlugins: [ExecPluginSpec] = []
    /// What is wrong with the `plugins:` section, one `file:line:col: error: ...` line each. Only a
    /// command that starts plugins (`flint serve`) refuses them; the others warn and go on.
    var pluginProblems: [String] = []
    var retention = RetentionPolicy()
    /// The accept stage's bounds (`accept:`): past them new events get 503 with `Retry-After`.
    var accept = Engine.AcceptLimits()
    /// Where the configuration came from, for messages.
    var file: String?

    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    /// The plugins `flint serve` builds in (the listener, the folder watcher, the Braze action): an
    /// exec plugin cannot take their names.
    static let builtInPluginNames: Set<String> = ["webhook", "inbox", "braze"]

    static let topKeys = ["listen", "database", "rules", "inbox", "default_time_zone", "lead", "webhook", "console", "braze", "plugins", "retention", "accept"]
    static let webhookKeys = ["tokens", "hmac_secret", "max_body_bytes"]
    static let consoleKeys = ["listen"]
    static let brazeKeys = [
        "rest_endpoint", "api_key", "company_time_zone", "requests_per_hour", "audience_requests_per_minute", "timeout", "max_attempts",
        "coalesce_window",
    ]
    static let retentionKeys = ["events", "runs", "not_matched", "rejected"]
    static let acceptKeys = ["max_queued_events", "max_undecided_events", "retry_after"]

    /// Reads `flint.yaml` (or `FLINT_CONFIG`, or `--config`), then the environment, then flags.
    /// Every problem of the file and the environment is reported at once, one a line.
    static func load(_ options: GlobalOptions, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Configuration {
        var config = Configuration()
        let explicit = options.config ?? environment["FLINT_CONFIG"]
        let path = explicit ?? "flint.yaml"
        var problems: [String] = []
        var positions = ConfigPositions()
        if FileManager.default.fileExists(atPath: path) {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw Problem(description: "\(path): cannot read the configuration file (is it UTF-8 text, and readable?)")
            }
            do {
                try config.apply(text: text, file: path)
            } catch let problem as Problem {
                problems.append(problem.description)
            }
            positions = ConfigPositions(text: text, file: path)
        } else if explicit != nil {
            throw Problem(
                description: "\(path): no such configuration file (given by \(options.config != nil ? "--config" : "FLINT_CONFIG"); "
                    + "flint.yaml is optional: leave both unset to run without one)")
        }
        do {
            try config.applyEnvironment(environment)
        } catch let problem as Problem {
            problems.append(problem.description)
        }
        if !problems.isEmpty { throw Problem(description: problems.joined(separator: "\n")) }
        if !config.plugins.isEmpty {
            // Relative commands and the plugins' working directory: the folder flint.yaml is in.
            let base = URL(fileURLWithPath: config.file ?? "flint.yaml").standardizedFileURL.deletingLastPathComponent().path
            let (specs, pluginProblems) = ExecPluginSpec.parse(
                config.plugins, directory: base, environment: environment, reserved: Self.builtInPluginNames)
            config.pluginProblems += pluginProblems.map { positions.locate(pluginProblem: $0) }
            config.execPlugins = specs
        }
        if let v = options.database { config.database = v }
        if let v = options.rules { config.rules = v }
        return config
    }

    mutating func apply(text: String, file: String) throws {
        self.file = file
        let root: JSONValue
        switch YAMLText.json(text, file: file) {
        case .failure(let d): throw Problem(description: d.description)
        case .success(let v): root = v
        }
        let positions = ConfigPositions(text: text, file: file)
        guard case .object(let o) = root else {
            throw Problem(description: positions.diagnostic("", "expected a mapping of settings (listen, database, rules, braze, ...)", atKey: false))
        }
        var problems: [String] = []
        /// A value's problem, reported where the value is.
        func fail(_ key: String, _ message: String) { problems.append(positions.diagnostic(key, "\(key): \(message)", atKey: false)) }
        func string(_ key: String, _ v: JSONValue) -> String? {
            if case .string(let s) = v { return s }
            if case .number = v { return v.compactJSON }
            fail(key, "expected a string, got \(v.typeName)")
            return nil
        }
        func duration(_ key: String, _ v: JSONValue) -> TimeInterval? {
            guard let s = string(key, v) else { return nil }
            guard let ms = DurationText.milliseconds(s) else {
                fail(key, "'\(s)' is not a duration (e.g. 250ms, 10s, 2h, 30d)")
                return nil
            }
            return TimeInterval(ms) / 1000
        }
        func int(_ key: String, _ v: JSONValue, minimum: Int = 1) -> Int? {
            if case .number(let n) = v, n == n.rounded(), n >= Double(minimum) { return Int(n) }
            fail(key, "expected a whole number >= \(minimum), got \(v.compactJSON)")
            return nil
        }
        func zone(_ key: String, _ v: JSONValue) -> String? {
            guard let s = string(key, v) else { return nil }
            guard ZoneName.resolve(s) != nil else {
                fail(key, ZoneName.problem(s))
                return nil
            }
            return s
        }
        /// Unknown keys, reported where the key is, with the closest known one.
        func unknown(_ section: String, _ keys: some Sequence<String>, _ allowed: [String]) {
            for k in keys.sorted(by: { positions.order(section, $0) < positions.order(section, $1) }) where !allowed.contains(k) {
                let path = section.isEmpty ? k : "\(section).\(k)"
                var message = "unknown setting '\(k)'" + (section.isEmpty ? "" : " in \(section)")
                if let suggestion = Self.suggest(k, from: allowed) { message += "; did you mean '\(suggestion)'?" }
                message += " (expected one of: \(allowed.joined(separator: ", ")))"
                problems.append(positions.diagnostic(path, message, atKey: true))
            }
        }
        unknown("", o.keys, Self.topKeys)
        if let v = o["listen"], let s = string("listen", v) { listen = s }
        if let v = o["database"], let s = string("database", v) { database = s }
        if let v = o["rules"], let s = string("rules", v) { rules = s }
        if let v = o["inbox"], let s = string("inbox", v) { inbox = s }
        if let v = o["default_time_zone"], let s = zone("default_time_zone", v) { defaultTimeZone = s }
        if let v = o["lead"], let d = duration("lead", v) { lead = Int(d) }
        if let v = o["webhook"] {
            if case .object(let w) = v {
                unknown("webhook", w.keys, Self.webhookKeys)
                if let t = w["tokens"] {
                    if case .array(let items) = t { webhook.tokens = items.compactMap { string("webhook.tokens", $0) } } else if let s = string("webhook.tokens", t) {
                        webhook.tokens = [s]
                    }
                }
                if let s = w["hmac_secret"].flatMap({ string("webhook.hmac_secret", $0) }) { webhook.hmacSecret = s }
                if let n = w["max_body_bytes"].flatMap({ int("webhook.max_body_bytes", $0) }) { webhook.maxBodyBytes = n }
            } else {
                fail("webhook", "expected a mapping")
            }
        }
        if let v = o["console"] {
            if case .object(let c) = v {
                unknown("console", c.keys, Self.consoleKeys)
                // YAML reads a bare `off` as false.
                if case .bool(false) = c["listen"] { consoleListen = "off" } else if let s = c["listen"].flatMap({ string("console.listen", $0) }) { consoleListen = s }
            } else {
                fail("console", "expected a mapping (listen: 127.0.0.1:8081, or listen: off)")
            }
        }
        if let v = o["braze"] {
            if case .object(let b) = v {
                unknown("braze", b.keys, Self.brazeKeys)
                if let s = b["rest_endpoint"].flatMap({ string("braze.rest_endpoint", $0) }) { braze.restEndpoint = s }
                if let s = b["api_key"].flatMap({ string("braze.api_key", $0) }) { braze.apiKey = s }
                if let s = b["company_time_zone"].flatMap({ zone("braze.company_time_zone", $0) }) { braze.companyTimeZone = s }
                if let n = b["requests_per_hour"].flatMap({ int("braze.requests_per_hour", $0) }) { braze.requestsPerHour = n }
                if let n = b["audience_requests_per_minute"].flatMap({ int("braze.audience_requests_per_minute", $0) }) { braze.audienceRequestsPerMinute = n }
                if let d = b["timeout"].flatMap({ duration("braze.timeout", $0) }) { braze.timeout = d }
                if let n = b["max_attempts"].flatMap({ int("braze.max_attempts", $0) }) { braze.maxAttempts = n }
                if let d = b["coalesce_window"].flatMap({ duration("braze.coalesce_window", $0) }) { braze.coalesceWindow = d }
            } else {
                fail("braze", "expected a mapping")
            }
        }
        if let v = o["plugins"] {
            // A broken plugins: section stops only flint serve (GlobalOptions.PluginProblems).
            if case .array(let items) = v {
                plugins = items
            } else {
                pluginProblems.append(positions.diagnostic("plugins", "plugins: expected a list of {name, kind, command}, got \(v.typeName)", atKey: false))
            }
        }
        if let v = o["retention"] {
            if case .object(let r) = v {
                unknown("retention", r.keys, Self.retentionKeys)
                if let d = r["events"].flatMap({ duration("retention.events", $0) }) { retention.events = d }
                if let d = r["runs"].flatMap({ duration("retention.runs", $0) }) { retention.runs = d }
                if let d = r["not_matched"].flatMap({ duration("retention.not_matched", $0) }) { retention.notMatched = d }
                if let d = r["rejected"].flatMap({ duration("retention.rejected", $0) }) { retention.rejected = d }
            } else {
                fail("retention", "expected a mapping")
            }
        }
        if let v = o["accept"] {
            if case .object(let a) = v {
                unknown("accept", a.keys, Self.acceptKeys)
                if let n = a["max_queued_events"].flatMap({ int("accept.max_queued_events", $0) }) { accept.queuedEvents = n }
                if let n = a["max_undecided_events"].flatMap({ int("accept.max_undecided_events", $0) }) { accept.undecidedEvents = n }
                if let d = a["retry_after"].flatMap({ duration("accept.retry_after", $0) }) {
                    if d >= 1 { accept.retryAfterSeconds = Int(d.rounded(.up)) } else { fail("accept.retry_after", "must be at least 1s (Retry-After counts whole seconds)") }
                }
            } else {
                fail("accept", "expected a mapping")
            }
        }
        if !problems.isEmpty { throw Problem(description: ConfigPositions.inFileOrder(problems).joined(separator: "\n")) }
    }

    /// The closest of `candidates` to a mistyped `name`, when it is close enough to be what was meant.
    static func suggest(_ name: String, from candidates: [String]) -> String? {
        DidYouMean.suggest(name, from: candidates)
    }

    mutating func applyEnvironment(_ env: [String: String]) throws {
        var problems: [String] = []
        if let v = env["FLINT_LISTEN"] { listen = v }
        if let v = env["FLINT_CONSOLE_LISTEN"], !v.isEmpty { consoleListen = v }
        if let v = env["FLINT_DATABASE"] { database = v }
        if let v = env["FLINT_RULES"] { rules = v }
        if let v = env["FLINT_INBOX"] { inbox = v }
        if let v = env["FLINT_WEBHOOK_TOKEN"], !v.isEmpty { webhook.tokens = [v] }
        if let v = env["BRAZE_REST_ENDPOINT"] { braze.restEndpoint = v }
        if let v = env["BRAZE_API_KEY"], !v.isEmpty { braze.apiKey = v }
        if let v = env["BRAZE_COMPANY_TIME_ZONE"] {
            if ZoneName.resolve(v) != nil { braze.companyTimeZone = v } else {
                problems.append("BRAZE_COMPANY_TIME_ZONE: " + ZoneName.problem(v))
            }
        }
        if let v = env["FLINT_DEFAULT_TIME_ZONE"] {
            if ZoneName.resolve(v) != nil { defaultTimeZone = v } else {
                problems.append("FLINT_DEFAULT_TIME_ZONE: " + ZoneName.problem(v))
            }
        }
        if let v = env["FLINT_MAX_UNDECIDED"] {
            if let n = Int(v), n > 0 { accept.undecidedEvents = n } else { problems.append("FLINT_MAX_UNDECIDED: '\(v)' is not a whole number >= 1") }
        }
        if let v = env["FLINT_LEAD"] {
            if let s = DurationText.seconds(v) { lead = s } else { problems.append("FLINT_LEAD: '\(v)' is not a duration (e.g. 60s)") }
        }
        if !problems.isEmpty { throw Problem(description: problems.joined(separator: "\n")) }
    }

    var engineSettings: EngineSettings {
        EngineSettings(
            defaultZone: ZoneName.resolve(defaultTimeZone) ?? TimeZone(identifier: "UTC")!,
            companyZone: braze.companyTimeZone.flatMap(ZoneName.resolve), lead: lead)
    }
}

/// Options every command that touches state accepts.
struct GlobalOptions: ParsableArguments {
    @Option(help: "The configuration file (default: FLINT_CONFIG, else ./flint.yaml when present).")
    var config: String?

    @Option(help: "The database: a SQLite file, or a postgres://user:password@host:port/dbname URL (default: FLINT_DATABASE, else the configuration's, else ./flint.db).")
    var database: String?

    @Option(help: "The rules folder (default: FLINT_RULES, else the configuration's, else ./rules).")
    var rules: String?

    /// What a command does with a broken `plugins:` section.
    enum PluginProblems {
        /// Read-only and one-shot commands: one warning line on stderr, then go on without plugins.
        case warn
        /// Commands that show them themselves (`flint plugins`): say nothing.
        case quiet
        /// Commands that start plugins (`flint serve`): print every problem and stop.
        case refuse
    }

    func configuration(plugins: PluginProblems = .warn) throws -> Configuration {
        let config: Configuration
        do {
            config = try Configuration.load(self)
        } catch let problem as Configuration.Problem {
            let lines = problem.description.split(separator: "\n").map(String.init)
            for line in lines { Terminal.err(line.contains(": error: ") ? line : "error: \(line)") }
            if lines.count > 1 { Terminal.err("\(lines.count) problems in the configuration; nothing was done") }
            throw ExitCode(1)
        }
        if !config.pluginProblems.isEmpty {
            let file = config.file ?? "flint.yaml"
            switch plugins {
            case .warn:
                Terminal.err(
                    "warning: \(file): the plugins: section has \(config.pluginProblems.count) problem(s); flint serve refuses to start "
                        + "until they are fixed (flint plugins lists them)")
            case .quiet:
                break
            case .refuse:
                for line in config.pluginProblems { Terminal.err(line) }
                Terminal.err("the plugins: section of \(file) has problems; fix them and start flint serve again")
                throw ExitCode(1)
            }
        }
        return config
    }
}

/// Where each key and value of a configuration file is (`braze.timeout`, `plugins[0].name`), so a
/// problem is reported as `file:line:col: error: ...`, like rule errors.
struct ConfigPositions {
    private var keys: [String: (line: Int, column: Int)] = [:]
    private var values: [String: (line: Int, column: Int)] = [:]
    private var file = "flint.yaml"

    init() {}

    init(text: String, file: String) {
        self.file = file
        guard let root = try? Yams.compose(yaml: text, .basic) else { return }
        walk(root, path: "")
    }

    private mutating func walk(_ node: Node, path: String) {
        if let mark = node.mark { values[path] = (mark.line, mark.column) }
        switch node {
        case .mapping(let mapping):
            for (key, value) in mapping {
                let name = key.string ?? ""
                let child = path.isEmpty ? name : "\(path).\(name)"
                if let mark = key.mark { keys[child] = (mark.line, mark.column) }
                walk(value, path: child)
            }
        case .sequence(let sequence):
            for (i, item) in sequence.enumerated() { walk(item, path: "\(path)[\(i)]") }
        default:
            break
        }
    }

    /// The key's line, for sorting the keys of a section as they appear in the file.
    func order(_ section: String, _ key: String) -> Int {
        keys[section.isEmpty ? key : "\(section).\(key)"]?.line ?? Int.max
    }

    /// Where `path` is (its key or its value); a path not in the file (a missing key) points at the
    /// nearest enclosing one.
    func location(_ path: String, atKey: Bool) -> (line: Int, column: Int) {
        var current = path
        while true {
            if let p = atKey ? keys[current] ?? values[current] : values[current] ?? keys[current] { return p }
            guard let cut = current.lastIndex(where: { $0 == "." || $0 == "[" }) else { return values[""] ?? (1, 1) }
            current = String(current[..<cut])
        }
    }

    /// `file:line:col: ...` lines sorted by line and column.
    static func inFileOrder(_ lines: [String]) -> [String] {
        func key(_ line: String) -> (Int, Int) {
            let parts = line.split(separator: ":", maxSplits: 3)
            guard parts.count > 2, let l = Int(parts[1]), let c = Int(parts[2]) else { return (Int.max, Int.max) }
            return (l, c)
        }
        return lines.enumerated().sorted { a, b in
            let ka = key(a.element), kb = key(b.element)
            return ka != kb ? ka < kb : a.offset < b.offset
        }.map(\.element)
    }

    func diagnostic(_ path: String, _ message: String, atKey: Bool) -> String {
        let (line, column) = location(path, atKey: atKey)
        return "\(file):\(line):\(column): error: \(message)"
    }

    /// `plugins[0].timout: unknown setting (...)` as `file:line:col: error: ...`, with a did-you-mean.
    func locate(pluginProblem problem: String) -> String {
        guard let colon = problem.range(of: ": ") else { return "\(file): error: \(problem)" }
        let path = String(problem[..<colon.lowerBound])
        var message = problem
        let unknown = message.contains("unknown setting")
        if unknown, let key = path.split(separator: ".").last.map(String.init),
            let suggestion = Configuration.suggest(key, from: ExecPluginSpec.keys)
        {
            message = message.replacingOccurrences(of: "unknown setting", with: "unknown setting; did you mean '\(suggestion)'?")
        }
        return diagnostic(path, message, atKey: unknown)
    }
}
