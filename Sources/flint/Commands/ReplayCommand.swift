import ArgumentParser
import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import Foundation

/// `flint replay` (docs/replay.md): decide the stored events of a window again with the rules in a
/// folder and say what would change. Read-only: it runs beside `flint serve`.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Decide stored events again with the rules in --rules DIR and show which runs would change.",
        discussion: """
            Each event of the window is decided as it was first decided (the same instant, settings and \
            profile), with rule state (once_per, max_sends) as it stood before the window and evolving within \
            it; nothing is written and nothing is sent. Per rule: runs that would appear, disappear, change \
            status, move in time or change their request, a few examples, and the send hours before and after. \
            Exit 0, or with --fail-on-change 1 when anything would change. docs/replay.md has the details.

            Examples:
              flint replay --rules ./rules --since 7d
              flint replay --rules ./rules --from 2026-11-01T00:00:00Z --to 2026-11-08T00:00:00Z --rule cart-abandoned
              flint replay --rules ./rules --since 7d --user u-42
              flint replay --rules ./rules --since 7d --fail-on-change --json > replay.json
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Replay the events received in this period before now (2h, 7d) or since an ISO 8601 time (default 7d).", valueName: "period"))
    var since: String?
    @Option(help: ArgumentHelp("Replay the events received at or after this ISO 8601 time (or this long ago: 7d).", valueName: "time"))
    var from: String?
    @Option(help: ArgumentHelp("Replay the events received before this ISO 8601 time (or this long ago: 1d).", valueName: "time"))
    var to: String?
    @Option(help: "Only this rule's runs (its id).") var rule: String?
    @Option(help: "Only this user's events (userId, else anonymousId).") var user: String?
    @Option(help: "Examples to show per rule.") var examples = 3
    @Flag(help: "Print {\"summary\": [{rule_id, added, removed, changed, unchanged}], \"changes\": [{event_id, rule_id, user, before, after}]}.")
    var json = false
    @Flag(help: "Exit 1 when any run would change (for CI).") var failOnChange = false
    @Flag(help: "Decide every run again with both versions, taking nothing from the ledger (slower; the same outcomes).")
    var exhaustive = false

    func validate() throws {
        _ = try window(now: Date())
        if examples < 0 { throw ValidationError("--examples must be 0 or more") }
    }

    /// The window the options name.
    func window(now: Date) throws -> ReplayWindow {
        if since != nil, from != nil || to != nil {
            throw ValidationError("give --since, or --from and --to, not both")
        }
        if since == nil, from == nil, to == nil { return ReplayWindow(from: now.addingTimeInterval(-7 * 86_400), to: nil) }
        if let since { return ReplayWindow(from: try Self.instant(since, option: "--since", now: now), to: nil) }
        let window = ReplayWindow(from: try from.map { try Self.instant($0, option: "--from", now: now) }, to: try to.map { try Self.instant($0, option: "--to", now: now) })
        if let a = window.from, let b = window.to, a >= b {
            throw ValidationError("--from \(from ?? "") is not before --to \(to ?? ""): the window is empty; give an earlier --from or a later --to")
        }
        return window
    }

    static func instant(_ text: String, option: String, now: Date) throws -> Date {
        if let seconds = DurationText.seconds(text) { return now.addingTimeInterval(-TimeInterval(seconds)) }
        if let date = Timestamp.parse(text) { return date }
        throw ValidationError("\(option) '\(text)' is neither an ISO 8601 time (2026-11-29T18:00:00Z) nor a duration before now (2h, 7d)")
    }

    func run() async throws {
        let config = try global.configuration()
        let window = try self.window(now: Date())
        let loaded = try RuleDirectory.loadValid(config.rules, refusing: "nothing was replayed", given: .configured(command: "flint replay"))

        guard StoreAccess.databaseExists(config) else {
            Terminal.err("error: no database at \(config.database): nothing to replay (point --database / FLINT_DATABASE at the one flint serve uses)")
            throw ExitCode(1)
        }
        let store = try StoreAccess.openReadOnly(config)
        if let rule, loaded.ruleSet.rule(id: rule) == nil {
            let known = try await store.knownRuleIds()
            if !known.contains(rule) {
                let all = Set(known).union(loaded.ruleSet.rules.map(\.id)).sorted()
                Terminal.err(
                    "error: --rule \(rule): no rule with that id in \(config.rules) nor in the ledger"
                        + (Configuration.suggest(rule, from: all).map { "; did you mean '\($0)'?" } ?? "")
                        + " (rules: \(all.isEmpty ? "none" : all.joined(separator: ", ")))")
                throw ExitCode(1)
            }
        }

        var replayer = Replayer(rules: loaded.ruleSet, onlyRule: rule, user: user, fallback: DecideContext(config.engineSettings))
        replayer.exhaustive = exhaustive
        // The human report shows statuses and times, not requests.
        replayer.showRequests = json
        // The bar goes to stderr, only on a terminal; stdout (the report, the JSON) stays clean.
        var bar: ProgressBar?
        var looked = false
        let report = try await replayer.run(source: store, window: window) { done, total in
            if !looked {
                looked = true
                bar = ProgressBar.onTerminal(label: "replay", totalBytes: Int64(max(1, total)))
            }
            bar?.update(events: done, bytesRead: Int64(done))
        }
        bar?.finish()

        if json {
            Terminal.out(report.json.prettyJSON())
        } else {
            Terminal.out(Self.render(report, window: window, rulesFolder: config.rules, examples: examples))
        }
        if failOnChange, report.anyChange { throw ExitCode(1) }
    }

    // MARK: Human output

    static func render(_ report: ReplayReport, window: ReplayWindow, rulesFolder: String, examples: Int) -> String {
        var lines: [String] = []
        let span = "\(window.from.map(Timestamp.formatUTC) ?? "the first event") .. \(window.to.map(Timestamp.formatUTC) ?? "now")"
        let rate = report.seconds > 0 ? " (\(ProgressBar.short(Double(report.events) / report.seconds)) events/s)" : ""
        lines.append(
            "replayed \(ProgressBar.grouped(report.events)) events received \(span) with the rules in \(rulesFolder), in "
                + String(format: "%.1f s", report.seconds) + rate + "; nothing was written or sent")
        if report.bounds.undecided > 0 {
            lines.append("\(ProgressBar.grouped(report.bounds.undecided)) events of the window are not decided yet and were not replayed")
        }
        if report.unreadable > 0 { lines.append("\(report.unreadable) stored events no longer read as events and were passed over") }
        if report.events == 0 {
            lines.append("no decided event in the window: nothing to compare (widen it with --since or --from/--to)")
            return lines.joined(separator: "\n")
        }
        lines.append("")
        let byRule = Dictionary(grouping: report.changes, by: \.ruleId)
        for s in report.summaries {
            guard s.differs else {
                lines.append("\(s.ruleId): \(ProgressBar.grouped(s.unchanged)) runs, all unchanged")
                continue
            }
            lines.append(
                "\(s.ruleId): \(ProgressBar.grouped(s.total)) runs: \(ProgressBar.grouped(s.added)) added, \(ProgressBar.grouped(s.removed)) removed, "
                    + "\(ProgressBar.grouped(s.changed)) changed, \(ProgressBar.grouped(s.unchanged)) unchanged")
            for (transition, count) in s.statusChanges.sorted(by: { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }) {
                lines.append("  status \(transition): \(ProgressBar.grouped(count))")
            }
            if let median = s.medianShift, let largest = s.largestShift {
                lines.append("  moved in time: \(ProgressBar.grouped(s.shifts.count)), median \(shift(median)), largest \(shift(largest))")
            }
            if s.requestChanges > 0 { lines.append("  request changed: \(ProgressBar.grouped(s.requestChanges))") }
            lines += histogram(s)
            for c in (byRule[s.ruleId] ?? []).prefix(examples) {
                let name = c.eventName.map { "'\($0)'" } ?? "event"
                lines.append("  e.g. user \(c.user), \(name) \(c.eventId) at \(Timestamp.formatUTC(c.eventTime)): \(describe(c.before)) -> \(describe(c.after))")
            }
        }
        let total = report.summaries.reduce(into: (added: 0, removed: 0, changed: 0, unchanged: 0)) {
            $0.added += $1.added
            $0.removed += $1.removed
            $0.changed += $1.changed
            $0.unchanged += $1.unchanged
        }
        lines.append("")
        let changing = total.added + total.removed + total.changed
        lines.append(
            changing == 0
                ? "no change: all \(ProgressBar.grouped(total.unchanged)) runs would be decided as they were"
                : "\(ProgressBar.grouped(changing)) runs would change (\(ProgressBar.grouped(total.added)) added, \(ProgressBar.grouped(total.removed)) removed, "
                    + "\(ProgressBar.grouped(total.changed)) changed), \(ProgressBar.grouped(total.unchanged)) unchanged")
        return lines.joined(separator: "\n")
    }

    static func describe(_ run: ReplayRun?) -> String {
        guard let run else { return "no run" }
        guard run.planned, let at = run.sendAt else { return run.status.rawValue }
        return "\(run.status.rawValue) at \(Timestamp.formatUTC(at))"
    }

    /// `+1h`, `-30m`, `+2d3h`.
    static func shift(_ seconds: Double) -> String {
        let sign = seconds < 0 ? "-" : "+"
        let s = Int(abs(seconds).rounded())
        if s == 0 { return "+0s" }
        return sign + DurationText.format(seconds: s)
    }

    /// Planned sends by local hour, before and after, one bar character per hour.
    static func histogram(_ s: ReplayRuleSummary) -> [String] {
        let top = max(s.hoursBefore.max() ?? 0, s.hoursAfter.max() ?? 0)
        guard top > 0, s.hoursBefore != s.hoursAfter else { return [] }
        let bars = Array(" ▁▂▃▄▅▆▇█")
        func row(_ counts: [Int]) -> String {
            String(counts.map { c in c == 0 ? "·" : bars[max(1, Int((Double(c) / Double(top) * 8).rounded(.up)))] })
        }
        func peak(_ counts: [Int]) -> String {
            guard let m = counts.max(), m > 0, let h = counts.firstIndex(of: m) else { return "no sends" }
            return "\(ProgressBar.grouped(counts.reduce(0, +))) sends, most at \(h < 10 ? "0" : "")\(h):00"
        }
        return [
            "  send hour (local)  0     6     12    18   23",
            "    before           \(row(s.hoursBefore))  \(peak(s.hoursBefore))",
            "    after            \(row(s.hoursAfter))  \(peak(s.hoursAfter))",
        ]
    }
}
