import ArgumentParser
import FlintConsole
import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Whether flint serve runs, whether dispatching is paused, the outbox, the rules, plugins in trouble, the last errors.",
        discussion: """
            Reads the database while flint serve writes it; serve says every few seconds that it is up, so a serve \
            that was killed or hangs shows as not running. Everything that needs a person is listed under "needs attention".

            Examples:
              flint status
              flint status --check   # exit 1 when something needs a person
              flint status --json | jq .attention
              */5 * * * * flint status --check --database /var/lib/flint/flint.db || notify-oncall
            """)

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Exit 1 when something needs a person: serve not running, dispatching paused, dead or unknown sends, rule errors, plugins in trouble (for cron and monitoring).")
    var check = false

    /// A pending send older than this is stuck, not just waiting its turn.
    static let stuckPending: TimeInterval = 15 * 60

    func run() async throws {
        let config = try global.configuration(plugins: .quiet)
        let ledger = try StoreAccess.openForReading(config)
        let report = try await Self.report(config: config, ledger: ledger)
        if json {
            Terminal.out(report.json.prettyJSON())
        } else {
            printHuman(
                status: report.status, serve: report.serve, serveRunning: report.serveRunning, pause: report.pause, rules: report.rules,
                config: config, plugins: report.plugins, unknownZones: report.unknownZones, attention: report.attention, now: report.now)
        }
        if check, !report.attention.isEmpty { throw ExitCode(1) }
    }

    /// What `flint status` found: printed here, and served by the console (`GET /api/v1/status`).
    struct Report {
        var status: StoreStatus
        var serve: ServeHeartbeat?
        var serveRunning: Bool
        var pause: DispatchPause?
        var rules: RuleLoadResult?
        var plugins: [PluginStatus]
        var unknownZones: [UnknownZoneCount]
        var attention: [String]
        var now: Date
        /// `flint status --json`.
        var json: JSONValue
    }

    static func report(config: Configuration, ledger: any LedgerReader) async throws -> Report {
        let status = try await ledger.status()
        let serve = try await ledger.serveHeartbeat()
        let unknownZones = try await ledger.unknownZones()
        let allPlugins = try await ledger.pluginStatuses()
        let rulesResult = Result { try RuleDirectory.load(config.rules, given: .configured(command: "flint serve")) }
        let rules = try? rulesResult.get()
        let now = Date()
        let plugins = allPlugins.filter { $0.origin == .exec }
        let serveRunning = serve?.isRunning(at: now) ?? false
        let pause = serveRunning ? serve?.pause : nil
        let troubled = serveRunning ? allPlugins.filter { Self.inTrouble($0, pause: pause, now: now) } : []

        // What needs a person, most urgent first.
        var attention: [String] = []
        switch (serve, serveRunning) {
        case (nil, _):
            attention.append("flint serve has never run with this database: nothing is dispatched (start flint serve)")
        case (let s?, false):
            attention.append("flint serve is not running (\(Self.lastSeenText(s, now: now))): nothing is dispatched (start flint serve)")
        default:
            break
        }
        if let pause {
            attention.append(
                "dispatching to \(pause.action) is paused since \(Format.age(pause.since, now: now)): \(pause.reason); the held send is "
                    + "tried again every 60 s (SIGHUP to flint serve: at once); a new BRAZE_API_KEY needs a restart of flint serve")
        }
        if status.outboxDead > 0 {
            attention.append("\(status.outboxDead) dead send(s) that will not be retried: flint outbox --dead, then flint outbox retry ID")
        }
        if status.outboxUnknown > 0 {
            attention.append(
                "\(status.outboxUnknown) send(s) with an unknown outcome: check them in Braze (flint outbox --unknown); flint outbox retry ID resends one")
        }
        if let oldest = status.oldestPendingCreatedAt, now.timeIntervalSince(oldest) > Self.stuckPending, pause == nil {
            attention.append("the oldest pending send was planned \(Format.age(oldest, now: now)): dispatch is not keeping up (flint outbox)")
        }
        if status.decisionBacklog > 0, let oldest = status.oldestUndecidedAt, now.timeIntervalSince(oldest) > 60 {
            attention.append(
                "\(status.decisionBacklog) event(s) accepted but not decided, the oldest \(Format.age(oldest, now: now)): "
                    + (serveRunning ? "deciding is not keeping up (flint_decide_lag_seconds on /metrics)" : "start flint serve to decide them"))
        }
        switch rulesResult {
        case .failure(let error):
            attention.append("cannot read the rules: \(error)")
        case .success(let r) where !r.isValid:
            attention.append(
                "the rules in \(config.rules) have \(r.errors.count) error(s): flint serve refuses them and keeps the last good set "
                    + "(flint rules check \(config.rules))")
        default:
            if serveRunning, let s = serve, !s.ruleErrors.isEmpty {
                attention.append("flint serve refused the last rules reload (\(s.ruleErrors.count) error(s)); it runs the last good set")
            }
        }
        for p in troubled where p.name != pause?.action {
            attention.append("plugin \(p.name) is \(p.state.rawValue): \(p.lastError ?? "no error given") (flint plugins)")
        }
        if !config.pluginProblems.isEmpty {
            attention.append(
                "\(config.file ?? "flint.yaml") has \(config.pluginProblems.count) problem(s) under plugins:; flint serve will refuse to start (flint plugins)")
        }

        let json = Self.json(
            status: status, serve: serve, serveRunning: serveRunning, pause: pause, rules: rules, config: config, plugins: plugins,
            troubled: troubled, unknownZones: unknownZones, attention: attention, now: now)
        return Report(
            status: status, serve: serve, serveRunning: serveRunning, pause: pause, rules: rules, plugins: plugins, unknownZones: unknownZones,
            attention: attention, now: now, json: json)
    }

    /// A plugin that is not doing its job while serve runs: restarting, held, or silent.
    static func inTrouble(_ p: PluginStatus, pause: DispatchPause?, now: Date) -> Bool {
        if p.name == pause?.action { return true }
        switch p.state {
        case .backoff, .paused: return true
        case .starting: return now.timeIntervalSince(p.updatedAt) > 30
        case .running, .stopped: return false
        }
    }

    static func lastSeenText(_ s: ServeHeartbeat, now: Date) -> String {
        if let stopped = s.stoppedAt { return "stopped \(Format.age(stopped, now: now)), at \(Format.time(stopped))" }
        return "last heard from \(Format.age(s.lastSeen, now: now)), pid \(s.pid) on \(s.host); it was killed or hangs"
    }

    private func printHuman(
        status: StoreStatus, serve: ServeHeartbeat?, serveRunning: Bool, pause: DispatchPause?, rules: RuleLoadResult?, config: Configuration,
        plugins: [PluginStatus], unknownZones: [UnknownZoneCount], attention: [String], now: Date
    ) {
        var lines: [[String]] = []
        if let s = serve, serveRunning {
            lines.append(["serve", "running since \(Format.time(s.startedAt)) (\(Format.age(s.startedAt, now: now))), pid \(s.pid), listening on \(s.listen)"])
        } else if let s = serve {
            lines.append(["serve", "NOT RUNNING (\(Self.lastSeenText(s, now: now)))"])
        } else {
            lines.append(["serve", "NOT RUNNING (never started with this database)"])
        }
        if let pause {
            lines.append([
                "dispatch",
                "PAUSED since \(Format.time(pause.since)) (\(Format.age(pause.since, now: now))): \(pause.action): \(pause.reason); "
                    + "next try \(Format.age(pause.nextProbe, now: now))",
            ])
        } else {
            lines.append(["dispatch", serveRunning ? "running" : "stopped (flint serve is not running)"])
        }
        lines.append(["database", config.databaseShown])
        lines.append(["events", "\(status.events) accepted, \(status.rejected) rejected" + (status.lastEventAt.map { ", last received \(Format.age($0, now: now))" } ?? "")])
        lines.append([
            "decisions",
            status.decisionBacklog == 0
                ? "no backlog (every accepted event is decided)"
                : "\(status.decisionBacklog) accepted, not decided yet" + (status.oldestUndecidedAt.map { ", oldest received \(Format.age($0, now: now))" } ?? "")
                    + (serveRunning ? "" : " (flint serve or flint ingest decides them)"),
        ])
        lines.append(["runs", RunStatus.allCases.map { "\($0.rawValue) \(status.runsByStatus[$0] ?? 0)" }.joined(separator: ", ")])
        func oldest(_ d: Date?) -> String { d.map { " (oldest planned \(Format.age($0, now: now)))" } ?? "" }
        lines.append([
            "outbox",
            "\(status.outboxPending) pending\(oldest(status.oldestPendingCreatedAt)), \(status.outboxDead) dead\(oldest(status.oldestDeadCreatedAt)), "
                + "\(status.outboxUnknown) unknown\(oldest(status.oldestUnknownCreatedAt))",
        ])
        if let rules {
            var text = "\(rules.ruleSet.rules.count) in \(config.rules)" + (rules.isValid ? "" : ", \(rules.errors.count) errors (flint rules check \(config.rules))")
            if serveRunning, let s = serve {
                text += "; serve runs \(s.rulesLoaded)"
                if !s.ruleErrors.isEmpty {
                    text += ", refused a reload" + (s.ruleErrorsSince.map { " \(Format.age($0, now: now))" } ?? "") + " (\(s.ruleErrors.count) errors)"
                }
            }
            lines.append(["rules", text])
        } else {
            lines.append(["rules", "cannot read \(config.rules)"])
        }
        if !unknownZones.isEmpty {
            // Runs that read a zone name the tz database does not have, and planned in another zone instead.
            let total = unknownZones.reduce(0) { $0 + $1.runs }
            let names = unknownZones.prefix(3).map { "'\($0.zone)' (\($0.runs) run\($0.runs == 1 ? "" : "s"), last user \($0.lastUser ?? "-"))" }
            lines.append([
                "zones", "\(total) run\(total == 1 ? "" : "s") used another zone because the user's zone is not in the tz database: "
                    + names.joined(separator: ", ") + (unknownZones.count > 3 ? ", and \(unknownZones.count - 3) more" : ""),
            ])
        }
        if !plugins.isEmpty {
            let summary = plugins.map { p in
                "\(p.name) \(serveRunning ? p.state.rawValue : "stopped")" + (p.state == .running || p.restarts == 0 ? "" : " (\(p.restarts) restarts: \(p.lastError ?? "-"))")
            }
            lines.append(["plugins", summary.joined(separator: ", ") + " (flint plugins)"])
        }
        Terminal.out(Terminal.table(lines))
        if let rules, !rules.isValid {
            for e in rules.errors.prefix(5) { Terminal.out("  " + e.description) }
        }
        if !status.lastFailures.isEmpty {
            Terminal.out("last failures:")
            Terminal.out(Terminal.table(status.lastFailures.map { ["  " + Format.time($0.updatedAt), "run \($0.id)", $0.ruleId, Format.truncate($0.reason, 56)] }))
        }
        if attention.isEmpty {
            Terminal.out("nothing needs attention")
        } else {
            Terminal.out("needs attention:")
            for a in attention { Terminal.out("  - " + a) }
        }
    }

    static func json(
        status: StoreStatus, serve: ServeHeartbeat?, serveRunning: Bool, pause: DispatchPause?, rules: RuleLoadResult?, config: Configuration,
        plugins: [PluginStatus], troubled: [PluginStatus], unknownZones: [UnknownZoneCount], attention: [String], now: Date
    ) -> JSONValue {
        func time(_ d: Date?) -> JSONValue { d.map { .string(Timestamp.formatUTCMillis($0)) } ?? .null }
        var counts: [String: JSONValue] = [:]
        for s in RunStatus.allCases { counts[s.rawValue] = .number(Double(status.runsByStatus[s] ?? 0)) }
        let serveJSON: JSONValue = [
            "running": .bool(serveRunning), "pid": serve.map { .number(Double($0.pid)) } ?? .null, "host": serve.map { .string($0.host) } ?? .null,
            "listen": serve.map { .string($0.listen) } ?? .null, "started_at": time(serve?.startedAt), "last_seen": time(serve?.lastSeen),
            "stopped_at": time(serve?.stoppedAt),
        ]
        let dispatchJSON: JSONValue = [
            "paused": .bool(pause != nil), "action": pause.map { .string($0.action) } ?? .null, "reason": pause.map { .string($0.reason) } ?? .null,
            "since": time(pause?.since), "next_probe_at": time(pause?.nextProbe),
        ]
        return [
            "database": .string(config.databaseShown), "events": .number(Double(status.events)), "rejected": .number(Double(status.rejected)),
            "runs": .object(counts),
            "outbox": [
                "pending": .number(Double(status.outboxPending)), "oldest_pending_created_at": time(status.oldestPendingCreatedAt),
                "dead": .number(Double(status.outboxDead)), "oldest_dead_created_at": time(status.oldestDeadCreatedAt),
                "unknown": .number(Double(status.outboxUnknown)), "oldest_unknown_created_at": time(status.oldestUnknownCreatedAt),
            ],
            "decisions": ["backlog": .number(Double(status.decisionBacklog)), "oldest_undecided_at": time(status.oldestUndecidedAt)],
            "rules": [
                "folder": .string(config.rules), "loaded": .number(Double(rules?.ruleSet.rules.count ?? 0)),
                "errors": .array((rules?.errors ?? []).map { .string($0.description) }),
                "serve_loaded": serveRunning ? serve.map { .number(Double($0.rulesLoaded)) } ?? .null : .null,
                "refused_reload_errors": .array((serveRunning ? serve?.ruleErrors ?? [] : []).map(JSONValue.string)),
                "refused_reload_since": serveRunning ? time(serve?.ruleErrorsSince) : .null,
            ],
            "rule_versions": .number(Double(status.ruleVersions)),
            "last_failures": .array(status.lastFailures.map(\.json)),
            "last_event_at": time(status.lastEventAt),
            "plugins": .array(plugins.map { PluginsCommand.json($0, note: nil, now: now) }),
            "plugins_in_trouble": .array(troubled.map { PluginsCommand.json($0, note: nil, now: now) }),
            "serve": serveJSON, "dispatch": dispatchJSON,
            "unknown_zones": .array(unknownZones.map { ["zone": .string($0.zone), "runs": .number(Double($0.runs)), "last_seen": time($0.lastSeen), "last_user": $0.lastUser.map(JSONValue.string) ?? .null] }),
            "attention": .array(attention.map(JSONValue.string)), "ok": .bool(attention.isEmpty),
        ]
    }
}
