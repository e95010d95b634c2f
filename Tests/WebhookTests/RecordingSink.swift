import FlintPluginAPI
import Foundation

/// An `EventSink` that checks and deduplicates like the engine (same `Event.decode`, dedupe by
/// `messageId`, else the fallback id, else a fresh one) and records what it committed.
actor RecordingSink: EventSink {
    private(set) var committed: [Event] = []
    private(set) var submissions = 0
    /// Items a source could not read (`problem` set), as handed over: the raw text is kept for inspection.
    private(set) var unreadable: [IncomingEvent] = []
    private var seen: Set<String> = []
    /// When set, `submit` throws it and commits nothing.
    var unavailable: SinkUnavailable?

    init(unavailable: SinkUnavailable? = nil) {
        self.unavailable = unavailable
    }

    func setUnavailable(_ error: SinkUnavailable?) {
        unavailable = error
    }

    func submit(_ batch: [IncomingEvent], source: String) async throws -> SubmitReceipt {
        submissions += 1
        if let unavailable { throw unavailable }
        var accepted = 0
        var duplicates = 0
        var rejected: [SubmitReceipt.Rejected] = []
        let receivedAt = Date()
        for (index, incoming) in batch.enumerated() {
            if let problem = incoming.problem {
                rejected.append(.init(index: index, errors: [problem]))
                unreadable.append(incoming)
                continue
            }
            let decoded = Event.decode(
                incoming.value, receivedAt: receivedAt,
                fallbackMessageId: incoming.fallbackMessageId ?? "test-" + UUID().uuidString.lowercased())
            switch decoded {
            case .failure(let rejection):
                rejected.append(.init(index: index, errors: rejection.errors))
            case .success(let event):
                if seen.insert(event.messageId).inserted {
                    accepted += 1
                    committed.append(event)
                } else {
                    duplicates += 1
                }
            }
        }
        return SubmitReceipt(accepted: accepted, duplicates: duplicates, rejected: rejected)
    }

    var committedIds: [String] { committed.map(\.messageId) }
}
