import ArgumentParser
import FlintConsole
import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

struct OutboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox", abstract: "The sends waiting, given up (dead) or with an unknown outcome; resend them deliberately.",
        discussion: """
            Examples:
              flint outbox
              flint outbox --dead
              flint outbox retry 42
            """,
        subcommands: [OutboxList.self, OutboxRetry.self], defaultSubcommand: OutboxList.self)
}

struct OutboxList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List outbox rows, newest first (default: pending, dead and unknown).",
        discussion: """
            Examples:
              flint outbox
              flint outbox --dead --wide
              flint outbox --all --before 5000
              flint outbox --unknown --json
            """)

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Waiting to be sent (or retried).") var pending = false
    @Flag(help: "Given up after the configured attempts, or refused.") var dead = false
    @Flag(help: "Sent, outcome unknown: never resent automatically.") var unknown = false
    @Flag(help: "Every state, sent ones included.") var all = false
    @OptionGroup var listing: ListingOptions

    func run() async throws {
        let config = try global.configuration()
        let store = try StoreAccess.openForWriting(config)
        var states: [OutboxState] = []
        if pending { states += [.pending, .sending] }
        if dead { states.append(.dead) }
        if unknown { states.append(.unknown) }
        if states.isEmpty && !all { states = [.pending, .sending, .dead, .unknown] }
        let wanted = states
        let zone = try listing.displayZone()
        let palette = listing.palette
        let wide = listing.wide
        let page = try await Page.load(listing, id: \.id) { limit, before, after in
            try await store.write { t in try t.outbox(states: wanted, limit: limit, before: before, after: after) }
        }
        let items = page.rows
        if listing.json {
            Terminal.out(JSONValue.array(items.map(\.json)).prettyJSON())
        } else if items.isEmpty {
            Terminal.out("the outbox has nothing in " + (all ? "any state" : wanted.map(\.rawValue).joined(separator: ", "))
                + (listing.before != nil || listing.after != nil ? " on this page" : ""))
        } else {
            Terminal.out(Terminal.table(
                items.map {
                    [String($0.id), String($0.runId), Format.cell($0.ruleId, 18, wide: wide), palette.status($0.state.rawValue), String($0.attempts),
                     SendTime(sendAt: $0.sendAt, schedule: $0.schedule).cell(zone: zone), Format.time($0.nextAttemptAt, zone: zone),
                     Format.cell($0.lastError ?? "", 40, wide: wide)]
                },
                header: ["ID", "RUN", "RULE", "STATE", "ATTEMPTS", listing.header("SEND AT"), listing.header("NEXT"), "LAST ERROR"]))
            if let line = page.cutOffLine(id: \.id) { Terminal.out(palette.dim(line)) }
            if items.contains(where: { $0.state == .unknown }) {
                Terminal.out("unknown: Braze may or may not have created these; check, then `flint outbox retry ID` to send one again")
            }
        }
    }
}

struct OutboxRetry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry", abstract: "Send an unknown or dead row again, deliberately (flint serve sends it).",
        discussion: """
            Examples:
              flint outbox retry 42
              flint outbox retry --dead
            """)

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
        await ServeWake.notifyRunningServe(of: store)
        Terminal.out("queued again: \(retried.map(String.init).joined(separator: ", ")); flint serve sends them")
    }
}

struct SchedulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedules", abstract: "Braze schedules Flint created (scheduled runs); cancel one.",
        discussion: """
            Examples:
              flint schedules
              flint schedules --status unknown --zone Europe/Paris
              flint schedules cancel 1234
            """,
        subcommands: [SchedulesList.self, SchedulesCancel.self], defaultSubcommand: SchedulesList.self)
}

struct SchedulesList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List schedules, newest first.",
        discussion: """
            MODE says how Braze reads the time: utc (an instant), local (in_local_time: the wall clock \
            in each user's zone) or optimal (at_optimal_time: the date; Braze picks the hour).

            Examples:
              flint schedules
              flint schedules --status unknown
              flint schedules --zone America/New_York --wide
              flint schedules cancel 1234
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "scheduled (default), cancelled, unknown or pending.") var status = "scheduled"
    @OptionGroup var listing: ListingOptions

    func validate() throws {
        guard let s = RunStatus(rawValue: status), [.scheduled, .cancelled, .unknown, .pending].contains(s) else {
            throw ValidationError("--status must be scheduled, cancelled, unknown or pending")
        }
    }

    func run() async throws {
        let ledger = try StoreAccess.openForReading(try global.configuration())
        let zone = try listing.displayZone()
        let wide = listing.wide
        let status = RunStatus(rawValue: self.status)
        let page = try await Page.load(listing, id: \.id) { limit, before, after in
            try await ledger.runs(RunQuery(status: status, limit: limit, before: before, after: after, traces: listing.json))
        }
        let runs = page.rows
        if listing.json {
            Terminal.out(JSONValue.array(runs.map(\.json)).prettyJSON())
        } else if runs.isEmpty {
            Terminal.out("no \(self.status) schedules" + (listing.before != nil || listing.after != nil ? " on this page" : ""))
        } else {
            Terminal.out(Terminal.table(
                runs.map {
                    let send = $0.sendTime
                    return [String($0.id), Format.cell($0.ruleId, 18, wide: wide), Format.cell($0.user, 14, wide: wide), send.mode.rawValue,
                            send.cell(zone: zone), $0.scheduleId ?? "-", Format.cell(send.reason($0.reason, status: $0.status.rawValue), 40, wide: wide)]
                },
                header: ["RUN", "RULE", "USER", "MODE", listing.header("SEND AT"), "SCHEDULE ID", "REASON"]))
            if let line = page.cutOffLine(id: \.id) { Terminal.out(listing.palette.dim(line)) }
        }
    }
}

struct SchedulesCancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Cancel a run's send: locally if not sent yet, else through Braze's schedule/delete (flint serve does it).",
        discussion: """
            Examples:
              flint schedules cancel 1234
              flint schedules --status pending   # find the run id first
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The run's id.") var id: Int64

    func run() async throws {
        let config = try global.configuration()
        let store = try StoreAccess.openForWriting(config)
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
                try t.insertCancellation(
                    Cancellation(runId: id, scope: nil, handle: scheduleId, reason: "cancelled by hand (flint schedules cancel)", byEvent: nil, state: .pending, attempts: 0, nextAttemptAt: nil, lastError: nil),
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
