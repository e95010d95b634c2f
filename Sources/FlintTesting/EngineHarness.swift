import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation
import Logging

/// Rules from YAML text, for tests: one file `rules/test.yaml` (a rule, or `rules: [...]`).
public enum TestRules {
    public struct Invalid: Error, CustomStringConvertible {
        public var diagnostics: [Diagnostic]
        public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
    }

    public static func load(_ yaml: String, path: String = "rules/test.yaml") throws -> RuleSet {
        let result = RuleLoader.load([RuleFile(path: path, text: yaml)])
        guard result.isValid else { throw Invalid(diagnostics: result.diagnostics) }
        return result.ruleSet
    }
}

/// The engine, its decider and the dispatcher over an in-memory store, with a hand-moved clock:
/// submit events (decided before `submit` returns), send what is due, and read the ledger, all in one process and without sleeps.
///
/// ```swift
/// let clock = TestClock("2026-11-29T18:00:00Z")
/// let slack = RecordingAction(name: "slack")
/// let flint = try await EngineHarness(rules: yaml, actions: [slack], clock: clock)
/// try await flint.submit(["event": "Signed Up", "userId": "u-1", "messageId": "m-1"])
/// try await flint.dispatch()
/// #expect(slack.requests.count == 1)
/// ```
public final class EngineHarness: Sendable {
    public let store: MemoryStateStore
    public let engine: Engine
    public let dispatcher: Dispatcher
    public let clock: TestClock

    public init(
        rules yaml: String, actions: [any Action] = [RecordingAction()], clock: TestClock = TestClock("2026-11-29T18:00:00Z"),
        settings: EngineSettings = EngineSettings(), dispatch: DispatchSettings = DispatchSettings(coalesceWindow: 0)
    ) async throws {
        self.clock = clock
        store = MemoryStateStore()
        let book = RuleBook()
        engine = Engine(store: store, ruleBook: book, settings: settings, now: { clock.now })
        try await engine.install(try TestRules.load(yaml))
        dispatcher = Dispatcher(
            store: store, actions: Dictionary(actions.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first }), ruleBook: book,
            engineSettings: settings, settings: dispatch, logger: Logger(label: "flint.testing"), now: { clock.now }, random: { 0.5 })
    }

    /// Submits events (objects as a source would deliver them) in one batch, and returns once they
    /// are decided (runs and outbox rows written), as `flint serve` would shortly after its 202.
    @discardableResult
    public func submit(_ events: JSONValue..., source: String = "test") async throws -> SubmitReceipt {
        try await engine.submitAndDecide(events.map { IncomingEvent(value: $0) }, source: source)
    }

    /// Only accepts the events (appends them to the log), leaving them undecided until `decide()`.
    @discardableResult
    public func accept(_ events: JSONValue..., source: String = "test") async throws -> SubmitReceipt {
        try await engine.submit(events.map { IncomingEvent(value: $0) }, source: source)
    }

    /// Decides every event accepted so far.
    public func decide() async throws {
        try await engine.decideAccepted()
    }

    /// One look at the outbox: sends what is due at the clock's time and records the outcomes
    /// (waiting for the sends to other actions, which run beside the pass, too).
    public func dispatch() async throws {
        _ = try await dispatcher.pass()
        await dispatcher.settle()
    }

    /// The runs, newest first.
    public func runs(_ query: RunQuery = RunQuery(limit: 1000)) async throws -> [RunRecord] {
        try await store.ledger.runs(query)
    }
}
