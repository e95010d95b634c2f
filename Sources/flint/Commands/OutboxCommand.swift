import ArgumentParser
import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

struct OutboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox", abstract: "The sends waiting, given up (dead) or with an unknown outcome; resend them deliberately.",
        subcommands: [OutboxList.self, OutboxRetry.self], defaultSubcommand: OutboxList.self)
}

struct OutboxList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List outbox rows, newest first (default: pending, dead and unknown).")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Waiting to be sent (or retried).") var pending = false
    @Flag(help: "Given up after the configured attempts, or refused.") var dead = false
    @Flag(help: "Sent, outcome unknown: never resent automatically.") var unknown = false
    @Flag(help: "Every state, sent ones included.") var all = false
    @Option(help: "At most this many.") var limit = 100
    @Flag(help: "Print a JSON array.") var json = false

    func run() async throws {
        let config = try global.configuration()
        let store = try StoreAccess.openForWriting(config)
        var states: [OutboxState] = []
        if pending { states += [.pending, .sending] }
        if dead { states.append(.dead) }
        if unknown { states.append(.unknown) }
        if states.isEmpty && !all { states = [.pending, .sending, .dead, .unknown] }
        let wanted = states
        let limit = self.limit
        let items = try await store.write { t in try t.outbox(states: wanted, limit: limit) }
        if json {
            Terminal.out(JSONValue.array(items.map(\.json)).prettyJSON())
        } else if items.isEmpty {
            Terminal.out("the outbox has nothing in " + (all ? "any state" : wanted.map(\.rawValue).joined(separator: ", ")))
        } else {
            Terminal.out(Terminal.table(
                items.map { [String($0.id), String($0.runId), Format.truncate($0.ruleId, 18), $0.state.rawValue, String($0.attempts), $0.nextAttemptAt.map(Format.time) ?? "-", Format.truncate($0.lastError ?? "", 40)] },
                header: ["ID", "RUN", "RULE", "STATE", "ATTEMPTS", "NEXT (UTC)", "LAST ERROR"]))
            if items.contains(where: { $0.state == .unknown }) {
                Terminal.out("unknown: Braze may or may not have created these; check, then `flint outbox retry ID` to send one again")
            }
        }
    }
}

struct OutboxRetry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry", abstract: "Send an unknown or dead row again, deliberately (flint serve sends it).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The outbox row's id (flint outbox).") var id: Int64?
    @Flag(help: "Every dead row.") var dead = false

    func validate() throws {
        if (id == nil) == !dead { throw ValidationError("give an outbox id, or --dead for every dead row") }
    }

    func run() async throws {
        let store = try StoreAccess.openForWriting(try global.configuration())
        let id = self.id
        let allDead = dead
        let now = Date()
        let retried: [Int64] = try await store.write { t in
            let items: [OutboxItem]
            if let id {
                guard let item = try t.outbox(id: id) else { return [] }
                items = [item]
            } else {
                items = try t.outbox(states: [.dead], limit: 100_000)
            }
            var done: [Int64] = []
            for item in items where item.state == .dead || item.state == .unknown || (allDead && item.state == .dead) {
                try t.setOutbox(id: item.id, state: .pending, attempts: 0, nextAttemptAt: nil, lastError: item.lastError, body: nil, at: now)
                try t.updateRun(id: item.runId, RunUpdate(status: .pending, reason: "resent deliberately (flint outbox retry) after: \(item.lastError ?? item.state.rawValue)"), at: now)
                done.append(item.id)
            }
            return done
        }
        if retried.isEmpty {
            Terminal.err(id.map { "error: outbox row \($0) does not exist or is not dead or unknown (flint outbox)" } ?? "no dead rows")
            throw ExitCode(1)
        }
        Terminal.out("queued again: \(retried.map(String.init).joined(separator: ", ")); flint serve sends them")
    }
}

