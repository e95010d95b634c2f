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
            let engine = Engine(store: store, ruleBook: RuleBook(), settings: EngineSettings())
            try await engine.install(loaded.ruleSet)
            var rng = SplitMix64(seed: seed)
            let clock = ContinuousClock()
            let start = clock.now
            var i = Int(have.lastAccepted)
            while i < events {
                let n = min(5000, events - i)
                let batch = (i..<(i + n)).map { IncomingEvent(value: Self.event($0, users: users, rng: &rng)) }
                _ = try await engine.submitAndDecide(batch, source: "bench")
                i += n
            }
            Terminal.out(String(format: "  filled in %.1f s", (clock.now - start).seconds))
        }
        try store.close()
        store = try SQLiteStateStore(path: path, readOnly: true)
        let status = try await store.status()
        Terminal.out(
            "flint bench replay: \(ProgressBar.grouped(status.events)) events, \(ProgressBar.grouped(status.runsByStatus.values.reduce(0, +))) runs ("
                + RunStatus.allCases.compactMap { s in status.runsByStatus[s].map { "\(s.rawValue) \($0)" } }.joined(separator: ", ")
                + "), \(ProcessInfo.processInfo.activeProcessorCount) cores")
        // The same rules (the common case: most rules of a pull request are untouched), then one rule,
        // then every rule edited without changing what it decides (`mode: live` written out: a new
        // version), so their decisions are made again, twice (the stored version and the new one).
        let files = try RuleDirectory.files(at: rulesFolder).filter { !RuleDirectory.isTestFile($0) }.map(RuleDirectory.read)
        let edited = RuleLoader.load(files.map { RuleFile(path: $0.path, text: $0.text + "\nmode: live\n") })
        guard edited.isValid else {
            Terminal.err("error: the rules in \(rulesFolder) must be one rule per file for the edited round")
            throw ExitCode(1)
        }
        let one = RuleLoader.load(files.enumerated().map { RuleFile(path: $1.path, text: $1.text + ($0 == 0 ? "\nmode: live\n" : "")) })
        for (label, rules) in [("same rules", loaded.ruleSet), ("one rule edited", one.ruleSet), ("every rule edited", edited.ruleSet)] {
            var best = 0.0
            for round in 1...max(1, repeats) {
                let replayer = Replayer(rules: rules, fallback: DecideContext(EngineSettings()))
                let report = try await replayer.run(source: store, window: ReplayWindow())
                let rate = Double(report.events) / report.seconds
                best = max(best, rate)
                let runs = report.summaries.reduce(0) { $0 + $1.total }
                Terminal.out(
                    "  \(label), replay \(round): "
                        + String(format: "%d events in %.2f s = %.0f events/s (%d runs compared, %d changed; peak RSS %d MB)",
                            report.events, report.seconds, rate, runs, report.changes.count, BenchIngest.peakRSSMB()))
                if report.anyChange {
                    Terminal.err("error: replaying (\(label)) changed \(report.changes.count) runs; the first: \(report.changes[0].json.compactJSON)")
                    throw ExitCode(1)
                }
            }
            Terminal.out("  \(label): best " + String(format: "%.0f events/s", best))
        }
    }

    /// A `Cart Abandoned` (most), `Order Completed` or identify call.
    static func event(_ i: Int, users: Int, rng: inout SplitMix64) -> JSONValue {
        let zones = ["America/Los_Angeles", "Europe/Paris", "Asia/Tokyo", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]
        let user = "user-\(rng.next() % UInt64(max(1, users)))"
        let timestamp = Timestamp.formatUTC(Date(timeIntervalSince1970: 1_796_000_000 + Double(i) * 0.5))
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
