import FlintPluginAPI
import Foundation
import Synchronization

/// An `EventSink` for testing a source plugin: it checks events as the engine does (`Event.decode`,
/// an item's `problem`), counts a `messageId` seen before as a duplicate, and keeps what it
/// accepted. It can refuse the first submits (`SinkUnavailable`) and hold the first one until
/// `release()`, to test a source's retries and acknowledgements.
public final class RecordingSink: EventSink, Sendable {
    private struct State: Sendable {
        var submits = 0
        var ids: Set<String> = []
        var accepted: [JSONValue] = []
        var sources: [String] = []
        var duplicates = 0
        var failuresLeft: Int
        var holdingFirstSubmit: Bool
    }

    private let state: Mutex<State>

    /// - Parameters:
    ///   - failures: how many submits throw `SinkUnavailable` before the sink takes events.
    ///   - holdFirstSubmit: the first submit waits until `release()`.
    public init(failures: Int = 0, holdFirstSubmit: Bool = false) {
        state = Mutex(State(failuresLeft: failures, holdingFirstSubmit: holdFirstSubmit))
    }

    public var submits: Int { state.withLock { $0.submits } }
    public var duplicates: Int { state.withLock { $0.duplicates } }
    /// The accepted events as received, in order.
    public var accepted: [JSONValue] { state.withLock { $0.accepted } }
    /// The accepted events' names (`event`), in order.
    public var acceptedNames: [String] { accepted.compactMap { $0["event"]?.stringValue } }
    /// The `source` of each submit.
    public var sources: [String] { state.withLock { $0.sources } }

    /// Lets a held first submit go on.
    public func release() { state.withLock { $0.holdingFirstSubmit = false } }

    public func submit(_ batch: [IncomingEvent], source: String) async throws -> SubmitReceipt {
        let (call, fail) = state.withLock { state in
            state.submits += 1
            state.sources.append(source)
            let fail = state.failuresLeft > 0
            if fail { state.failuresLeft -= 1 }
            return (state.submits, fail)
        }
        if fail { throw SinkUnavailable(reason: "test: store busy", retryAfterSeconds: 0) }
        if call == 1 {
            while state.withLock({ $0.holdingFirstSubmit }) { try await Task.sleep(for: .milliseconds(10)) }
        }
        return state.withLock { state in
            var receipt = SubmitReceipt(accepted: 0, duplicates: 0, rejected: [])
            for (index, item) in batch.enumerated() {
                if let problem = item.problem {
                    receipt.rejected.append(.init(index: index, errors: [problem]))
                    continue
                }
                switch Event.decode(item.value, receivedAt: Date(), fallbackMessageId: item.fallbackMessageId ?? UUID().uuidString) {
                case .failure(let rejection):
                    receipt.rejected.append(.init(index: index, errors: rejection.errors))
                case .success(let event):
                    if state.ids.insert(event.messageId).inserted {
                        receipt.accepted += 1
                        state.accepted.append(event.raw)
                    } else {
                        receipt.duplicates += 1
                        state.duplicates += 1
                    }
                }
            }
            return receipt
        }
    }
}
