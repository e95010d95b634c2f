import ArgumentParser
import FlintPluginAPI
import FlintRules
import Foundation

struct RulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Check, list and try out rules.",
        discussion: """
            Each subcommand reads the rules folder given as DIR or --rules DIR, else FLINT_RULES, else \
            rules: in flint.yaml, else ./rules.

            Examples:
              flint rules check
              flint rules list --rules rules/ --json
              flint rules test --event examples/cart.json
            """,
        subcommands: [RulesCheck.self, RulesList.self, RulesTest.self]
    )
}

struct RulesCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate rule files; print every problem as file:line:col: error: message.",
        discussion: """
            Exits 0 when the set is valid (warnings allowed), 1 when any error was found. The rules \
            folder is DIR or --rules DIR, else FLINT_RULES, else rules: in flint.yaml, else ./rules.

            Examples:
              flint rules check
              flint rules check rules/
              flint rules check --rules rules/cart.yaml --json
            """
    )

    @OptionGroup var folderOptions: RulesFolderOptions

    @Flag(help: "Print the diagnostics as a JSON array.")
    var json = false

    @Option(help: "The configuration whose plugins rules may name in send.action (default: FLINT_CONFIG, else ./flint.yaml when present).")
    var config: String?

    func run() throws {
        let folder = folderOptions.folder(config: config)
        var result: RuleLoadResult
        do {
            result = try RuleDirectory.load(folder, given: .configured(command: "flint rules check"))
        } catch {
            Terminal.err("error: \(error)")
            throw ExitCode(1)
        }
        result.diagnostics += try unknownActions(result.ruleSet)
        if json {
            Terminal.out(JSONValue.array(result.diagnostics.map(\.json)).prettyJSON())
        } else {
            for d in result.diagnostics { Terminal.err(d.description) }
            let summary = "\(result.ruleSet.rules.count) rule\(result.ruleSet.rules.count == 1 ? "" : "s") checked in \(folder): \(result.errors.count) error\(result.errors.count == 1 ? "" : "s"), \(result.warnings.count) warning\(result.warnings.count == 1 ? "" : "s")"
            if result.isValid { Terminal.out(summary) } else { Terminal.err(summary) }
        }
        if !result.isValid { throw ExitCode(1) }
    }
}

extension RulesCheck {
    /// With a configuration at hand, a rule naming an action no plugin provides is a warning: its
    /// runs would fail at dispatch. Without one, nothing is known of the plugins, so nothing is said.
    func unknownActions(_ rules: RuleSet) throws -> [Diagnostic] {
        let options = try GlobalOptions.parse(config.map { ["--config", $0] } ?? [])
        let path = config ?? ProcessInfo.processInfo.environment["FLINT_CONFIG"] ?? "flint.yaml"
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let configuration = try options.configuration()
        let actions = ["braze"] + configuration.execPlugins.filter { $0.kind == .action }.map(\.name)
        return rules.rules.filter { !actions.contains($0.send.action) }.map { rule in
            Diagnostic(
                severity: .warning, file: rule.location.file, line: rule.location.line, column: rule.location.column,
                message: "send.action: '\(rule.send.action)' is not an action \(path) declares (actions: \(actions.joined(separator: ", "))); its runs will fail until a plugin provides it")
        }
    }
}

extension Diagnostic {
    var json: JSONValue {
        ["severity": .string(severity.rawValue), "file": .string(file), "line": .number(Double(line)),
         "column": .number(Double(column)), "message": .string(message)]
    }
}

struct RulesList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the rules: id, trigger, action, schedule.",
        discussion: """
            The rules folder is DIR or --rules DIR, else FLINT_RULES, else rules: in flint.yaml, else ./rules.

            Examples:
              flint rules list
              flint rules list --rules rules/
              flint rules list rules/ --json
            """)

    @OptionGroup var folderOptions: RulesFolderOptions

    @Flag(help: "Print a JSON array.")
    var json = false

    func run() throws {
        let result: RuleLoadResult
        do {
            result = try RuleDirectory.load(folderOptions.folder(), given: .configured(command: "flint rules list"))
        } catch {
            Terminal.err("error: \(error)")
            throw ExitCode(1)
        }
        for d in result.diagnostics { Terminal.err(d.description) }
        let rules = result.ruleSet.rules
        if json {
            Terminal.out(JSONValue.array(rules.map(\.summaryJSON)).prettyJSON())
        } else if rules.isEmpty {
            Terminal.out("no valid rules")
        } else {
            let rows = rules.map { r in
                [r.id, r.enabled ? "yes" : "no", r.trigger.events.joined(separator: ", "),
                 r.send.isBraze ? "braze \(r.send.campaignId ?? "")" : r.send.action, r.schedule.summary,
                 "\(r.location.file):\(r.location.line)"]
            }
            Terminal.out(Terminal.table(rows, header: ["ID", "ENABLED", "EVENTS", "ACTION", "SCHEDULE", "FILE"]))
        }
        if !result.isValid { throw ExitCode(1) }
    }
}

extension Rule {
    var summaryJSON: JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id), "enabled": .bool(enabled), "events": .array(trigger.events.map { .string($0) }),
            "action": .string(send.action), "schedule": .string(schedule.summary), "version": .string(version),
            "file": .string(location.file), "line": .number(Double(location.line)),
            "cancel_on": .array(cancelOn.flatMap(\.events).map { .string($0) }),
        ]
        if let description { o["description"] = .string(description) }
        if let c = send.campaignId { o["campaign_id"] = .string(c) }
        return .object(o)
    }
}

extension ScheduleSpec {
    /// A short human summary: `after 2h, at 10:00 mon-fri (user), in_local_time, quiet 21:00-08:00`.
    var summary: String {
        var parts: [String] = []
        if let after { parts.append("after \(DurationText.format(seconds: after))") }
        if let at {
            var s = "at \(at)"
            if let on, on.count < 7 { s += " " + on.sorted().map(\.rawValue).joined(separator: ",") }
            parts.append(s)
        }
        if case .named(let zone) = timeZone { parts.append("in \(zone)") }
        if inLocalTime { parts.append("in_local_time") }
        if atOptimalTime { parts.append("at_optimal_time") }
        if let q = quietHours { parts.append("quiet \(q.from)-\(q.to)") }
        if ifLate == .skip { parts.append("skip if late") }
        return parts.isEmpty ? "now" : parts.joined(separator: ", ")
    }
}
