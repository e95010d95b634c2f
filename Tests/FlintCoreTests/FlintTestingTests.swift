import FlintCore
import FlintPluginAPI
import FlintTesting
import Foundation
import Testing

/// The test kit plugin authors use: the engine and dispatcher in one process, a hand-moved clock,
/// a recording action and a recording sink.
@Suite("FlintTesting")
struct FlintTestingTests {
    static let rule = """
        id: notify
        when:
          event: Signed Up
        send:
          action: slack
          with: { text: "welcome {{ userId }}", plan: "{{ properties.plan | default: 'free' }}" }
        schedule: { after: 1h }
        """

    @Test("a rule's send.action reaches the named action with its rendered body and planned schedule")
    func harnessDeliversToTheNamedAction() async throws {
        let slack = RecordingAction(name: "slack", [.failure(message: "503", retryable: true)])
        let flint = try await EngineHarness(rules: Self.rule, actions: [slack])
        let receipt = try await flint.submit(["event": "Signed Up", "userId": "u-1", "messageId": "m-1", "timestamp": "2026-11-29T18:00:00Z"])
        #expect(receipt.accepted == 1)

        try await flint.dispatch()
        #expect(slack.requests.count == 1)
        #expect(slack.requests.first?.body == ["text": "welcome u-1", "plan": "free"])
        #expect(slack.requests.first?.schedule?["time"] == "2026-11-29T19:00:00Z")
        #expect(try await flint.runs().first?.status == .pending, "a retryable failure leaves the run pending")

        // The retry is due after the backoff: move the clock, not a sleep.
        flint.clock.advance(by: 60)
        try await flint.dispatch()
        #expect(slack.requests.count == 2)
        #expect(slack.requests.map(\.id) == [slack.requests[0].id, slack.requests[0].id], "the same send keeps its id across retries")
        let run = try #require(try await flint.runs().first)
        #expect(run.status == .scheduled)
        #expect(run.reason == "scheduled: action 'slack' accepted it")
    }

    @Test("a scripted source delivers its batches to the engine in order and keeps each receipt")
    func scriptedSource() async throws {
        let flint = try await EngineHarness(rules: Self.rule, actions: [RecordingAction(name: "slack")])
        let source = ScriptedSource(
            name: "crm-export",
            batches: [
                [["event": "Signed Up", "userId": "u-1", "messageId": "m-1"], ["event": "Signed Up", "userId": "u-2", "messageId": "m-2"]],
                [["event": "Signed Up", "userId": "u-1", "messageId": "m-1"], ["userId": "u-3"]],
            ])
        let task = Task { try await source.run(sink: flint.engine, context: PluginContext(name: source.name, logger: .init(label: "test"))) }
        defer { task.cancel() }
        #expect(await waitUntil(30) { source.finished })
        #expect(source.receipts.map(\.accepted) == [2, 0])
        #expect(source.receipts.last?.duplicates == 1)
        #expect(source.receipts.last?.rejected.map(\.index) == [1])
        #expect(try await flint.store.ledger.events(EventQuery()).allSatisfy { $0.source == "crm-export" })
        // The source's submits only accept: decide, as flint serve's decider would.
        try await flint.decide()
        #expect(try await flint.runs().count == 2)
    }

    @Test("the recording sink checks, dedupes, and can refuse or hold submits")
    func recordingSink() async throws {
        let sink = RecordingSink(failures: 1)
        let event = IncomingEvent(value: ["event": "E", "userId": "u-1", "messageId": "m-1"])
        await #expect(throws: SinkUnavailable.self) { try await sink.submit([event], source: "mine") }
        let first = try await sink.submit([event, IncomingEvent(value: ["userId": "u-1"])], source: "mine")
        #expect(first.accepted == 1)
        #expect(first.rejected.map(\.index) == [1])
        let again = try await sink.submit([event], source: "mine")
        #expect(again.duplicates == 1)
        #expect(sink.acceptedNames == ["E"])
        #expect(sink.sources == ["mine", "mine", "mine"])
    }
}
