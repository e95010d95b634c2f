import ArgumentParser
import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

struct WhyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "why",
        abstract: "In plain words, what happened to a user's sends: the gate that stopped each one, or that it was sent.",
        discussion: """
            Each run is named with its status as `flint runs --status` takes it (not_matched, skipped, pending, \
            scheduled, failed, cancelled, unknown, shadow). When there is no run to show, why says what Flint does have: \
            no event from the user, only identify calls, events no rule reacts to, or the runs of other rules or events.

            Examples:
              flint why --user u-42
              flint why --user u-42 --rule cart-abandoned
              flint why --user u-42 --event m-123
              flint why --user u-42 --json
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "The user (userId, else anonymousId).") var user: String
    @Option(help: "Only this rule (its id, as in flint rules list).") var rule: String?
    @Option(help: "Only this event (its messageId).") var event: String?
    @Option(help: "At most this many runs.") var limit = 20
    @Flag(help: "Print a JSON array of {run_id, event_id, event_name, rule_id, status, sent, stopped_by, outbox_id, explanation}.")
    var json = false

    func run() async throws {
        let config = try global.configuration()
        let ledger = try StoreAccess.openForReading(config)
        let answer = try await Self.answer(ledger: ledger, rulesFolder: config.rules, user: user, rule: rule, event: event, limit: limit)
        if let error = answer.error {
            Terminal.err(error)
            throw ExitCode(2)
        }
        if let message = answer.message {
            if json {
                Terminal.out("[]")
                Terminal.err(message)
            } else {
                Terminal.out(message)
            }
            return
        }
        if json {
            Terminal.out(JSONValue.array(answer.runs.map(\.json)).prettyJSON())
            return
        }
        for r in answer.runs {
            Terminal.out("run \(r.run.id) (\(r.run.ruleId), \(r.run.status.rawValue)) for \(r.what):")
            Terminal.out("  " + r.explanation)
        }
    }

    /// One run as `flint why` tells it.
    struct Explained {
        var run: RunRecord
        /// `'Cart Abandoned' (m-1) at 2026-11-29T18:05:00Z`.
        var what: String
        var explanation: String
        /// The `--json` object.
        var json: JSONValue
    }

    /// What `flint why` says for a user: the runs explained, or, with none, what Flint has instead
    /// (`message`), or an unknown rule (`error`). Printed here, and served by the console
    /// (`GET /api/v1/why`).
    struct Answer {
        var runs: [Explained] = []
        var message: String?
        var error: String?
    }

    static func answer(ledger: any LedgerReader, rulesFolder: String, user: String, rule: String?, event: String?, limit: Int) async throws -> Answer {
        // The rules folder is read only when a message needs it (parsing it costs more than the
        // answer itself on a big ledger).
        if let rule {
            let known = try await ledger.knownRuleIds()
            if !known.contains(rule) {
                let rules = RulesInView(folder: rulesFolder)
                if !rules.ids.contains(rule) { return Answer(error: Self.unknownRule(rule, rules: rules, ledgerIds: known)) }
            }
        }

        let runs = try await ledger.runs(RunQuery(rule: rule, user: user, event: event, limit: limit))
        if runs.isEmpty {
            let rules = RulesInView(folder: rulesFolder)
            return Answer(message: try await NoRuns(ledger: ledger, rules: rules, user: user, rule: rule, event: event).explain())
        }

        let outbox = try await ledger.outboxRows(runIds: runs.map(\.id))
        let events = try await ledger.events(seqs: runs.map(\.eventSeq))
        var answer = Answer()
        for r in runs {
            let e = events[r.eventSeq]
            let what = e.map { "\(Self.eventName($0)) (\($0.messageId)) at \(Timestamp.formatUTC($0.timestamp))" } ?? r.eventId
            let stoppedBy = r.trace.gates.first { !$0.passed }
            let explanation = Self.explain(r, stoppedBy: stoppedBy, outbox: outbox[r.id])
            let json: JSONValue = [
                "run_id": .number(Double(r.id)), "event_id": .string(r.eventId), "event_name": e?.name.map { .string($0) } ?? .null,
                "rule_id": .string(r.ruleId), "status": .string(r.status.rawValue), "sent": .bool(r.status == .scheduled),
                "stopped_by": stoppedBy.map { .string($0.name) } ?? .null,
                "outbox_id": outbox[r.id].map { .number(Double($0.id)) } ?? .null, "explanation": .string(explanation),
            ]
            answer.runs.append(Explained(run: r, what: what, explanation: explanation, json: json))
        }
        return answer
    }

    static func eventName(_ e: EventRecord) -> String {
        e.type == .identify ? "identify" : "'\(e.name ?? "")'"
    }

    static func unknownRule(_ rule: String, rules: RulesInView, ledgerIds: [String]) -> String {
        let all = rules.ids.union(ledgerIds)
        let close = all.filter { $0.lowercased().contains(rule.lowercased()) || rule.lowercased().contains($0.lowercased()) }.sorted()
        var lines = ["error: no rule '\(rule)'" + (close.isEmpty ? "." : "; did you mean \(close.joined(separator: " or "))?")]
        if let problem = rules.problem {
            lines.append("  the rules folder \(rules.folder) could not be read: \(problem)")
        } else {
            lines.append("  rules in \(rules.folder)/: " + (rules.ids.isEmpty ? "none" : rules.ids.sorted().joined(separator: ", ")))
        }
        lines.append("  rules the ledger has runs or versions of: " + (ledgerIds.isEmpty ? "none" : ledgerIds.joined(separator: ", ")))
        lines.append("  Give one of these ids (flint rules list shows them; --rules or FLINT_RULES picks the folder).")
        return lines.joined(separator: "\n")
    }

    static func explain(_ r: RunRecord, stoppedBy: Gate?, outbox: OutboxRef?) -> String {
        // An optimal-time send has only a date (Braze picks the hour); a local-time one a wall clock.
        let when = r.sendAt == nil && r.schedule == nil ? "?" : SendTime(sendAt: r.sendAt, schedule: r.schedule).sentence()
        let schedule = r.schedule.map { " with schedule \($0.compactJSON)" } ?? ""
        let target = r.action == "braze" ? "Braze" : "action '\(r.action)'"
        switch r.status {
        case .notMatched:
            return "not sent: the condition \(stoppedBy?.detail ?? r.reason) did not hold."
        case .skipped:
            let gate = stoppedBy?.name ?? "a limit"
            return "not sent: stopped by \(gate): \(stoppedBy?.detail ?? r.reason)."
        case .failed:
            var text = "not sent: failed at \(stoppedBy?.name ?? "dispatch"): \(withoutRetryHint(r.reason))."
            if let outbox, outbox.state == .dead || outbox.state == .unknown {
                text += " Once the cause is fixed, send it again with: flint outbox retry \(outbox.id)"
            }
            return text
        case .pending:
            let row = outbox.map { " (row \($0.id))" } ?? ""
            return "planned for \(when)\(schedule); waiting in the outbox\(row) to be sent to \(target)."
        case .scheduled:
            return "sent: scheduled for \(when)\(schedule), Braze schedule_id \(r.scheduleId ?? "-"), dispatch_id \(r.dispatchId ?? "-")."
        case .cancelled:
            return "cancelled: \(r.reason)."
        case .shadow:
            return "shadow: would be sent to \(target) for \(when)\(schedule); the rule has mode: shadow, so nothing was sent and no limit was used"
                + (r.request.map { "; it would send \($0.compactJSON)" } ?? "") + "."
        case .unknown:
            var why = withoutRetryHint(r.reason)
            if why.hasPrefix("sent, outcome unknown: ") { why.removeFirst("sent, outcome unknown: ".count) }
            let retry = outbox.map { "flint outbox retry \($0.id)" } ?? "flint outbox --unknown, then flint outbox retry with the row's ID,"
            return "sent, outcome unknown (\(why)); it is not resent automatically: check \(target), then \(retry) if it is missing."
        }
    }

    /// A run's reason without the retry advice some carry (`explain` gives the right command itself).
    static func withoutRetryHint(_ reason: String) -> String {
        let parts = reason.components(separatedBy: "; ").filter { !$0.contains("outbox retry") }
        return parts.isEmpty ? reason : parts.joined(separator: "; ")
    }

    /// `run 7 (cart-abandoned, scheduled)`, `runs 4 (order-shipped, scheduled) and 5 (order-sms, pending)`.
    static func list(_ runs: [RunRecord], more: Bool = false) -> String {
        let sorted = runs.sorted { $0.id < $1.id }
        let items = sorted.map { "\($0.id) (\($0.ruleId), \($0.status.rawValue))" }
        var text = items.count == 1 ? "run " + items[0] : "runs " + items.dropLast().joined(separator: ", ") + " and " + items.last!
        if more { text += " (and more: flint runs --user ...)" }
        return text
    }
}

/// The configured rules folder, read once for the messages that name rules and trigger events.
struct RulesInView {
    var folder: String
    var rules: [Rule] = []
    var problem: String?

    init(folder: String) {
        self.folder = folder
        do {
            let loaded = try RuleDirectory.load(folder)
            rules = loaded.ruleSet.rules
            if !loaded.isValid { problem = "it has errors (flint rules check \(folder))" }
        } catch {
            problem = "\(error)"
        }
    }

    var ids: Set<String> { Set(rules.map(\.id)) }

    /// The event names enabled rules react to.
    var triggers: [String] { Set(rules.filter(\.enabled).flatMap(\.trigger.events)).sorted() }

    func rule(_ id: String) -> Rule? { rules.first { $0.id == id } }
}

/// Why `flint why` found no run, told from what the ledger does have.
struct NoRuns {
    let ledger: any LedgerReader
    let rules: RulesInView
    let user: String
    let rule: String?
    let event: String?

    /// How many of the user's events are looked at.
    static let eventWindow = 1000

    func explain() async throws -> String {
        var head = "no runs for user \(user)"
        if let rule { head += " and rule \(rule)" }
        if let event { head += " and event \(event)" }
        head += ": "

        if let event {
            guard let e = try await ledger.event(id: event) else {
                return head + "Flint has no event \(event) (flint events --user \(user) lists this user's events)."
            }
            if e.userKey != user {
                return head + "event \(event) is from user \(e.userKey), not \(user): flint why --user \(e.userKey) --event \(event)"
            }
            let made = try await ledger.runs(RunQuery(event: e.messageId, limit: 50, traces: false))
            if made.isEmpty {
                if e.type == .identify {
                    return head + "event \(event) is an identify call; identify calls update the user's profile and trigger no rule."
                }
                return head + "event \(event) (\(WhyCommand.eventName(e))) triggered no rule" + reactTo() + "."
            }
            // There are runs, so --rule must have filtered them out.
            var text = head + "event \(event) made \(WhyCommand.list(made))"
            if let rule { text += ", none of rule \(rule)" + ruleTrigger(rule, eventName: e.name) }
            return text + "."
        }

        let events = try await ledger.events(EventQuery(user: user, limit: Self.eventWindow))
        let userRuns = try await ledger.runs(RunQuery(user: user, limit: 10, traces: false))
        if events.isEmpty && userRuns.isEmpty {
            return head + "Flint has no event from this user (check the id: flint events --user \(user); ids are case-sensitive)."
        }
        let tracks = events.filter { $0.type != .identify }
        let identifies = events.count - tracks.count
        let capped = events.count >= Self.eventWindow ? "at least " : ""
        if tracks.isEmpty && userRuns.isEmpty {
            let calls = identifies == 1 ? "1 identify call" : "\(capped)\(identifies) identify calls"
            return head + "Flint has \(calls) from this user, no track events; identify calls update the profile and trigger no rule."
        }
        if userRuns.isEmpty {
            return head + "their events (\(Self.summary(tracks))) triggered no rule" + reactTo() + "."
        }
        // The user has runs, only not of --rule.
        var text = head + "their events made \(WhyCommand.list(userRuns, more: userRuns.count >= 10))"
        if let rule {
            text += ", none of rule \(rule)" + ruleTrigger(rule, eventName: nil, userEvents: Set(tracks.compactMap(\.name)))
        }
        return text + "."
    }

    /// `Cart Abandoned ×3, Page Viewed`
    static func summary(_ events: [EventRecord]) -> String {
        var counts: [String: Int] = [:]
        for e in events { counts[e.name ?? "(no name)", default: 0] += 1 }
        return counts.keys.sorted().map { counts[$0]! > 1 ? "\($0) ×\(counts[$0]!)" : $0 }.joined(separator: ", ")
    }

    /// `; the rules react to: Cart Abandoned, Order Shipped`, or why that is unknown.
    func reactTo() -> String {
        if let problem = rules.problem { return " (the rules folder \(rules.folder) could not be read: \(problem))" }
        let triggers = rules.triggers
        return triggers.isEmpty ? "; no enabled rule in \(rules.folder)" : "; the rules react to: \(triggers.joined(separator: ", "))"
    }

    /// What `rule` reacts to, and whether that explains the missing run.
    func ruleTrigger(_ id: String, eventName: String?, userEvents: Set<String> = []) -> String {
        guard let r = rules.rule(id) else { return " (rule \(id) is not in \(rules.folder) now; the ledger knows it from earlier runs)" }
        if !r.enabled { return " (rule \(id) is disabled)" }
        let names = r.trigger.events
        let quoted = names.map { "'\($0)'" }.joined(separator: " or ")
        if let eventName, !names.contains(eventName) { return "; rule \(id) reacts to \(quoted), not '\(eventName)'" }
        if eventName == nil, userEvents.isDisjoint(with: names) { return "; rule \(id) reacts to \(quoted), and this user has no such event" }
        return "; rule \(id) reacts to \(quoted), but was not loaded (or was disabled) when these events were decided"
    }
}
