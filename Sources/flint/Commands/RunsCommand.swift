import ArgumentParser
import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List runs: one (event, rule) pair each, with its status and why.",
        subcommands: [RunsList.self, RunsShow.self],
        defaultSubcommand: RunsList.self
    )
}

struct RunsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List runs, newest first.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this rule.") var rule: String?
    @Option(help: "Only this status: \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")).") var status: String?
    @Option(help: "Only this user (userId, else anonymousId).") var user: String?
    @Option(help: "Only runs of this event (its messageId).") var event: String?
    @Option(help: "Only runs created in this period (2h, 30m, 7d) or since an ISO 8601 time.") var since: String?
    @Option(help: "At most this many.") var limit = 50
    @Flag(help: "Print a JSON array.") var json = false

    func validate() throws {
        if let status, RunStatus(rawValue: status) == nil {
            throw ValidationError("--status '\(status)' is not one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
        _ = try parseSince(since)
    }

    func run() async throws {
        let ledger = try StoreAccess.openForReading(try global.configuration())
        let runs = try await ledger.runs(
            RunQuery(rule: rule, status: status.flatMap(RunStatus.init(rawValue:)), user: user, event: event, since: try parseSince(since), limit: limit))
        if json {
            Terminal.out(JSONValue.array(runs.map(\.json)).prettyJSON())
            return
        }
        if runs.isEmpty {
            Terminal.out("no runs match")
            return
        }
        let rows = runs.map { r in
            [String(r.id), Format.time(r.createdAt), Format.truncate(r.ruleId, 20), Format.truncate(r.user, 14), r.status.rawValue,
             r.sendAt.map(Format.time) ?? "-", Format.truncate(r.reason, 44)]
        }
        Terminal.out(Terminal.table(rows, header: ["ID", "CREATED (UTC)", "RULE", "USER", "STATUS", "SEND AT (UTC)", "REASON"]))
        if runs.count == limit { Terminal.out("(first \(limit); use --limit or filters for more)") }
    }
}

struct RunsShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Everything about one run: gates, planner steps, the request.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The run's id (from flint runs).") var id: Int64
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let ledger = try StoreAccess.openForReading(try global.configuration())
        guard let r = try await ledger.run(id: id) else {
            Terminal.err("error: no run \(id) (flint runs lists them)")
            throw ExitCode(1)
        }
        if json {
            Terminal.out(r.json.prettyJSON())
            return
        }
        let event = try await ledger.event(id: r.eventId)
        Terminal.out("run \(r.id): \(r.status.rawValue)")
        var rows: [[String]] = [
            ["rule", "\(r.ruleId) (version \(r.ruleVersion))"],
            ["event", "\(r.eventId)" + (event.map { " '\($0.name ?? $0.type.rawValue)' at \(Timestamp.formatUTC($0.timestamp)), received \(Timestamp.formatUTC($0.receivedAt)) via \($0.source)" } ?? "")],
            ["user", r.user],
            ["reason", r.reason],
            ["action", r.action],
        ]
        if let sendAt = r.sendAt { rows.append(["send at", Timestamp.formatUTC(sendAt)]) }
        if let s = r.schedule { rows.append(["schedule", s.compactJSON]) }
        if r.scheduleId != nil || r.dispatchId != nil {
            rows.append(["braze", "schedule_id \(r.scheduleId ?? "-"), dispatch_id \(r.dispatchId ?? "-")"])
        }
        if let c = r.cancelledBy { rows.append(["cancelled by", c]) }
        rows.append(["created", Timestamp.formatUTCMillis(r.createdAt)])
        rows.append(["updated", Timestamp.formatUTCMillis(r.updatedAt)])
        if let zone = r.trace.zone { rows.append(["zone", zone]) }
        Terminal.out(Terminal.table(rows.map { ["  " + $0[0]] + [$0[1]] }))
        Terminal.out("gates:")
        Terminal.out(Terminal.table(r.trace.gates.map { ["  " + ($0.passed ? "pass" : "FAIL"), $0.name, $0.detail] }))
        if !r.trace.steps.isEmpty {
            Terminal.out("planner:")
            Terminal.out(Terminal.table(r.trace.steps.map { ["  " + $0.kind.rawValue, $0.message] }))
        }
        if let request = r.request {
            Terminal.out(r.action == "braze" ? "request: POST /campaigns/trigger/schedule/create" : "request: action '\(r.action)'")
            Terminal.out(request.prettyJSON().split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        }
    }
}
