import FlintCore
import FlintPluginAPI
import FlintStore
import Foundation
import Testing

/// What `flint status` reads from the store: dead and unknown sends with the oldest of each, and
/// what `flint serve` last said about itself.
@Suite("Store health")
struct StoreHealthTests {
    @Test("status counts dead and unknown sends with the oldest of each, besides the pending ones", arguments: StoreKind.allCases)
    func deadAndUnknownCounts(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)
        try await store.write { t in
            for (i, state) in [OutboxState.pending, .dead, .dead, .unknown, .sent].enumerated() {
                let (_, run) = try t.eventWithRun(Fixture.event("m-\(i)"), receivedAt: Fixture.at(Double(i)))
                _ = try t.insertOutbox(Fixture.outbox(run: run, key: "k-\(i)", createdAt: Fixture.at(Double(i * 10))))
                guard let row = try t.outbox(states: [.pending], limit: 100).first(where: { $0.runId == run }) else { continue }
                if state != .pending {
                    try t.setOutbox(id: row.id, state: state, attempts: 1, nextAttemptAt: nil, lastError: "x", body: nil, at: Fixture.at(100))
                }
            }
        }
        let status = try await store.status()
        #expect(status.outboxPending == 1)
        #expect(status.oldestPendingCreatedAt == Fixture.at(0))
        #expect(status.outboxDead == 2)
        #expect(status.oldestDeadCreatedAt == Fixture.at(10))
        #expect(status.outboxUnknown == 1)
        #expect(status.oldestUnknownCreatedAt == Fixture.at(30))
        // Written straight into the store, no decider ran: all 5 events wait to be decided.
        #expect(status.decisionBacklog == 5)
    }

    @Test("serve's heartbeat reads back as written, pause and refused rule errors included", arguments: StoreKind.allCases)
    func heartbeatRoundTrip(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let store = try await kind.open(in: folder)
        #expect(try await store.serveHeartbeat() == nil)
        let beat = ServeHeartbeat(
            pid: 4242, host: "box", listen: "127.0.0.1:8080", startedAt: Fixture.at(0), lastSeen: Fixture.at(5),
            pause: DispatchPause(action: "braze", reason: "credentials refused (401)", since: Fixture.at(2), nextProbe: Fixture.at(62)),
            rulesLoaded: 3, ruleErrors: ["rules/a.yaml:3:1: error: unknown key 'whn'"], ruleErrorsSince: Fixture.at(4))
        try await store.write { t in try t.saveServeHeartbeat(beat) }
        #expect(try await store.serveHeartbeat() == beat)
        var stopping = beat
        stopping.pause = nil
        stopping.ruleErrors = []
        stopping.ruleErrorsSince = nil
        stopping.stoppedAt = Fixture.at(9)
        let stopped = stopping
        try await store.write { t in try t.saveServeHeartbeat(stopped) }
        let read = try #require(try await store.serveHeartbeat())
        #expect(read == stopped)
        #expect(!read.isRunning(at: Fixture.at(10)))
        #expect(beat.isRunning(at: Fixture.at(5 + ServeHeartbeat.stale)))
        #expect(!beat.isRunning(at: Fixture.at(6 + ServeHeartbeat.stale)))
    }
}
