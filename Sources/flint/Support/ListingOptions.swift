import ArgumentParser
import FlintRules
import Foundation

/// The options every listing shares: how many, which page, which zone, how wide, JSON.
struct ListingOptions: ParsableArguments {
    @Option(help: "At most this many rows.")
    var limit = 50

    @Option(help: ArgumentHelp("Older rows: the page after this id (the cut-off line under a table names it).", valueName: "id"))
    var before: Int64?

    @Option(help: ArgumentHelp("Newer rows: the page before this id.", valueName: "id"))
    var after: Int64?

    @Option(help: ArgumentHelp(
        "Show times in this IANA zone, with its offset (2026-11-29T10:05:00-08:00), instead of UTC (2026-11-29T18:05:00Z).",
        valueName: "zone"))
    var zone: String?

    @Flag(help: "Print whole cells (reasons, errors) instead of cutting them to fit.")
    var wide = false

    @Flag(help: "Print a JSON array (times in UTC; no colour, no cut-off line).")
    var json = false

    func validate() throws {
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
        if before != nil, after != nil { throw ValidationError("give --before or --after, not both (one page at a time)") }
        _ = try displayZone()
    }

    /// The zone for times in tables: nil for UTC.
    func displayZone() throws -> TimeZone? {
        guard let zone else { return nil }
        guard let tz = ZoneName.resolve(zone == "Z" ? "UTC" : zone) else {
            let near = ZoneName.suggestions(for: zone)
            throw ValidationError(
                "--zone '\(zone)' is not an IANA time zone"
                    + (near.isEmpty ? " (e.g. America/Los_Angeles, Europe/Paris, UTC)" : "; did you mean \(near.map { "'\($0)'" }.joined(separator: ", "))?"))
        }
        return Format.isUTC(tz) ? nil : tz
    }

    /// `CREATED (UTC)`, `CREATED (America/Los_Angeles)`.
    func header(_ name: String) -> String {
        "\(name) (\((try? displayZone()).map { Format.zoneLabel($0) } ?? "UTC"))"
    }

    var palette: Palette { Palette.forListing(json: json) }
}

/// One page of a listing and what lies beyond it, for the line under the table.
struct Page<Row> {
    var rows: [Row]
    /// Rows older than the last one shown exist.
    var moreOlder: Bool
    /// Rows newer than the first one shown exist.
    var moreNewer: Bool

    /// Fetches `limit + 1` rows in the page's direction (to know whether more exist) and, when a
    /// cursor was given, one row the other way. `fetch(limit, before, after)` returns newest first.
    static func load(
        _ options: ListingOptions, id: (Row) -> Int64, fetch: (_ limit: Int, _ before: Int64?, _ after: Int64?) async throws -> [Row]
    ) async throws -> Page<Row> {
        let limit = options.limit
        var rows = try await fetch(limit + 1, options.before, options.after)
        var older = false, newer = false
        if options.after != nil {
            // The rows just newer than the cursor, newest first: the extra row is the newest.
            if rows.count > limit {
                newer = true
                rows.removeFirst(rows.count - limit)
            }
            if let last = rows.last { older = try await !fetch(1, id(last), nil).isEmpty }
        } else {
            if rows.count > limit {
                older = true
                rows.removeLast(rows.count - limit)
            }
            if options.before != nil, let first = rows.first { newer = try await !fetch(1, nil, id(first)).isEmpty }
        }
        return Page(rows: rows, moreOlder: older, moreNewer: newer)
    }

    /// `(50 shown, more older: flint runs --before 1234)`, with the command's other arguments kept;
    /// nil when nothing lies beyond this page.
    func cutOffLine(id: (Row) -> Int64, arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> String? {
        guard moreOlder || moreNewer, let first = rows.first, let last = rows.last else { return nil }
        let base = (["flint"] + Self.withoutPaging(arguments)).map(Self.shellQuoted).joined(separator: " ")
        var parts: [String] = []
        if moreOlder { parts.append("more older: \(base) --before \(id(last))") }
        if moreNewer { parts.append("more newer: \(base) --after \(id(first))") }
        return "(\(rows.count) shown, " + parts.joined(separator: "; ") + ")"
    }

    /// The arguments without `--before X`, `--after X` (or `--before=X`).
    static func withoutPaging(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var skip = false
        for a in arguments {
            if skip {
                skip = false
                continue
            }
            if a == "--before" || a == "--after" {
                skip = true
                continue
            }
            if a.hasPrefix("--before=") || a.hasPrefix("--after=") { continue }
            out.append(a)
        }
        return out
    }

    static func shellQuoted(_ s: String) -> String {
        let plain = s.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "-_./:=@,+%".unicodeScalars.contains($0) }
        return plain && !s.isEmpty ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
