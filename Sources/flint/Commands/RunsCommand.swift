import ArgumentParser
import FlintConsole
import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List runs: one (event, rule) pair each, with its status and why.",
        discussion: """
            Examples:
              flint runs --status failed
              flint runs --rule cart-abandoned --since 2h --zone America/New_York
              flint runs --follow
              flint runs show 1234
            """,
        subcommands: [RunsList.self, RunsShow.self],
        defaultSubcommand: RunsList.self
    )
}

struct RunsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List runs, newest first.",
        discussion: """
            SEND AT is when the send goes out: an instant (ISO 8601, UTC unless --zone), a wall clock \
            marked (local) for in_local_time rules (Braze sends at that time in each user's zone), or a \
            date marked (optimal) for at_optimal_time rules (Braze picks the hour). A line under the table \
            says when more rows exist and how to page to them.

            Examples:
              flint runs --status failed
              flint runs --rule cart-abandoned --since 2h --zone America/New_York
              flint runs --before 1234
              flint runs --follow
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this rule.") var rule: String?
    @Option(help: "Only this status: \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")).") var status: String?
    @Option(help: "Only this user (userId, else anonymousId).") var user: String?
    @Option(help: "Only runs of this event (its messageId).") var event: String?
    @Option(help: "Only runs created in this period (2h, 30m, 7d) or since an ISO 8601 time.") var since: String?
    @OptionGroup var listing: ListingOptions
    @Flag(help: "After the listing, print new runs as they are decided (oldest first) until Ctrl-C; with --json, one JSON object a line.")
    var follow = false
    @Option(help: ArgumentHelp("How often --follow looks for new runs.", valueName: "duration")) var interval = "250ms"

    func validate() throws {
        if let status, RunStatus(rawValue: status) == nil {
            throw ValidationError("--status '\(status)' is not one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        _ = try parseSince(since)
        if follow, listing.before != nil { throw ValidationError("--follow shows new runs: use it without --before") }
        guard let ms = DurationText.milliseconds(interval), ms >= 10 else {
            throw ValidationError("--interval '\(interval)' is not a duration of at least 10ms (e.g. 250ms, 1s)")
        }
    }

    /// The table reads compact rows only; `--json` shows each run's trace, so it is rebuilt.
    func query(limit: Int, before: Int64?, after: Int64?) throws -> RunQuery {
        RunQuery(
            rule: rule, status: status.flatMap(RunStatus.init(rawValue:)), user: user, event: event, since: try parseSince(since), limit: limit,
            before: before, after: after, traces: listing.json)
    }

    func run() async throws {
        let ledger = try StoreAccess.openForReading(try global.configuration())
        let zone = try listing.displayZone()
        let palette = listing.palette
        if follow {
            try await self.follow(ledger, zone: zone, palette: palette)
            return
        }
        let page = try await Page.load(listing, id: \.id) { limit, before, after in
            try await ledger.runs(try query(limit: limit, before: before, after: after))
        }
        if listing.json {
            Terminal.out(JSONValue.array(page.rows.map(\.json)).prettyJSON())
            return
        }
        if page.rows.isEmpty {
            Terminal.out(listing.before != nil || listing.after != nil ? "no runs on this page" : "no runs match")
            return
        }
        Terminal.out(Terminal.table(page.rows.map { cells($0, zone: zone, palette: palette) }, header: header))
        if let line = page.cutOffLine(id: \.id) { Terminal.out(palette.dim(line)) }
    }

    var header: [String] {
        ["ID", listing.header("CREATED"), "RULE", "USER", "STATUS", listing.header("SEND AT"), "REASON"]
    }

    func cells(_ r: RunRecord, zone: TimeZone?, palette: Palette) -> [String] {
        let wide = listing.wide
        let send = r.sendTime
        return [
            String(r.id), Format.time(r.createdAt, zone: zone), Format.cell(r.ruleId, 20, wide: wide), Format.cell(r.user, 14, wide: wide),
            palette.status(r.status.rawValue), r.sendAt == nil && send.mode == .utc ? "-" : send.cell(zone: zone),
            Format.cell(send.reason(r.reason, status: r.status.rawValue), 48, wide: wide),
        ]
    }

    /// The last page, then every new run as it is decided, until SIGINT or SIGTERM.
    private func follow(_ ledger: any LedgerReader, zone: TimeZone?, palette: Palette) async throws {
        let stop = StopSignal()
        let pause = Duration.milliseconds(DurationText.milliseconds(interval) ?? 250)
        var cursor = listing.after
        var backlog = try await ledger.runs(try query(limit: listing.limit, before: nil, after: cursor))
        // Fixed widths: rows arrive one at a time, so the table cannot measure them all.
        let widths = [7, zone == nil ? 20 : 25, 20, 14, 11, 25]
        func emit(_ runs: [RunRecord]) {
            for r in runs.reversed() {
                if listing.json {
                    Terminal.out(r.json.compactJSON, flush: false)
                } else {
                    Terminal.out(Self.fixed(cells(r, zone: zone, palette: palette), widths: widths))
                }
                cursor = r.id
            }
            fflush(nil)
        }
        if !listing.json { Terminal.out(Self.fixed(header, widths: widths), flush: true) }
        emit(backlog)
        if cursor == nil {
            // Nothing matched yet: start after the newest run of any kind (none: from the start).
            cursor = try await ledger.runs(RunQuery(limit: 1, traces: false)).first?.id
        }
        while !stop.stopped {
            // No cursor (the store was empty): run ids start at 1, so every run is newer than 0.
            backlog = try await ledger.runs(try query(limit: 500, before: nil, after: cursor ?? 0))
            emit(backlog)
            if backlog.count == 500 { continue }
            try? await Task.sleep(for: pause)
        }
    }

    /// Cells padded to fixed widths (wider cells push the line, they are not cut).
    static func fixed(_ cells: [String], widths: [Int]) -> String {
        cells.enumerated().map { i, cell in
            i < widths.count ? cell + String(repeating: " ", count: max(0, widths[i] - Terminal.visibleWidth(cell))) : cell
        }.joined(separator: "  ")
    }
}

struct RunsShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Everything about one run: gates, planner steps, the request.",
        discussion: """
            Examples:
              flint runs show 1234
              flint runs show 1234 --zone Europe/Paris
              flint runs show 1234 --json
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The run's id (from flint runs).") var id: Int64
    @Option(help: ArgumentHelp("Show times in this IANA zone, with its offset, instead of UTC.", valueName: "zone")) var zone: String?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        _ = try ListingOptions.parse(zone.map { ["--zone", $0] } ?? []).displayZone()
    }

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
        let tz = try ListingOptions.parse(zone.map { ["--zone", $0] } ?? []).displayZone()
        func time(_ d: Date) -> String { tz == nil ? Timestamp.formatUTCMillis(d) : Format.time(d, zone: tz) }
        Terminal.out("run \(r.id): \(Palette.forListing(json: false).status(r.status.rawValue))")
        var rows: [[String]] = [
            ["rule", "\(r.ruleId) (version \(r.ruleVersion))"],
            ["event", "\(r.eventId)" + (event.map { " '\($0.name ?? $0.type.rawValue)' at \(Format.time($0.timestamp, zone: tz)), received \(Format.time($0.receivedAt, zone: tz)) via \($0.source)" } ?? "")],
            ["user", r.user],
            ["reason", r.sendTime.reason(r.reason, status: r.status.rawValue)],
            ["action", r.action],
        ]
        if r.sendAt != nil || r.sendTime.mode != .utc { rows.append(["send at", r.sendTime.sentence(zone: tz)]) }
        if let s = r.schedule { rows.append(["schedule", s.compactJSON]) }
        if r.scheduleId != nil || r.dispatchId != nil {
            rows.append(["braze", "schedule_id \(r.scheduleId ?? "-"), dispatch_id \(r.dispatchId ?? "-")"])
        }
        if let c = r.cancelledBy { rows.append(["cancelled by", c]) }
        rows.append(["created", time(r.createdAt)])
        rows.append(["updated", time(r.updatedAt)])
        if let zone = r.trace.zone { rows.append(["zone", zone]) }
        Terminal.out(Terminal.table(rows.map { ["  " + $0[0]] + [$0[1]] }))
        if let note = r.trace.note { Terminal.out("note: " + note) }
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
