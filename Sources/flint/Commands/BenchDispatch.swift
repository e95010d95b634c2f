import ArgumentParser
import Braze
import BrazeSandbox
import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// `flint bench dispatch`: the dispatcher against the Braze sandbox, in one run: throughput and
/// coalescing for sends that share a schedule, then event-to-Braze-call latency for sends that cannot
/// be coalesced, at a steady rate.
struct BenchDispatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dispatch", abstract: "Dispatch throughput, recipients per request, and event-to-Braze-call latency, against the sandbox.",
        discussion: """
            Examples:
              flint bench dispatch
              flint bench dispatch --sends 5000 --rate 500 --seconds 5
            """)

    @Option(help: "Coalescable sends (same campaign, same local 10:00).") var sends = 20_000
    @Option(help: "Non-coalesced events per second for the latency run.") var rate = 1000
    @Option(help: "Seconds of the latency run.") var seconds = 10

    static let rules = """
        rules:
          - id: ten
            when: { event: Trial Ending Soon }
            send: { campaign_id: camp-ten, trigger_properties: { plan: "{{ properties.plan }}" } }
            schedule: { at: "10:00", in_local_time: true }
          - id: single
            when: { event: Order Shipped }
            send: { campaign_id: camp-ship, trigger_properties: { order: "{{ properties.order }}" } }
            schedule: { after: 1h }
            cancel_on: [{ event: Order Delivered }]
        """

    func run() async throws {
        #if DEBUG
            Terminal.err("warning: this is a debug build; measure with: swift run -c release flint bench dispatch")
        #endif
        var logger = Logger(label: "flint.bench")
        logger.logLevel = .error
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("flint-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = try ServeCommand.freePort()
        let sandbox = BrazeSandbox(configuration: BrazeSandboxConfiguration(), logger: logger)
        let store = try SQLiteStateStore(path: dir.appendingPathComponent("bench.db").path)
        let client = BrazeClient(configuration: BrazeConfiguration(restEndpoint: "http://127.0.0.1:\(port)", apiKey: BrazeSandboxConfiguration.defaultKey), logger: logger)
        let ruleBook = RuleBook()
        let dispatcher = Dispatcher(
            store: store, actions: ["braze": BrazeAction(client: client)], ruleBook: ruleBook, engineSettings: EngineSettings(),
            settings: DispatchSettings(coalesceWindow: 0.25, maxInFlight: 8), logger: logger)
        let engine = Engine(store: store, ruleBook: ruleBook, logger: logger, onCommit: { dispatcher.nudge() })
        try await engine.install(RuleLoader.load([RuleFile(path: "bench.yaml", text: Self.rules)]).ruleSet)
        let app = sandbox.makeApplication(host: "127.0.0.1", port: port, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: app), .init(service: engine.decider), .init(service: dispatcher)], logger: logger))
        let clock = ContinuousClock()
        let sends = self.sends, rate = self.rate, seconds = self.seconds

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // Wait for the sandbox to answer.
            while await client.deleteSchedule(campaignId: "x", scheduleId: "x").status == nil { try await Task.sleep(for: .milliseconds(20)) }
            sandbox.clearCalls()

            // (1) Coalescable: every user in Paris, the same local 10:00.
            let stamp = Timestamp.formatUTC(Date())
            var start = clock.now
            var i = 0
            while i < sends {
                let batch = (i..<min(i + 1000, sends)).map {
                    IncomingEvent(value: ["event": "Trial Ending Soon", "messageId": .string("t-\($0)"), "userId": .string("u-\($0)"), "timestamp": .string(stamp), "properties": ["plan": "pro"], "context": ["timezone": "Europe/Paris"]])
                }
                _ = try await engine.submit(batch, source: "bench")
                i += 1000
            }
            let planned = clock.now - start
            while sandbox.calls(path: "/campaigns/trigger/schedule/create").reduce(0, { $0 + ($1.body?["recipients"]?.arrayValue?.count ?? 0) }) < sends {
                try await Task.sleep(for: .milliseconds(10))
            }
            let total = clock.now - start
            let calls = sandbox.calls(path: "/campaigns/trigger/schedule/create")
            let recipients = calls.reduce(0) { $0 + ($1.body?["recipients"]?.arrayValue?.count ?? 0) }
            let span = (calls.map(\.at).max() ?? Date()).timeIntervalSince(calls.map(\.at).min() ?? Date())
            Terminal.out("flint bench dispatch: against the Braze sandbox on loopback, SQLite store, 8 requests in flight, coalesce window 250ms")
            Terminal.out(String(format: "  coalescable: %d sends planned in %.2f s, all at Braze after %.2f s: %d requests, %.1f recipients per request",
                sends, planned.seconds, total.seconds, calls.count, Double(recipients) / Double(max(1, calls.count))))
            Terminal.out(String(format: "  dispatch rate while sending: %.0f requests/s, %.0f recipients/s (first to last call %.2f s)",
                Double(calls.count) / max(span, 0.001), Double(recipients) / max(span, 0.001), span))

            // (2) Non-coalesced sends at a steady rate: event submitted -> Braze called.
            sandbox.clearCalls()
            let submitted = SubmitTimes()
            start = clock.now
            let count = rate * seconds
            try await withThrowingTaskGroup(of: Void.self) { producers in
                for n in 0..<count {
                    let due = start.advanced(by: .milliseconds(Int64(n) * 1000 / Int64(rate)))
                    if clock.now < due { try await clock.sleep(until: due) }
                    producers.addTask {
                        let id = "o-\(n)"
                        submitted.times.withLock { $0["s-\(n)"] = Date() }
                        _ = try await engine.submit([IncomingEvent(value: ["event": "Order Shipped", "messageId": .string(id), "userId": .string("s-\(n)"), "properties": ["order": .string(id)]])], source: "bench")
                    }
                }
                try await producers.waitForAll()
            }
            while sandbox.calls(path: "/campaigns/trigger/schedule/create").count < count { try await Task.sleep(for: .milliseconds(10)) }
            let sent = submitted.times.withLock { $0 }
            var latencies: [Double] = []
            for call in sandbox.calls(path: "/campaigns/trigger/schedule/create") {
                guard let user = call.body?["recipients"]?.arrayValue?.first?["external_user_id"]?.stringValue, let at = sent[user] else { continue }
                latencies.append(call.at.timeIntervalSince(at) * 1000)
            }
            latencies.sort()
            func pct(_ p: Double) -> Double { latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
            Terminal.out(String(format: "  non-coalesced at %d events/s for %d s: event -> Braze call p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d sends)",
                rate, seconds, pct(0.5), pct(0.99), latencies.last ?? 0, latencies.count))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        try? await client.shutdown()
    }
}

/// When each latency-run event was submitted, by user.
final class SubmitTimes: Sendable {
    let times = Mutex<[String: Date]>([:])
}
