import ArgumentParser
import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import Foundation

/// `flint bench ingest`: events through the whole pipeline into a SQLite file, group commit against one
/// commit per event, with the peak RSS.
struct BenchIngest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Events per second through decode, dedupe, match, plan and commit into a SQLite file.",
        discussion: """
            Examples:
              flint bench ingest
              flint bench ingest --events 200000 --single 0
              flint bench ingest --submitters 8 --batch 500 --directory /tmp
            """
    )

    @Option(help: "Events committed in groups.") var events = 1_000_000
    @Option(help: "Events per submitted batch in the group-commit run.") var batch = 1000
    @Option(help: "Concurrent submitters in the group-commit run.") var submitters = 4
    @Option(help: "Events committed one per transaction (0 to skip).") var single = 100_000
    @Option(help: "How many rules.") var rules = 100
    @Option(help: "Where to put the database files (removed afterwards).") var directory: String?
    @Option(help: "Seed for the generated events.") var seed: UInt64 = 7

    func run() async throws {
        #if DEBUG
            Terminal.err("warning: this is a debug build; measure with: swift run -c release flint bench ingest")
        #endif
        let dir = URL(fileURLWithPath: directory ?? NSTemporaryDirectory()).appendingPathComponent("flint-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let loaded = RuleLoader.load([RuleFile(path: "bench.yaml", text: Self.ruleText(count: rules))])
        guard loaded.isValid else { throw ExitCode(1) }

        Terminal.out("flint bench ingest: \(rules) rules, events of about 300 bytes, SQLite (WAL, synchronous=NORMAL) in \(dir.path)")
        var rng = SplitMix64(seed: seed)
        let groupLines = (0..<events).map { Self.event($0, rng: &rng) }
        let mean = groupLines.reduce(0) { $0 + $1.utf8.count } / max(1, groupLines.count)
        Terminal.out("  mean event size: \(mean) bytes; RSS before: \(Self.rssMB()) MB")

        // Group commit: several submitters, each sending batches (as HTTP clients or files would).
        let groupStore = try SQLiteStateStore(path: dir.appendingPathComponent("group.db").path)
        let groupEngine = Engine(store: groupStore, ruleBook: RuleBook(), settings: EngineSettings())
        try await groupEngine.install(loaded.ruleSet)
        let clock = ContinuousClock()
        var start = clock.now
        let perSubmitter = (groupLines.count + submitters - 1) / submitters
        try await withThrowingTaskGroup(of: Void.self) { group in
            for s in 0..<submitters {
                let lines = Array(groupLines[min(s * perSubmitter, groupLines.count)..<min((s + 1) * perSubmitter, groupLines.count)])
                group.addTask {
                    var i = 0
                    while i < lines.count {
                        let slice = lines[i..<min(i + batch, lines.count)].map { IncomingEvent(value: try! JSONParser.parse($0)) }
                        _ = try await groupEngine.submit(slice, source: "bench")
                        i += batch
                    }
                }
            }
            try await group.waitForAll()
        }
        let groupTime = (clock.now - start).seconds
        let groupStatus = try await groupStore.ledger.status()
        let groupRSS = Self.peakRSSMB()
        Terminal.out(String(format: "  group commit:   %8d events in %6.1f s = %7.0f events/s  (%d runs, %d pending sends; peak RSS %d MB)",
            events, groupTime, Double(events) / groupTime, groupStatus.runsByStatus.values.reduce(0, +), groupStatus.outboxPending, groupRSS))

        if single > 0 {
            let singleStore = try SQLiteStateStore(path: dir.appendingPathComponent("single.db").path)
            let singleEngine = Engine(store: singleStore, ruleBook: RuleBook(), settings: EngineSettings())
            try await singleEngine.install(loaded.ruleSet)
            var rng2 = SplitMix64(seed: seed &+ 1)
            let lines = (0..<single).map { Self.event($0, rng: &rng2) }
            start = clock.now
            for line in lines {
                _ = try await singleEngine.submit([IncomingEvent(value: try JSONParser.parse(line))], source: "bench")
            }
            let singleTime = (clock.now - start).seconds
            Terminal.out(String(format: "  one per commit: %8d events in %6.1f s = %7.0f events/s", single, singleTime, Double(single) / singleTime))
            Terminal.out(String(format: "  group commit / one per commit: %.1fx", (Double(events) / groupTime) / (Double(single) / singleTime)))
        }
        Terminal.out("  peak RSS of the whole run: \(Self.peakRSSMB()) MB (the generated events alone hold about \(events * mean / 1_000_000) MB)")
    }

    static func event(_ i: Int, rng: inout SplitMix64) -> String {
        let name = "Event \(rng.next() % 100)"
        let zones = ["America/Los_Angeles", "Europe/Paris", "Asia/Tokyo", "America/New_York", "Australia/Sydney"]
        let zone = zones[Int(rng.next() % UInt64(zones.count))]
        return #"{"type":"track","event":"\#(name)","messageId":"bench-\#(i)-\#(rng.next() % 1_000_000_000)","userId":"user-\#(rng.next() % 200_000)","timestamp":"2026-11-29T1\#(rng.next() % 10):\#(10 + rng.next() % 50):00Z","properties":{"amount":\#(rng.next() % 100),"currency":"USD","sku":"SKU-\#(rng.next() % 9000)"},"context":{"timezone":"\#(zone)","library":{"name":"analytics-node","version":"6.0.0"}}}"#
    }

    static func ruleText(count: Int) -> String {
        var out = "rules:\n"
        for i in 0..<count {
            out += """
              - id: rule-\(i)
                when: { event: Event \(i % 100), if: { properties.amount: { gte: 50 } } }
                send: { campaign_id: campaign-\(i), trigger_properties: { amount: "{{ properties.amount }}", sku: "{{ properties.sku }}" } }
                schedule: { after: 1h, quiet_hours: { from: "22:00", to: "07:00" } }
                limit: { once_per: { key: "{{ userId }}", within: 1d } }

            """
        }
        return out
    }

    /// VmHWM: the peak resident set size, in MB.
    static func peakRSSMB() -> Int { procStatus("VmHWM:") / 1024 }
    static func rssMB() -> Int { procStatus("VmRSS:") / 1024 }

    private static func procStatus(_ key: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
        }
        return 0
    }
}
