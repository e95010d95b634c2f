import ArgumentParser
import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

struct WhyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "why",
        abstract: "In plain words, what happened to a user's sends: the gate that stopped each one, or that it was sent."
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "The user (userId, else anonymousId).") var user: String
    @Option(help: "Only this rule.") var rule: String?
    @Option(help: "Only this event (its messageId).") var event: String?
    @Option(help: "At most this many runs.") var limit = 20
    @Flag(help: "Print a JSON array of {run_id, event_id, rule_id, status, sent, stopped_by, explanation}.") var json = false

    func run() async throws {
        let config = try global.configuration()
        let ledger = try StoreAccess.openForReading(config)
        let runs = try await ledger.runs(RunQuery(rule: rule, user: user, event: event, limit: limit))
        if runs.isEmpty {
            let events = try await ledger.events(EventQuery(user: user, limit: 5))
            var message = "no runs for user \(user)" + (rule.map { " and rule \($0)" } ?? "") + (event.map { " and event \($0)" } ?? "") + "."
            if events.isEmpty {
                message += " Flint has no event from this user (check the id: flint events --user ...)."
            } else {
                let names = Set(events.compactMap(\.name)).sorted()
                message += " Their latest events (\(names.joined(separator: ", "))) triggered no rule"
                let loaded = try? RuleDirectory.load(config.rules)
                if let triggers = loaded.map({ Set($0.ruleSet.rules.filter(\.enabled).flatMap(\.trigger.events)).sorted() }), !triggers.isEmpty {
                    message += "; the rules react to: \(triggers.joined(separator: ", "))"
                }
                message += "."
            }
            if json { Terminal.out("[]") } else { Terminal.out(message) }
            return
        }
        var out: [JSONValue] = []
        for r in runs {
            let e = try await ledger.event(id: r.eventId)
            let what = e.map { "'\($0.name ?? $0.type.rawValue)' (\($0.messageId)) at \(Timestamp.formatUTC($0.timestamp))" } ?? r.eventId
            let stoppedBy = r.trace.gates.first { !$0.passed }
            let explanation = Self.explain(r, stoppedBy: stoppedBy)
            if json {
                out.append([
                    "run_id": .number(Double(r.id)), "event_id": .string(r.eventId), "rule_id": .string(r.ruleId), "status": .string(r.status.rawValue),
                    "sent": .bool(r.status == .scheduled), "stopped_by": stoppedBy.map { .string($0.name) } ?? .null, "explanation": .string(explanation),
                ])
            } else {
                Terminal.out("\(r.ruleId) for \(what), run \(r.id):")
                Terminal.out("  " + explanation)
            }
        }
        if json { Terminal.out(JSONValue.array(out).prettyJSON()) }
    }

    static func explain(_ r: RunRecord, stoppedBy: Gate?) -> String {
        let when = r.sendAt.map { Timestamp.formatUTC($0) } ?? "?"
        let schedule = r.schedule.map { " with schedule \($0.compactJSON)" } ?? ""
        switch r.status {
        case .notMatched:
            return "not sent: the condition \(stoppedBy?.detail ?? r.reason) did not hold."
        case .skipped:
            let gate = stoppedBy?.name ?? "a limit"
            return "not sent: stopped by \(gate): \(stoppedBy?.detail ?? r.reason)."
        case .failed:
            return "not sent: failed at \(stoppedBy?.name ?? "dispatch"): \(r.reason)."
        case .pending:
            return "planned for \(when)\(schedule); waiting in the outbox to be sent to \(r.action == "braze" ? "Braze" : "action '\(r.action)'")."
        case .scheduled:
            return "sent: scheduled for \(when)\(schedule), Braze schedule_id \(r.scheduleId ?? "-"), dispatch_id \(r.dispatchId ?? "-")."
        case .cancelled:
            return "cancelled: \(r.reason)."
        case .unknown:
            return "sent, outcome unknown (\(r.reason)); it is not resent automatically: check Braze, then flint outbox retry \(r.id) if it is missing."
        }
    }
}

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "List accepted (or rejected) events.",
        subcommands: [EventsList.self, EventsShow.self], defaultSubcommand: EventsList.self)
}

struct EventsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List events, newest first.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this event name.") var name: String?
    @Option(help: "Only this user.") var user: String?
    @Option(help: "Only events received in this period (2h, 7d) or since an ISO 8601 time.") var since: String?
    @Option(help: "At most this many.") var limit = 50
    @Flag(help: "List rejected input instead, with the reasons.") var rejected = false
    @Flag(help: "Print a JSON array.") var json = false

    func validate() throws { _ = try parseSince(since) }

    func run() async throws {
        let ledger = try StoreAccess.openForReading(try global.configuration())
        let query = EventQuery(name: name, user: user, since: try parseSince(since), limit: limit)
        if rejected {
            let items = try await ledger.rejected(query)
            if json {
                Terminal.out(JSONValue.array(items.map(\.json)).prettyJSON())
            } else if items.isEmpty {
                Terminal.out("no rejected events")
            } else {
                Terminal.out(Terminal.table(
                    items.map { [String($0.id), Format.time($0.receivedAt), $0.source, String($0.index), Format.truncate($0.errors.joined(separator: "; "), 60)] },
                    header: ["ID", "RECEIVED (UTC)", "SOURCE", "INDEX", "ERRORS"]))
            }
            return
        }
        let events = try await ledger.events(query)
        if json {
            Terminal.out(JSONValue.array(events.map(\.json)).prettyJSON())
        } else if events.isEmpty {
            Terminal.out("no events match")
        } else {
            Terminal.out(Terminal.table(
                events.map { [String($0.seq), Format.time($0.receivedAt), Format.truncate($0.messageId, 24), $0.type == .identify ? "(identify)" : Format.truncate($0.name ?? "", 24), Format.truncate($0.userKey, 14), $0.source] },
                header: ["SEQ", "RECEIVED (UTC)", "ID", "EVENT", "USER", "SOURCE"]))
        }
    }
}

struct EventsShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "One event as received, and the runs it made.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The event's messageId (or its sequence number).") var id: String
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let ledger = try StoreAccess.openForReading(try global.configuration())
        guard let e = try await ledger.event(id: id) else {
            Terminal.err("error: no event \(id) (flint events lists them; rejected input: flint events --rejected)")
            throw ExitCode(1)
        }
        let runs = try await ledger.runs(RunQuery(event: e.messageId, limit: 1000))
        if json {
            var o = e.json.objectValue ?? [:]
            o["runs"] = .array(runs.map(\.json))
            Terminal.out(JSONValue.object(o).prettyJSON())
            return
        }
        Terminal.out("event \(e.messageId) (seq \(e.seq)): \(e.type == .identify ? "identify" : "'\(e.name ?? "")'") for \(e.userKey)")
        Terminal.out("  happened \(Timestamp.formatUTCMillis(e.timestamp)), received \(Timestamp.formatUTCMillis(e.receivedAt)) via \(e.source)")
        Terminal.out(e.body.prettyJSON().split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        if runs.isEmpty {
            Terminal.out(e.type == .identify ? "identify calls update the user's profile; they make no runs" : "no rule is triggered by this event")
        } else {
            Terminal.out("runs:")
            Terminal.out(Terminal.table(runs.map { ["  " + String($0.id), $0.ruleId, $0.status.rawValue, Format.truncate($0.reason, 60)] }))
        }
    }
}

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
