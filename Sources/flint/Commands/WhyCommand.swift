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
