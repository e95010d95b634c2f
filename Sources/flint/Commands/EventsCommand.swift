import ArgumentParser
import FlintConsole
import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "List accepted (or rejected) events.",
        discussion: """
            Examples:
              flint events --since 2h
              flint events --before 90210
              flint events show m-123
            """,
        subcommands: [EventsList.self, EventsShow.self], defaultSubcommand: EventsList.self)
}

struct EventsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List events, newest first.",
        discussion: """
            Examples:
              flint events --name "Cart Abandoned" --since 2h
              flint events --user u-42 --zone Europe/Paris
              flint events --before 90210
              flint events --rejected
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this event name.") var name: String?
    @Option(help: "Only this user.") var user: String?
    @Option(help: "Only events received in this period (2h, 7d) or since an ISO 8601 time.") var since: String?
    @OptionGroup var listing: ListingOptions
    @Flag(help: "List rejected input instead, with the reasons.") var rejected = false

    var json: Bool { listing.json }
    var limit: Int { listing.limit }

    func validate() throws { _ = try parseSince(since) }

    func run() async throws {
        let ledger = try StoreAccess.openForReading(try global.configuration())
        let query = EventQuery(name: name, user: user, since: try parseSince(since), limit: limit, before: listing.before, after: listing.after)
        if rejected {
            let items = try await ledger.rejected(query)
            if json {
                Terminal.out(JSONValue.array(items.map(\.json)).prettyJSON())
            } else if items.isEmpty {
                Terminal.out("no rejected events")
            } else {
                Terminal.out(Terminal.table(
                    items.map { [String($0.id), Format.time($0.receivedAt), $0.sourceLabel, Format.truncate($0.errors.joined(separator: "; "), 70)] },
                    header: ["ID", "RECEIVED (UTC)", "SOURCE", "ERRORS"]))
                if items.contains(where: { $0.origin?.line == nil }) {
                    Terminal.out("FILE:N is the file's 1-based line (as in failed/NAME.errors.json); #N is the 0-based index in the request or array (as rejected[].index in the HTTP reply)")
                }
            }
            return
        }
        let page = try await Page.load(listing, id: \.seq) { limit, before, after in
            var q = query
            (q.limit, q.before, q.after) = (limit, before, after)
            return try await ledger.events(q)
        }
        let events = page.rows
        let zone = try listing.displayZone()
        let wide = listing.wide
        if json {
            Terminal.out(JSONValue.array(events.map(\.json)).prettyJSON())
        } else if events.isEmpty {
            Terminal.out(listing.before != nil || listing.after != nil ? "no events on this page" : "no events match")
        } else {
            Terminal.out(Terminal.table(
                events.map {
                    [String($0.seq), Format.time($0.receivedAt, zone: zone), Format.cell($0.messageId, 24, wide: wide),
                     $0.type == .identify ? "(identify)" : Format.cell($0.name ?? "", 24, wide: wide), Format.cell($0.userKey, 14, wide: wide), $0.source]
                },
                header: ["SEQ", listing.header("RECEIVED"), "ID", "EVENT", "USER", "SOURCE"]))
            if let line = page.cutOffLine(id: \.seq) { Terminal.out(listing.palette.dim(line)) }
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
        let runs = try await ledger.runs(RunQuery(event: e.messageId, limit: 1000, traces: json))
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

extension RejectedRecord {
    /// Where it came from, for the SOURCE column: `inbox/orders.ndjson:3`, `POST /v1/batch #2`, or,
    /// when the source did not say, its name and 0-based index (`ingest #4`).
    var sourceLabel: String {
        if let label = origin?.label, !label.isEmpty { return label }
        return "\(source) #\(index)"
    }
}
