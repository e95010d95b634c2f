import ArgumentParser
import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Runs by status, the outbox, the rules, the last errors.")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let config = try global.configuration()
        let ledger = try StoreAccess.openForReading(config)
        let status = try await ledger.status()
        let rules = try? RuleDirectory.load(config.rules)
        let now = Date()
        let plugins = try await ledger.pluginStatuses().filter { $0.origin == .exec }
        if json {
            var counts: [String: JSONValue] = [:]
            for s in RunStatus.allCases { counts[s.rawValue] = .number(Double(status.runsByStatus[s] ?? 0)) }
            Terminal.out(JSONValue.object([
                "database": .string(config.database), "events": .number(Double(status.events)), "rejected": .number(Double(status.rejected)),
                "runs": .object(counts), "outbox": ["pending": .number(Double(status.outboxPending)), "oldest_pending_created_at": status.oldestPendingCreatedAt.map { .string(Timestamp.formatUTCMillis($0)) } ?? .null],
                "rules": ["folder": .string(config.rules), "loaded": .number(Double(rules?.ruleSet.rules.count ?? 0)), "errors": .array((rules?.errors ?? []).map { .string($0.description) })],
                "rule_versions": .number(Double(status.ruleVersions)),
                "last_failures": .array(status.lastFailures.map(\.json)),
                "last_event_at": status.lastEventAt.map { .string(Timestamp.formatUTCMillis($0)) } ?? .null,
                "plugins": .array(plugins.map { PluginsCommand.json($0, note: nil, now: now) }),
            ]).prettyJSON())
            return
        }
        Terminal.out("database  \(config.database)")
        Terminal.out("events    \(status.events) accepted, \(status.rejected) rejected" + (status.lastEventAt.map { ", last received \(Format.age($0, now: now))" } ?? ""))
        let counts = RunStatus.allCases.map { "\($0.rawValue) \(status.runsByStatus[$0] ?? 0)" }.joined(separator: ", ")
        Terminal.out("runs      \(counts)")
        Terminal.out("outbox    \(status.outboxPending) pending" + (status.oldestPendingCreatedAt.map { ", oldest planned \(Format.age($0, now: now))" } ?? ""))
        if let rules {
            Terminal.out("rules     \(rules.ruleSet.rules.count) in \(config.rules)" + (rules.isValid ? "" : ", \(rules.errors.count) errors (flint rules check)"))
        } else {
            Terminal.out("rules     cannot read \(config.rules)")
        }
        if !plugins.isEmpty {
            let summary = plugins.map { p in
                "\(p.name) \(p.state.rawValue)" + (p.state == .running || p.restarts == 0 ? "" : " (\(p.restarts) restarts: \(p.lastError ?? "-"))")
            }
            Terminal.out("plugins   " + summary.joined(separator: ", ") + " (flint plugins)")
        }
        if !status.lastFailures.isEmpty {
            Terminal.out("last failures:")
            Terminal.out(Terminal.table(status.lastFailures.map { ["  " + Format.time($0.updatedAt), "run \($0.id)", $0.ruleId, Format.truncate($0.reason, 56)] }))
        }
    }
}
