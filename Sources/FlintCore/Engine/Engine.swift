import FlintPluginAPI
import FlintRules
import Foundation
import Logging

/// The engine: the pipeline's first two stages (docs/architecture.md, The pipeline).
///
/// Accept: every source delivers through `submit`, which checks, deduplicates and appends events to
/// the event log in a group commit (submissions that arrive while a commit is in progress go in the
/// next one) and answers once that commit is durable; deciding is not on this path. Past a bounded
/// backlog (`AcceptLimits`), or when the store cannot commit, `submit` throws `SinkUnavailable`: the
/// webhook answers 503 with `Retry-After`, other sources retry later.
///
/// Decide: `decider`, a service run beside the sources, consumes the log in commit order and writes
/// runs, outbox rows and rule state; `onCommit` is called after a decided batch that planned a send
/// or may have cancelled one (it wakes the dispatcher).
public final class Engine: EventSink {
    /// How much accepted work may wait before `submit` refuses more.
    public struct AcceptLimits: Sendable, Hashable {
        /// Events waiting for the group commit.
        public var queuedEvents: Int
        /// Events accepted but not decided yet.
        public var undecidedEvents: Int
        /// What `SinkUnavailable.retryAfterSeconds` says.
        public var retryAfterSeconds: Int

        public init(queuedEvents: Int = 20_000, undecidedEvents: Int = 500_000, retryAfterSeconds: Int = 1) {
            self.queuedEvents = queuedEvents
            self.undecidedEvents = undecidedEvents
            self.retryAfterSeconds = retryAfterSeconds
        }
    }

    public let store: any StateStore
    public let ruleBook: RuleBook
    public let settings: EngineSettings
    /// The decide stage: run it as a service (`flint serve`), or call `decideAccepted`.
    public let decider: Decider
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let committer: GroupCommitter

    public init(
        store: any StateStore, ruleBook: RuleBook, settings: EngineSettings = EngineSettings(), logger: Logger = Logger(label: "flint.engine"),
        now: @escaping @Sendable () -> Date = { Date() }, limits: AcceptLimits = AcceptLimits(), decide: Decider.Settings = Decider.Settings(),
        onCommit: @escaping @Sendable () -> Void = {}, decisionProbe: DecisionProbe? = nil
    ) {
        self.store = store
        self.ruleBook = ruleBook
        self.settings = settings
        self.now = now
        self.logger = logger
        decider = Decider(
            store: store, ruleBook: ruleBook, engineSettings: settings, settings: decide, logger: logger, now: now, onDecided: onCommit,
            probe: decisionProbe)
        committer = GroupCommitter(store: store, settings: settings, limits: limits, decider: decider, logger: logger)
    }

    /// Installs a validated rule set and records its rule versions, so every run can point at the
    /// exact definition it used.
    public func install(_ rules: RuleSet) async throws {
        let at = now()
        let versions = rules.rules.map {
            RuleVersionRecord(
                ruleId: $0.id, version: $0.version, file: $0.location.file, definition: $0.definition, firstSeen: at, text: $0.fileText)
        }
        try await store.write { transaction in
            for v in versions { try transaction.recordRuleVersion(v) }
        }
        ruleBook.replace(with: rules)
    }

    /// Appends the events to the log; returns once they are durable, before they are decided.
    public func submit(_ batch: [IncomingEvent], source: String) async throws -> SubmitReceipt {
        // What needs no state (checking, decoding, serializing each event) is done here, on the
        // submitter's task, so the single writer only looks up and writes.
        // Through the Double the store keeps, so the event decided from memory and the one a rebuild
        // decodes from the log have the same instant (an event without a timestamp takes it).
        let receivedAt = Date(timeIntervalSince1970: now().timeIntervalSince1970)
        let items = batch.map { GroupCommitter.Item(incoming: $0, receivedAt: receivedAt) }
        return try await committer.commit(GroupCommitter.Request(items: items, source: source, receivedAt: receivedAt))
    }

