import FlintCore
import FlintPluginAPI
import FlintTesting
import Foundation
import Synchronization
import Testing

/// One action in trouble must not hold the others back (issue 6: a plugin cannot hurt the engine).
@Suite("Dispatch isolation between actions")
struct DispatchIsolationTests {
    /// An action that does not answer until released.
    final class StuckAction: Action, Sendable {
        let name = "slow"
        let released = Mutex(false)
        let calls = Mutex(0)

        func perform(_ request: SendRequest, context: PluginContext) async -> ActionOutcome {
            calls.withLock { $0 += 1 }
            while !released.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }
            return .success(details: [:])
        }
    }

    static let rules = """
        rules:
          - id: to-braze
            when: { event: B }
            send: { campaign_id: c-1 }
          - id: to-slow
            when: { event: S }
            send: { action: slow, with: { user: "{{ userId }}" } }
          - id: to-slack
            when: { event: K }
            send: { action: slack, with: { user: "{{ userId }}" } }
        """

    static func event(_ name: String, _ id: String) -> JSONValue {
        ["event": .string(name), "userId": "u-1", "messageId": .string(id), "timestamp": "2026-11-29T18:00:00Z"]
    }

    @Test("a send stuck in another action does not hold Braze's sends; it finishes beside them and is sent once")
    func stuckActionDoesNotHoldBraze() async throws {
        let braze = RecordingAction()
        let slow = StuckAction()
        let flint = try await EngineHarness(rules: Self.rules, actions: [braze, slow])
        try await withThrowingTaskGroup(of: Void.self) { group in
            // The worker: one lane per action, so the stuck one waits alone.
            group.addTask { try await flint.dispatcher.run() }
            try await flint.submit(Self.event("S", "s-1"))
            flint.dispatcher.wake()
            #expect(await waitUntil { slow.calls.withLock { $0 } == 1 })
            try await flint.submit(Self.event("B", "b-1"))
            flint.dispatcher.wake()
            #expect(await waitUntil { braze.requests.count == 1 })
            #expect(await eventually { try await flint.runs().first { $0.eventId == "b-1" }?.status == .scheduled })
            // Another look does not send the held row a second time.
            flint.dispatcher.wake()
            #expect(slow.calls.withLock { $0 } == 1)

            slow.released.withLock { $0 = true }
            #expect(await eventually { try await flint.runs().allSatisfy { $0.status == .scheduled } })
            group.cancelAll()
        }
        let runs = try await flint.runs()
        #expect(runs.count == 2)
        #expect(runs.allSatisfy { $0.status == .scheduled })
        #expect(slow.calls.withLock { $0 } == 1)
    }

    @Test("refused Braze credentials pause Braze only; another action's sends go on")
    func pauseHoldsOnlyTheRefusingAction() async throws {
        let braze = RecordingAction(name: "braze", [.credentialsRefused(message: "401: invalid api key")])
        let slack = RecordingAction(name: "slack")
        let flint = try await EngineHarness(rules: Self.rules, actions: [braze, slack])
        try await flint.submit(Self.event("B", "b-1"))
        try await flint.dispatch()
        #expect(flint.dispatcher.status.pausedReason == "401: invalid api key")

        try await flint.submit(Self.event("B", "b-2"), Self.event("K", "k-1"))
        try await flint.dispatch()
        #expect(slack.requests.count == 1, "slack is not paused")
        #expect(braze.requests.count == 1, "braze waits for its probe")
        #expect(try await flint.runs().first { $0.eventId == "k-1" }?.status == .scheduled)

        // At the probe time the held send goes out alone; it succeeds and Braze resumes.
        flint.clock.advance(by: 61)
        try await flint.dispatch()
        #expect(flint.dispatcher.status.pausedReason == nil)
        try await flint.dispatch()
        #expect(try await flint.runs().filter { $0.status == .scheduled }.count == 3)
    }
}
