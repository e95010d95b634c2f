import ArgumentParser
import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import Foundation

/// `flint bench ledger`: how fast the ledger answers for one user on a big store. Builds a store
/// of N events (direct writes through the store's transaction, decided by the real evaluator: no
/// HTTP, no group commit), then times `flint why --user U` and `flint runs --user U` as a user runs
/// them (a new process each time, median of several), and the queries alone in this process.
struct BenchLedger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Time flint why --user and flint runs --user on a store of a million events.",
        discussion: """
            The store: --users users, 5% identify calls (zone and plan), the rest track events of which \
            three names trigger one rule each (a condition, a local-time schedule, a delay), so most \
            events have a run; planned runs have an outbox row. It is kept when --database names a file \
            (an existing file is reused as it is), else removed afterwards.

            Examples:
              flint bench ledger
              flint bench ledger --events 200000 --users 2000
              flint bench ledger --database /tmp/ledger.db --repeat 9
            """
    )

    @Option(help: "Events in the store.") var events = 1_000_000
    @Option(help: "Distinct users.") var users = 10_000
    @Option(help: "Times each command runs; the median is reported.") var `repeat` = 5
    @Option(help: "Build (or reuse) the store here and keep it.") var database: String?
    @Option(help: "Seed for the generated events.") var seed: UInt64 = 11

    static let rules = """
        rules:
          - id: cart-abandoned
            when:
              event: Cart Abandoned
              if: { properties.amount: { gte: 20 } }
            send: { campaign_id: c-cart, trigger_properties: { amount: "{{ properties.amount }}", plan: "{{ user.traits.plan }}" } }
            schedule: { after: 2h, quiet_hours: { from: "22:00", to: "07:00" } }
          - id: browse
            when: { event: Product Viewed }
            send: { campaign_id: c-browse, trigger_properties: { sku: "{{ properties.sku }}" } }
            schedule: { at: "10:00", in_local_time: true }
          - id: welcome
            when: { event: Signed Up }
            send: { campaign_id: c-welcome }
            schedule: { after: 30m }
        """

    func validate() throws {
        if events < 1 || users < 1 || `repeat` < 1 { throw ValidationError("--events, --users and --repeat must be at least 1") }
    }

    func run() async throws {
        #if DEBUG
            Terminal.err("warning: this is a debug build; measure with: swift build -c release && .build/release/flint bench ledger")
        #endif
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("flint-bench-ledger-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = database ?? dir.appendingPathComponent("ledger.db").path

        let clock = ContinuousClock()
        if FileManager.default.fileExists(atPath: path) {
            Terminal.out("flint bench ledger: reusing \(path)")
        } else {
            Terminal.out("flint bench ledger: building \(events) events of \(users) users in \(path)")
            let start = clock.now
            let runs = try await build(path)
            Terminal.out(String(format: "  built in %.1f s: %d events, %d runs", (clock.now - start).seconds, events, runs))
        }
        let size = ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) / 1_048_576
        Terminal.out("  file: \(size) MiB; machine: \(ProcessInfo.processInfo.activeProcessorCount) cores")

        // The user: one with a typical number of events.
        let user = "user-\(users / 2)"
        let store = try SQLiteStateStore(path: path, readOnly: true)
        let count = try await store.events(EventQuery(user: user, limit: 100_000)).count
        Terminal.out("  user \(user): \(count) events")

        // The queries alone, in this process (the store open, warm).
        let listing = try await median { _ = try await store.runs(RunQuery(user: user, limit: 50, traces: false)) }
        let traced = try await median { _ = try await store.runs(RunQuery(user: user, limit: 20)) }
        Terminal.out(String(format: "  in process: runs(user:) %.2f ms (50 rows, compact); with traces rebuilt %.2f ms (20 rows)", listing * 1000, traced * 1000))

        // The commands, as a user runs them: a new process each time.
        for arguments in [["why", "--user", user], ["runs", "--user", user]] {
            let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            var failure: String?
            let time = try await median {
                let p = Process()
                p.executableURL = exe
                p.arguments = arguments + ["--database", path]
                p.currentDirectoryURL = dir
                p.standardOutput = FileHandle.nullDevice
                let errors = Pipe()
                p.standardError = errors
                try p.run()
                p.waitUntilExit()
                if p.terminationStatus != 0 {
                    failure = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                }
            }
            if let failure { Terminal.err("  flint \(arguments.joined(separator: " ")) failed: \(failure)") }
            Terminal.out(String(format: "  flint %@: median %.1f ms of %d (the whole process)", arguments.joined(separator: " "), time * 1000, `repeat`))
        }
    }

    /// The median wall time of `repeat` runs of `body`, in seconds.
    private func median(_ body: () async throws -> Void) async throws -> Double {
        let clock = ContinuousClock()
        var times: [Double] = []
        for _ in 0..<`repeat` {
            let start = clock.now
            try await body()
            times.append((clock.now - start).seconds)
        }
        times.sort()
        return times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
    }

    /// Writes the store as the decider would have: events, profiles, compact runs and outbox rows.
    private func build(_ path: String) async throws -> Int {
        let loaded = RuleLoader.load([RuleFile(path: "rules/bench.yaml", text: Self.rules)])
        guard loaded.isValid else { throw ExitCode(1) }
        let ruleSet = loaded.ruleSet
        let store = try SQLiteStateStore(path: path)
        let settings = EngineSettings()
        let start = Timestamp.parse("2026-11-01T00:00:00Z")!.timeIntervalSince1970
        try await store.write { tx in
            for r in ruleSet.rules {
                try tx.recordRuleVersion(
                    RuleVersionRecord(
                        ruleId: r.id, version: r.version, file: r.location.file, definition: r.definition, firstSeen: Date(timeIntervalSince1970: start),
                        text: r.fileText))
            }
        }
        var rng = SplitMix64(seed: seed)
        var profiles: [String: UserProfile] = [:]
        var runs = 0
        let zones = ["America/Los_Angeles", "Europe/Paris", "Asia/Tokyo", "America/New_York", "Australia/Sydney"]
        let names = ["Cart Abandoned", "Product Viewed", "Signed Up", "Page Viewed"]
        let perWrite = 5_000
        var next = 0
        while next < events {
            // Generated outside the write: the events of this transaction.
            var batch: [(Event, Date)] = []
            for i in next..<min(next + perWrite, events) {
                // Events about 2.6 s apart over a month, users uniformly.
                let at = Date(timeIntervalSince1970: start + Double(i) * 2.6)
                let user = "user-\(rng.next() % UInt64(users))"
                var object: [String: JSONValue] = [
                    "messageId": .string("bench-\(i)"), "userId": .string(user), "timestamp": .string(Timestamp.formatUTCMillis(at)),
                ]
                if rng.next() % 20 == 0 {
                    object["type"] = "identify"
                    object["traits"] = ["plan": .string(["free", "pro", "team"][Int(rng.next() % 3)])]
                    object["context"] = ["timezone": .string(zones[Int(rng.next() % UInt64(zones.count))])]
                } else {
                    object["type"] = "track"
                    object["event"] = .string(names[Int(rng.next() % UInt64(names.count))])
                    object["properties"] = [
                        "amount": .number(Double(rng.next() % 10_000) / 100), "currency": "USD", "sku": .string("SKU-\(rng.next() % 5000)"),
                    ]
                }
                guard case .success(let event) = Event.decode(.object(object), receivedAt: at, fallbackMessageId: "bench-\(i)") else { continue }
                batch.append((event, at))
            }
            let through = Int64(next + batch.count)
            let (written, updated) = try await store.write { [batch, profiles] tx -> (Int, [String: UserProfile]) in
                var profiles = profiles
                var written = 0
                let contextId = try tx.decideContextId(DecideContext(settings))
                for (event, at) in batch {
                    guard let seq = try tx.insertEvent(event, source: "bench", receivedAt: at) else { continue }
                    if event.type == .identify {
                        let profile = ProfileFold.apply(event, to: profiles[event.userKey])
                        profiles[event.userKey] = profile
                        try tx.saveProfile(profile, for: event.userKey, at: at)
                        continue
                    }
                    let now = Date(timeIntervalSince1970: at.timeIntervalSince1970 + 0.25)
                    let context = PlanningContext(now: now, defaultZone: settings.defaultZone, companyZone: settings.companyZone, lead: settings.lead)
                    for rule in ruleSet.rules(triggeredBy: event.name ?? "") {
                        let d = RuleEvaluator.evaluate(rule: rule, event: event, profile: profiles[event.userKey], context: context)
                        let status: RunStatus
                        switch d.outcome {
                        case .notMatched: status = .notMatched
                        case .skipped: status = .skipped
                        case .failed: status = .failed
                        case .planned: status = .pending
                        }
                        let key = status == .pending ? "\(rule.id)|\(rule.version)|\(event.messageId)|external_user_id:\(event.userKey)" : nil
                        let runId = try tx.insertRun(
                            NewRun(
                                eventSeq: seq, eventId: event.messageId, ruleId: rule.id, ruleVersion: rule.version, user: event.userKey,
                                status: status, reason: d.reason, action: rule.send.action, sendAt: d.sendAt, outboxKey: key,
                                contextId: contextId, consumedAt: status == .pending ? now : nil, createdAt: now))
                        if let key, let body = d.request {
                            _ = try tx.insertOutbox(
                                NewOutboxItem(
                                    runId: runId, key: key, action: rule.send.action, body: body, sendAt: d.sendAt, createdAt: now,
                                    schedule: d.schedule?.json, zone: d.zone))
                        }
                        written += 1
                    }
                }
                if let last = batch.last { try tx.setDecidedThrough(through, at: last.1) }
                return (written, profiles)
            }
            profiles = updated
            runs += written
            next += perWrite
        }
        try store.close()
        return runs
    }
}
