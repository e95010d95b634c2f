import FlintPluginAPI
import FlintRules
import Foundation
import Logging

/// The engine: checks, deduplicates and commits events, and in the same transaction matches them
/// against the rules, plans the sends and writes runs, outbox rows and rule state.
///
/// Every source delivers through `submit`. Submissions that arrive while a commit is in progress are
/// committed together in the next one (group commit): an idle engine commits at once, a busy one
/// amortises the transaction over everything that queued behind it.
public final class Engine: EventSink {
    public let store: any StateStore
    public let ruleBook: RuleBook
    public let settings: EngineSettings
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let committer: GroupCommitter

    public init(
        store: any StateStore, ruleBook: RuleBook, settings: EngineSettings = EngineSettings(), logger: Logger = Logger(label: "flint.engine"),
        now: @escaping @Sendable () -> Date = { Date() }, onCommit: @escaping @Sendable () -> Void = {}
    ) {
        self.store = store
        self.ruleBook = ruleBook
        self.settings = settings
        self.now = now
        self.logger = logger
        self.committer = GroupCommitter(store: store, ruleBook: ruleBook, settings: settings, now: now, onCommit: onCommit)
    }

    /// Installs a validated rule set and records its rule versions, so every run can point at the
    /// exact definition it used.
    public func install(_ rules: RuleSet) async throws {
        let at = now()
        let versions = rules.rules.map {
            RuleVersionRecord(ruleId: $0.id, version: $0.version, file: $0.location.file, definition: $0.definition, firstSeen: at)
        }
        try await store.write { transaction in
            for v in versions { try transaction.recordRuleVersion(v) }
        }
        ruleBook.replace(with: rules)
    }

    public func submit(_ batch: [IncomingEvent], source: String) async throws -> SubmitReceipt {
        // What needs no state (checking, decoding, serializing each event) is done here, on the
        // submitter's task, so the single writer only looks up, evaluates and writes.
        let receivedAt = now()
        let items = batch.map { GroupCommitter.Item(incoming: $0, receivedAt: receivedAt) }
        return try await committer.commit(GroupCommitter.Request(items: items, source: source))
    }
}

/// Collects submissions and commits them in groups, one transaction per group.
actor GroupCommitter {
    struct Request: Sendable {
        var items: [Item]
        var source: String
    }

    /// One submitted event, checked and decoded before it reaches the writer.
    enum Item: Sendable {
        case event(Event, body: [UInt8])
        case rejected(errors: [String], body: String, origin: EventOrigin?)

        init(incoming: IncomingEvent, receivedAt: Date) {
            if let problem = incoming.problem {
                let raw = incoming.value.stringValue ?? incoming.value.compactJSON
                self = .rejected(errors: [problem], body: String(raw.prefix(65_536)), origin: incoming.origin)
                return
            }
            switch Event.decode(
                incoming.value, receivedAt: receivedAt,
                fallbackMessageId: incoming.fallbackMessageId ?? "flint-" + UUID().uuidString.lowercased())
            {
            case .failure(let rejection):
                self = .rejected(errors: rejection.errors, body: String(incoming.value.compactJSON.prefix(65_536)), origin: incoming.origin)
            case .success(let event):
                self = .event(event, body: event.raw.compactUTF8)
            }
        }
    }

    private struct Waiting {
        var request: Request
        var continuation: CheckedContinuation<SubmitReceipt, any Error>
        var since: ContinuousClock.Instant
    }

    private let store: any StateStore
    private let ruleBook: RuleBook
    private let settings: EngineSettings
    private let now: @Sendable () -> Date
    private var queue: [Waiting] = []
    private var draining = false
    private let metrics = EngineMetrics()

    private let onCommit: @Sendable () -> Void

    init(store: any StateStore, ruleBook: RuleBook, settings: EngineSettings, now: @escaping @Sendable () -> Date, onCommit: @escaping @Sendable () -> Void) {
        self.store = store
        self.ruleBook = ruleBook
        self.settings = settings
        self.now = now
        self.onCommit = onCommit
    }

    func commit(_ request: Request) async throws -> SubmitReceipt {
        try await withCheckedThrowingContinuation { continuation in
            queue.append(Waiting(request: request, continuation: continuation, since: .now))
            if !draining {
                draining = true
                // The drain ends when the queue is empty; nothing runs while the engine is idle.
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while !queue.isEmpty {
            // Take everything queued, up to the per-commit cap (a single large batch is never split).
            var group: [Waiting] = []
            var count = 0
            while let next = queue.first, group.isEmpty || count + next.request.items.count <= settings.maxEventsPerCommit {
                group.append(queue.removeFirst())
                count += next.request.items.count
            }
            let requests = group.map(\.request)
            let processor = EventProcessor(rules: ruleBook.rules, settings: settings, now: now())
            do {
                let (receipts, tally) = try await store.write { transaction in
                    var tally: [RunStatus: Int] = [:]
                    let receipts = try requests.map { try Self.apply($0, processor: processor, in: &transaction, tally: &tally) }
                    return (receipts, tally)
                }
                let committedAt = ContinuousClock.now
                onCommit()
                // Counted per source for the whole commit (one metric update each), timed per submission.
                var bySource: [String: (accepted: Int, duplicates: Int, rejected: Int)] = [:]
                for (waiting, receipt) in zip(group, receipts) {
                    waiting.continuation.resume(returning: receipt)
                    metrics.ingestLatency(committedAt - waiting.since)
                    var sums = bySource[waiting.request.source] ?? (0, 0, 0)
                    sums.accepted += receipt.accepted
                    sums.duplicates += receipt.duplicates
                    sums.rejected += receipt.rejected.count
                    bySource[waiting.request.source] = sums
                }
                for (source, sums) in bySource {
                    metrics.accepted(sums.accepted, source: source)
                    metrics.duplicates(sums.duplicates, source: source)
                    metrics.rejected(sums.rejected, source: source)
                }
                metrics.runs(Dictionary(uniqueKeysWithValues: tally.map { ($0.key.rawValue, $0.value) }))
                metrics.commitSize(count)
            } catch {
                for waiting in group { waiting.continuation.resume(throwing: error) }
            }
        }
        draining = false
    }

    private static func apply(
        _ request: Request, processor: EventProcessor, in transaction: inout any StateTransaction, tally: inout [RunStatus: Int]
    ) throws -> SubmitReceipt {
        var accepted = 0, duplicates = 0
        var rejected: [SubmitReceipt.Rejected] = []
        let receivedAt = processor.now
        for (index, item) in request.items.enumerated() {
            switch item {
            case .rejected(let errors, let body, let origin):
                rejected.append(SubmitReceipt.Rejected(index: index, errors: errors))
                try transaction.insertRejected(
                    source: request.source, index: index, origin: origin, errors: errors, body: body, receivedAt: receivedAt)
            case .event(let event, let body):
                guard let seq = try transaction.insertEvent(event, body: body, source: request.source, receivedAt: receivedAt) else {
                    duplicates += 1
                    continue
                }
                accepted += 1
                try processor.process(event, seq: seq, in: &transaction, tally: &tally)
            }
        }
        return SubmitReceipt(accepted: accepted, duplicates: duplicates, rejected: rejected)
    }
}
