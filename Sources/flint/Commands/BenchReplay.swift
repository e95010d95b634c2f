import ArgumentParser
import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import Foundation

/// `flint bench replay`: events per second `flint replay` decides again, over a store the engine
/// itself filled (the events decided with the same rules, so every run must come out unchanged).
struct BenchReplay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Events per second flint replay decides again and compares, over a store the engine filled.",
        discussion: """
            Fills a SQLite file with --events events through the engine (accept and decide, with the rules in \
            --rules-folder), unless --database names one that already has them, then replays them all with \
            the same rules (every run must come out unchanged) and prints events/s.

            Examples:
              flint bench replay --events 200000
              flint bench replay --events 1000000 --database /tmp/replay-1m.db   # kept: a second run only replays
            """
    )

    @Option(help: "Events in the store.") var events = 200_000
    @Option(help: ArgumentHelp("The rules (default: scripts/bench-rules).", valueName: "dir")) var rulesFolder = "scripts/bench-rules"
    @Option(help: "Keep the store in this file (reused when it already holds --events events).") var database: String?
    @Option(help: "Users the events are spread over.") var users = 50_000
    @Option(help: "Times to replay (the best is reported too).") var repeats = 3
    @Option(help: "Seed for the generated events.") var seed: UInt64 = 11

    func run() async throws {
        #if DEBUG
            Terminal.err("warning: this is a debug build; measure with: swift build -c release --product flint && .build/release/flint bench replay")
        #endif
        let loaded = try RuleDirectory.loadValid(rulesFolder, refusing: "nothing was measured", given: .option(command: "flint bench replay"))
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("flint-bench-replay-\(UUID().uuidString)")
        let path = database ?? dir.appendingPathComponent("replay.db").path
        defer { if database == nil { try? FileManager.default.removeItem(at: dir) } }

        var store = try SQLiteStateStore(path: path)
        let have = try await store.decideProgress()
        if have.decidedThrough < Int64(events) {
            Terminal.out("flint bench replay: filling \(path) with \(ProgressBar.grouped(events)) events through the engine (\(loaded.ruleSet.rules.count) rules)")
            // Decided as they arrive: each batch a second after its last event (so a schedule edit moves sends).
            let clock = BenchClock()
            let engine = Engine(store: store, ruleBook: RuleBook(), settings: EngineSettings(), now: { clock.now })
            try await engine.install(loaded.ruleSet)
            var rng = SplitMix64(seed: seed)
            let timer = ContinuousClock()
            let start = timer.now
            var i = Int(have.lastAccepted)
            while i < events {
                let n = min(5000, events - i)
                let batch = (i..<(i + n)).map { IncomingEvent(value: Self.event($0, users: users, rng: &rng)) }
                clock.now = Self.time(i + n - 1).addingTimeInterval(1)
                _ = try await engine.submitAndDecide(batch, source: "bench")
                i += n
            }
            Terminal.out(String(format: "  filled in %.1f s", (timer.now - start).seconds))
        }
        try store.close()
        store = try SQLiteStateStore(path: path, readOnly: true)
        let status = try await store.status()
        Terminal.out(
            "flint bench replay: \(ProgressBar.grouped(status.events)) events, \(ProgressBar.grouped(status.runsByStatus.values.reduce(0, +))) runs ("
                + RunStatus.allCases.compactMap { s in status.runsByStatus[s].map { "\(s.rawValue) \($0)" } }.joined(separator: ", ")
                + "), \(ProcessInfo.processInfo.activeProcessorCount) cores")
        // The same rules (the common case: most rules of a pull request are untouched), then edits of
        // one rule and of every rule, by the part of the rule they touch (docs/replay.md, How it is
        // fast): none of what decides (`mode: live` written out), the conditions, the schedule, the
        // send. Each edit is replayed again exhaustively (every run decided again with both versions)
        // once, which must find the same outcomes, and shows what the shortcuts save.
        let files = try RuleDirectory.files(at: rulesFolder).filter { !RuleDirectory.isTestFile($0) }.map(RuleDirectory.read)
        var rounds: [(label: String, rules: RuleSet, expectChange: Bool)] = [("same rules", loaded.ruleSet, false)]
        for edit in Self.edits {
            let texts = files.enumerated().map { i, file in edit.everyRule || i == 0 ? edit.apply(file.text) : file.text }
            guard texts != files.map(\.text) else {
                Terminal.out("  \(edit.label): skipped, no rule in \(rulesFolder) has what it edits")
                continue
            }
            let result = RuleLoader.load(zip(files, texts).map { RuleFile(path: $0.path, text: $1) })
            guard result.isValid else {
                Terminal.err("error: the rules in \(rulesFolder) must be one rule per file for the round \(edit.label)")
                throw ExitCode(1)
            }
            rounds.append((edit.label, result.ruleSet, edit.changes))
        }
        var table: [String] = []
        for round in rounds {
            var best = 0.0
            var fast: ReplayReport?
            for r in 1...max(1, repeats) {
                // As `flint replay` prints its report (no requests in it).
                var replayer = Replayer(rules: round.rules, fallback: DecideContext(EngineSettings()))
                replayer.showRequests = false
                let report = try await replayer.run(source: store, window: ReplayWindow())
                best = max(best, Self.line(round.label, "replay \(r)", report))
                fast = report
            }
            // As `flint replay --json` (every change with its requests).
            let withRequests = try await Replayer(rules: round.rules, fallback: DecideContext(EngineSettings())).run(source: store, window: ReplayWindow())
            let json = Self.line(round.label, "with requests", withRequests)
            guard let fast else { continue }
            if round.expectChange != fast.anyChange {
                Terminal.err("error: replaying (\(round.label)) " + (fast.anyChange ? "changed \(fast.changes.count) runs; the first: \(fast.changes[0].json.compactJSON)" : "changed nothing"))
                throw ExitCode(1)
            }
            var slow = 0.0
            if round.label != "same rules" {
                var replayer = Replayer(rules: round.rules, fallback: DecideContext(EngineSettings()))
                replayer.exhaustive = true
                let report = try await replayer.run(source: store, window: ReplayWindow())
                slow = Self.line(round.label, "exhaustive", report)
                guard Self.outcomes(report) == Self.outcomes(fast) else {
                    Terminal.err("error: replaying (\(round.label)) exhaustively found other outcomes than the shortcuts")
                    throw ExitCode(1)
                }
            }
            guard Self.outcomes(withRequests) == Self.outcomes(fast) else {
                Terminal.err("error: replaying (\(round.label)) with requests found other outcomes than without")
                throw ExitCode(1)
            }
            table.append(
                "| \(round.label) | " + String(format: "%.0f | %.0f | ", best, json)
                    + (slow > 0 ? String(format: "%.0f | %.1fx", slow, best / slow) : "- | -") + " | \(ProgressBar.grouped(fast.changes.count)) |")
        }
        Terminal.out(
            "\n| replay | events/s (best) | with requests (--json) | exhaustive | best / exhaustive | runs changed |\n| --- | --- | --- | --- | --- | --- |")
        for row in table { Terminal.out(row) }
    }

    /// Prints one replay's figures; returns its events per second.
    private static func line(_ label: String, _ what: String, _ report: ReplayReport) -> Double {
        let rate = Double(report.events) / max(report.seconds, 1e-9)
        let runs = report.summaries.reduce(0) { $0 + $1.total }
        Terminal.out(
            "  \(label), \(what): "
                + String(format: "%d events in %.2f s = %.0f events/s (%d runs compared, %d changed; peak RSS %d MB)",
                    report.events, report.seconds, rate, runs, report.changes.count, BenchIngest.peakRSSMB()))
        return rate
    }

    /// Per rule, the counts a replay reports (what the shortcuts and an exhaustive replay must agree on).
    private static func outcomes(_ report: ReplayReport) -> [String] {
        report.summaries.map { s in
            "\(s.ruleId) \(s.added) \(s.removed) \(s.changed) \(s.unchanged) \(s.statusChanges.sorted { $0.key < $1.key }) \(s.shifts.count) \(s.requestChanges)"
        }
    }

    /// An edit of the rule files' text.
    struct Edit: Sendable {
        var label: String
        var everyRule: Bool
        /// Whether runs change (false: a new version that decides the same).
        var changes: Bool
        var apply: @Sendable (String) -> String
    }

    static let edits: [Edit] = {
        func replacing(_ pattern: String, _ transform: @escaping @Sendable (String) -> String) -> @Sendable (String) -> String {
            { text in
                guard let regex = try? NSRegularExpression(pattern: pattern) else { return text }
                var out = text
                for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).reversed() {
                    guard let range = Range(match.range, in: text) else { continue }
                    out.replaceSubrange(range, with: transform(String(text[range])))
                }
                return out
            }
        }
        // A comparison's number raised by 5: `{ gte: 20 }` -> `{ gte: 25 }`.
        let threshold = replacing(#"\{ (gte|gt|lte|lt): [0-9]+ \}"#) { match in
            let parts = match.dropFirst(2).dropLast(2).split(separator: " ")
            return "{ \(parts[0]) \((Int(parts[1]) ?? 0) + 5) }"
        }
        // `at: "10:00"` an hour later, `after: 2h` an hour longer.
        let schedule = replacing(#"(at: "[0-9]{2}:|after: [0-9]+h)"#) { match in
            if match.hasPrefix("at") {
                let hour = Int(match.dropFirst(5).prefix(2)) ?? 0
                return "at: \"" + String(format: "%02d", (hour + 1) % 24) + ":"
            }
            return "after: \((Int(match.dropFirst(7).dropLast()) ?? 0) + 1)h"
        }
        // One more trigger property.
        let send = replacing(#"\n( +)trigger_properties:\n( +)"#) { match in
            let indent = match.split(separator: "\n", omittingEmptySubsequences: false).last ?? ""
            return match + "edited: \"yes\"\n" + indent
        }
        return [
            Edit(label: "every rule: mode written out", everyRule: true, changes: false) { $0 + "\nmode: live\n" },
            Edit(label: "one rule: threshold", everyRule: false, changes: true, apply: threshold),
            Edit(label: "every rule: threshold", everyRule: true, changes: true, apply: threshold),
            Edit(label: "one rule: schedule", everyRule: false, changes: true, apply: schedule),
            Edit(label: "every rule: schedule", everyRule: true, changes: true, apply: schedule),
            Edit(label: "every rule: send", everyRule: true, changes: true, apply: send),
        ]
    }()

    /// The time of event `i`: two a second from 2026-11-30T00:53:20Z.
    static func time(_ i: Int) -> Date { Date(timeIntervalSince1970: 1_796_000_000 + Double(i) * 0.5) }

    /// A `Cart Abandoned` (most), `Order Completed` or identify call.
    static func event(_ i: Int, users: Int, rng: inout SplitMix64) -> JSONValue {
        let zones = ["America/Los_Angeles", "Europe/Paris", "Asia/Tokyo", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]
        let user = "user-\(rng.next() % UInt64(max(1, users)))"
        let timestamp = Timestamp.formatUTC(time(i))
        let roll = rng.next() % 100
        if roll < 3 {
            return [
                "type": "identify", "messageId": .string("bench-\(i)"), "userId": .string(user), "timestamp": .string(timestamp),
                "traits": ["plan": .string(rng.next() % 2 == 0 ? "pro" : "free"), "time_zone": .string(zones[Int(rng.next() % UInt64(zones.count))])],
            ]
        }
        var context: [String: JSONValue] = ["library": ["name": "analytics-node", "version": "6.0.0"]]
        if rng.next() % 4 != 0 { context["timezone"] = .string(zones[Int(rng.next() % UInt64(zones.count))]) }
        return [
            "type": "track", "event": roll < 10 ? "Order Completed" : "Cart Abandoned", "messageId": .string("bench-\(i)"), "userId": .string(user),
            "timestamp": .string(timestamp),
            "properties": ["cart_value": .number(Double(rng.next() % 120_000) / 100), "currency": "USD", "sku": .string("SKU-\(rng.next() % 9000)")],
            "context": .object(context),
        ]
    }
}

/// The instant the bench's engine decides at, set before each batch.
private final class BenchClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value = Date(timeIntervalSince1970: 0)

    var now: Date {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}
