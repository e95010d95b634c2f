import ArgumentParser
import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

/// Flint's configuration: `flint.yaml` < environment < flags (DESIGN.md "Configuration").
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
    var braze = Braze()
    var plugins: [JSONValue] = []
    /// The exec plugins declared under `plugins:`.
    var execPlugins: [ExecPluginSpec] = []
    var retention = RetentionPolicy()
    /// Where the configuration came from, for messages.
    var file: String?

    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    static let topKeys = ["listen", "database", "rules", "inbox", "default_time_zone", "lead", "webhook", "braze", "plugins", "retention"]

    /// Reads `flint.yaml` (or `FLINT_CONFIG`, or `--config`), then the environment, then flags.
    static func load(_ options: GlobalOptions, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Configuration {
        var config = Configuration()
        let explicit = options.config ?? environment["FLINT_CONFIG"]
        let path = explicit ?? "flint.yaml"
        if FileManager.default.fileExists(atPath: path) {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw Problem(description: "\(path): cannot read the configuration file")
            }
            try config.apply(text: text, file: path)
        } else if explicit != nil {
            throw Problem(description: "\(path): no such configuration file")
        }
        try config.applyEnvironment(environment)
        if !config.plugins.isEmpty {
            // Relative commands and the plugins' working directory: the folder flint.yaml is in.
            let base = URL(fileURLWithPath: config.file ?? "flint.yaml").standardizedFileURL.deletingLastPathComponent().path
            let (specs, problems) = ExecPluginSpec.parse(config.plugins, directory: base, environment: environment)
            if !problems.isEmpty {
                throw Problem(description: problems.map { "\(config.file ?? "flint.yaml"): \($0)" }.joined(separator: "\n"))
            }
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
        guard case .object(let o) = root else { throw Problem(description: "\(file): expected a mapping of settings") }
        var problems: [String] = []
        func fail(_ key: String, _ message: String) { problems.append("\(file): \(key): \(message)") }
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
            guard TimeZone(identifier: s) != nil else {
                fail(key, "'\(s)' is not an IANA time zone (e.g. Europe/Paris)")
                return nil
            }
            return s
        }
        func unknown(_ section: String, _ keys: some Sequence<String>, _ allowed: [String]) {
            for k in keys where !allowed.contains(k) {
                fail(section.isEmpty ? k : "\(section).\(k)", "unknown setting (expected one of: \(allowed.joined(separator: ", ")))")
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
                unknown("webhook", w.keys, ["tokens", "hmac_secret", "max_body_bytes"])
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
        if let v = o["braze"] {
            if case .object(let b) = v {
                unknown("braze", b.keys, ["rest_endpoint", "api_key", "company_time_zone", "requests_per_hour", "audience_requests_per_minute", "timeout", "max_attempts", "coalesce_window"])
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
            if case .array(let items) = v { plugins = items } else { fail("plugins", "expected a list") }
        }
        if let v = o["retention"] {
            if case .object(let r) = v {
                unknown("retention", r.keys, ["events", "runs", "not_matched", "rejected"])
                if let d = r["events"].flatMap({ duration("retention.events", $0) }) { retention.events = d }
                if let d = r["runs"].flatMap({ duration("retention.runs", $0) }) { retention.runs = d }
                if let d = r["not_matched"].flatMap({ duration("retention.not_matched", $0) }) { retention.notMatched = d }
                if let d = r["rejected"].flatMap({ duration("retention.rejected", $0) }) { retention.rejected = d }
            } else {
                fail("retention", "expected a mapping")
            }
        }
        if !problems.isEmpty { throw Problem(description: problems.joined(separator: "\n")) }
    }

    mutating func applyEnvironment(_ env: [String: String]) throws {
        if let v = env["FLINT_LISTEN"] { listen = v }
        if let v = env["FLINT_DATABASE"] { database = v }
        if let v = env["FLINT_RULES"] { rules = v }
        if let v = env["FLINT_INBOX"] { inbox = v }
        if let v = env["FLINT_WEBHOOK_TOKEN"], !v.isEmpty { webhook.tokens = [v] }
        if let v = env["BRAZE_REST_ENDPOINT"] { braze.restEndpoint = v }
        if let v = env["BRAZE_API_KEY"], !v.isEmpty { braze.apiKey = v }
        if let v = env["BRAZE_COMPANY_TIME_ZONE"] {
            guard TimeZone(identifier: v) != nil else { throw Problem(description: "BRAZE_COMPANY_TIME_ZONE: '\(v)' is not an IANA time zone") }
            braze.companyTimeZone = v
        }
        if let v = env["FLINT_DEFAULT_TIME_ZONE"] {
            guard TimeZone(identifier: v) != nil else { throw Problem(description: "FLINT_DEFAULT_TIME_ZONE: '\(v)' is not an IANA time zone") }
            defaultTimeZone = v
        }
        if let v = env["FLINT_LEAD"] {
            guard let s = DurationText.seconds(v) else { throw Problem(description: "FLINT_LEAD: '\(v)' is not a duration (e.g. 60s)") }
            lead = s
        }
    }

    var engineSettings: EngineSettings {
        EngineSettings(
            defaultZone: TimeZone(identifier: defaultTimeZone) ?? TimeZone(identifier: "UTC")!,
            companyZone: braze.companyTimeZone.flatMap(TimeZone.init(identifier:)), lead: lead)
    }
}

/// Options every command that touches state accepts.
struct GlobalOptions: ParsableArguments {
    @Option(help: "The configuration file (default: FLINT_CONFIG, else ./flint.yaml when present).")
    var config: String?

    @Option(help: "The SQLite database (default: FLINT_DATABASE, else the configuration's, else ./flint.db).")
    var database: String?

    @Option(help: "The rules folder (default: FLINT_RULES, else the configuration's, else ./rules).")
    var rules: String?

    func configuration() throws -> Configuration {
        do {
            return try Configuration.load(self)
        } catch let problem as Configuration.Problem {
            Terminal.err("error: \(problem.description)")
            throw ExitCode(1)
        }
    }
}