    /// Submits, then waits until the events this process accepted so far are decided (deciding in
    /// this task when no decider runs): for tests and one-shot tools.
    @discardableResult
    public func submitAndDecide(_ batch: [IncomingEvent], source: String) async throws -> SubmitReceipt {
        let receipt = try await submit(batch, source: source)
        try await decider.decideAccepted()
        return receipt
    }

    /// Decides everything this process accepted so far (see `Decider.decideAccepted`).
    public func decideAccepted() async throws {
        try await decider.decideAccepted()
    }

    /// Returns once every event up to `seq` is decided; the decider must be running.
    public func waitUntilDecided(through seq: Int64) async throws {
        try await decider.waitUntilDecided(through: seq)
    }
}

/// Collects submissions and commits them in groups, one transaction per group.
actor GroupCommitter {
    struct Request: Sendable {
        var items: [Item]
        var source: String
        var receivedAt: Date
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
    private let settings: EngineSettings
    private let limits: Engine.AcceptLimits
    private let decider: Decider
    private let logger: Logger
    private var queue: [Waiting] = []
    private var queuedEvents = 0
    private var draining = false
    private let metrics = EngineMetrics()

    init(store: any StateStore, settings: EngineSettings, limits: Engine.AcceptLimits, decider: Decider, logger: Logger) {
        self.store = store
        self.settings = settings
        self.limits = limits
        self.decider = decider
        self.logger = logger
    }

    func commit(_ request: Request) async throws -> SubmitReceipt {
        // Bounded: past the limits new work is refused (503 + Retry-After) instead of growing memory
        // or a backlog nobody catches up with (docs/architecture.md, The pipeline).
        let count = request.items.count
        if queuedEvents > 0, queuedEvents + count > limits.queuedEvents {
            metrics.refused(count, reason: "queue")
            throw SinkUnavailable(
                reason: "\(queuedEvents) events are waiting to be stored (limit \(limits.queuedEvents))", retryAfterSeconds: limits.retryAfterSeconds)
        }
        let undecided = decider.backlog
        if undecided + Int64(queuedEvents + count) > Int64(limits.undecidedEvents) {
            metrics.refused(count, reason: "backlog")
            throw SinkUnavailable(
                reason: "\(undecided) accepted events are not decided yet (limit \(limits.undecidedEvents)); flint status shows the backlog",
                retryAfterSeconds: limits.retryAfterSeconds)
        }
        queuedEvents += count
        return try await withCheckedThrowingContinuation { continuation in
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
            queuedEvents -= count
            let requests = group.map(\.request)
            // Where deciding stands, once, so the backlog bound counts what an earlier run left.
            try? await decider.loadIfNeeded()
            do {
                let (receipts, appended) = try await store.write { transaction in
                    var appended: [LoggedEvent] = []
                    let receipts = try requests.map { try Self.apply($0, in: &transaction, appended: &appended) }
                    return (receipts, appended)
                }
                let committedAt = ContinuousClock.now
                if let last = appended.last { decider.accepted(appended, lastSeq: last.seq) }
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
                metrics.commitSize(count)
            } catch {
                // Nothing of the group was stored: every submitter is told to retry (503), never a 500.
                logger.error("events not stored; their senders are asked to retry", metadata: ["error": "\(error)", "events": "\(count)"])
                let unavailable = SinkUnavailable(reason: "the store could not commit the events", retryAfterSeconds: limits.retryAfterSeconds)
                for waiting in group { waiting.continuation.resume(throwing: unavailable) }
            }
        }
        draining = false
    }

    private static func apply(_ request: Request, in transaction: inout any StateTransaction, appended: inout [LoggedEvent]) throws -> SubmitReceipt {
        var accepted = 0, duplicates = 0
        var rejected: [SubmitReceipt.Rejected] = []
        let receivedAt = request.receivedAt
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
                appended.append(LoggedEvent(seq: seq, event: event, receivedAt: receivedAt))
            }
        }
        return SubmitReceipt(accepted: accepted, duplicates: duplicates, rejected: rejected)
    }
}