struct SchedulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedules", abstract: "Braze schedules Flint created (scheduled runs); cancel one.",
        subcommands: [SchedulesList.self, SchedulesCancel.self], defaultSubcommand: SchedulesList.self)
}

struct SchedulesList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List schedules, newest first.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "scheduled (default), cancelled, unknown or pending.") var status = "scheduled"
    @Option(help: "At most this many.") var limit = 100
    @Flag(help: "Print a JSON array.") var json = false

    func validate() throws {
        guard let s = RunStatus(rawValue: status), [.scheduled, .cancelled, .unknown, .pending].contains(s) else {
            throw ValidationError("--status must be scheduled, cancelled, unknown or pending")
        }
    }

    func run() async throws {
        let ledger = try StoreAccess.openForReading(try global.configuration())
        let runs = try await ledger.runs(RunQuery(status: RunStatus(rawValue: status), limit: limit))
        if json {
            Terminal.out(JSONValue.array(runs.map(\.json)).prettyJSON())
        } else if runs.isEmpty {
            Terminal.out("no \(status) schedules")
        } else {
            Terminal.out(Terminal.table(
                runs.map { [String($0.id), Format.truncate($0.ruleId, 18), Format.truncate($0.user, 14), $0.schedule?["time"]?.stringValue ?? "-", $0.scheduleId ?? "-", Format.truncate($0.reason, 36)] },
                header: ["RUN", "RULE", "USER", "TIME", "SCHEDULE ID", "REASON"]))
        }
    }
}

struct SchedulesCancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Cancel a run's send: locally if not sent yet, else through Braze's schedule/delete (flint serve does it).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The run's id.") var id: Int64

    func run() async throws {
        let config = try global.configuration()
        let store = try StoreAccess.openForWriting(config)
        let rules = try? RuleDirectory.load(config.rules)
        let id = self.id
        let now = Date()
        let outcome: String = try await store.write { t in
            guard let run = try t.run(id: id) else { return "error: no run \(id)" }
            switch run.status {
            case .pending:
                try t.cancelRun(id: id, byEvent: "flint schedules cancel", reason: "cancelled by hand (flint schedules cancel) before it was sent", at: now)
                return "run \(id) cancelled before it was sent"
            case .scheduled, .unknown:
                guard let scheduleId = run.scheduleId else { return "error: run \(id) has no schedule_id to delete (outcome unknown); check Braze by hand" }
                let campaign = run.request?["campaign_id"]?.stringValue ?? rules?.ruleSet.rule(id: run.ruleId)?.send.campaignId ?? ""
                try t.insertCancellation(
                    Cancellation(runId: id, campaignId: campaign, scheduleId: scheduleId, reason: "cancelled by hand (flint schedules cancel)", byEvent: nil, state: .pending, attempts: 0, nextAttemptAt: nil, lastError: nil),
                    at: now)
                return "run \(id): schedule \(scheduleId) will be deleted from Braze by flint serve"
            default:
                return "error: run \(id) is \(run.status.rawValue); nothing to cancel"
            }
        }
        if outcome.hasPrefix("error:") {
            Terminal.err(outcome)
            throw ExitCode(1)
        }
        Terminal.out(outcome)
    }
}

extension OutboxItem {
    var json: JSONValue {
        [
            "id": .number(Double(id)), "run_id": .number(Double(runId)), "key": .string(key), "action": .string(action),
            "state": .string(state.rawValue), "attempts": .number(Double(attempts)), "rule_id": .string(ruleId), "user": .string(user),
            "send_at": sendAt.map { .string(Timestamp.formatUTC($0)) } ?? .null,
            "next_attempt_at": nextAttemptAt.map { .string(Timestamp.formatUTCMillis($0)) } ?? .null,
            "last_error": lastError.map { .string($0) } ?? .null, "body": body,
            "created_at": .string(Timestamp.formatUTCMillis(createdAt)), "updated_at": .string(Timestamp.formatUTCMillis(updatedAt)),
        ]
    }
}
