import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import Foundation
import Testing

/// Not a timed test: a measuring helper that only runs when asked, and asserts nothing about speed.
///
///     FLINT_STORE_BENCH=100000 swift test -c release -Xswiftc -enable-testing --filter StoreBenchmark
///
/// Writes N events the way the engine does (1000 per transaction): each event with one run, a third
/// of them planned (request, schedule, planner steps, an outbox row and a once_per upsert), the rest
/// not matched; then prints events/s.
@Suite("Store benchmark", .enabled(if: ProcessInfo.processInfo.environment["FLINT_STORE_BENCH"] != nil))
struct StoreBenchmark {
    @Test("ingest throughput, 1000 events per write")
    func throughput() async throws {
        let total = Int(ProcessInfo.processInfo.environment["FLINT_STORE_BENCH"] ?? "") ?? 100_000
        let folder = try TemporaryFolder()
        let store = try SQLiteStateStore(path: folder.path())
        let batch = 1000
        let clock = ContinuousClock()
        let start = clock.now
        for first in stride(from: 0, to: total, by: batch) {
            try await store.write { tx in
                for i in first..<min(first + batch, total) {
                    let user = "user-\(i % 5000)"
                    let event = Fixture.event(
                        "msg-\(i)-4f1c2e7a-9b3d-4c1e-8f2a", user: user, at: Fixture.at(Double(i) / 100),
                        properties: ["cart_value": .number(Double(i % 200)), "currency": "USD", "items": [["sku": "A1", "name": "Socks", "qty": 2]]])
                    guard let seq = try tx.insertEvent(event, source: "webhook", receivedAt: Fixture.at(Double(i) / 100)) else { continue }
                    if i % 3 == 0 {
                        let run = try tx.insertRun(
                            Fixture.run(
                                seq: seq, event: event.messageId, user: user, createdAt: Fixture.at(Double(i) / 100), consumedAt: Fixture.at(Double(i) / 100),
                                sendAt: Fixture.at(9000), outboxKey: "cart/v1/\(event.messageId)/\(user)"))
                        _ = try tx.insertOutbox(Fixture.outbox(run: run, key: "cart/v1/\(event.messageId)/\(user)", createdAt: Fixture.at(Double(i) / 100)))
                        try tx.setOncePer(rule: "cart", key: user, eventTime: event.timestamp, runId: run)
                    } else {
                        _ = try tx.insertRun(
                            Fixture.run(
                                seq: seq, event: event.messageId, user: user, status: .notMatched, createdAt: Fixture.at(Double(i) / 100)))
                    }
                }
            }
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let size = (try FileManager.default.attributesOfItem(atPath: folder.path())[.size] as? Int) ?? 0
        print("store benchmark: \(total) events (+1 run each, 1/3 with outbox and once_per) in \(String(format: "%.2f", seconds)) s = \(Int(Double(total) / seconds)) events/s; file \(size / 1_048_576) MiB")
    }
}
