import FlintPluginAPI
import Foundation
import Synchronization

/// A source that delivers the batches it was given, in order, then waits until cancelled (as a real
/// source would). It keeps each receipt, or the error when a submit threw, for the test to read.
public final class ScriptedSource: EventSource, Sendable {
    public let name: String
    private let batches: [[IncomingEvent]]
    private let results = Mutex<[Result<SubmitReceipt, any Error>]>([])

    public init(name: String = "scripted", batches: [[JSONValue]]) {
        self.name = name
        self.batches = batches.map { $0.map { IncomingEvent(value: $0) } }
    }

    /// One entry per batch delivered so far.
    public var outcomes: [Result<SubmitReceipt, any Error>] { results.withLock { $0 } }

    /// The receipts of the batches that were committed.
    public var receipts: [SubmitReceipt] { outcomes.compactMap { try? $0.get() } }

    /// True once every batch was handed to the sink.
    public var finished: Bool { results.withLock { $0.count } == batches.count }

    public func run(sink: any EventSink, context: PluginContext) async throws {
        for batch in batches {
            let outcome: Result<SubmitReceipt, any Error>
            do {
                outcome = .success(try await sink.submit(batch, source: name))
            } catch {
                outcome = .failure(error)
            }
            results.withLock { $0.append(outcome) }
        }
        while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(50)) }
    }
}
