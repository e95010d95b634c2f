import FlintPluginAPI
import FlintRules
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The second stage of the pipeline (docs/architecture.md, The pipeline): an ordered consumer of the
/// event log that decides accepted events in batches.
///
/// Accept hands each committed event over in memory (`accepted`) and signals; the decider wakes
/// (signals coalesce; nothing polls), takes up to `batchSize` events after its durable position,
/// evaluates the rules they trigger in parallel off the writer, then, in one write transaction,
/// re-reads the position, skips what another decider already decided, runs the state checks
/// (identify's profile updates, `cancel_on`, `once_per`, `max_sends`), writes runs and outbox rows and
/// moves the position. Events it does not hold in memory (after a restart, past the hand-over's
/// capacity, or appended by another process) are read back from the events table.
public final class Decider: Service, Sendable {
    public struct Settings: Sendable, Hashable {
        /// The most events one decide transaction covers.
        public var batchSize: Int
        /// The most decoded events held between accept and decide; past it the decider reads the
        /// events back from the log instead (memory stays bounded while deciding is behind).
        public var handoffCapacity: Int

        public init(batchSize: Int = 1000, handoffCapacity: Int = 50_000) {
            self.batchSize = max(1, batchSize)
            self.handoffCapacity = max(0, handoffCapacity)
        }
    }

    private struct Waiter {
        var id: Int
        var target: Int64
        /// Also resumed when a drain ends (the caller checks again whether it must decide itself).
        var orDrainEnd: Bool
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var loaded = false
        var decided: Int64 = 0
        var lastAccepted: Int64 = 0
        /// Accepted events not yet decided, in seq order, from `head`.
        var handoff: [LoggedEvent] = []
        var head = 0
        var draining = false
        var waiters: [Waiter] = []
        var nextWaiter = 0

        var held: Int { handoff.count - head }

        mutating func dropDecided() {
            while head < handoff.count, handoff[head].seq <= decided { head += 1 }
            if head == handoff.count {
                handoff.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 4096, head * 2 > handoff.count {
                handoff.removeFirst(head)
                head = 0
            }
        }

        /// Resumes the waiters `decided` satisfies (and, at a drain's end, those that asked).
        mutating func takeResumable(drainEnded: Bool) -> [CheckedContinuation<Void, Never>] {
            var resumed: [CheckedContinuation<Void, Never>] = []
            waiters.removeAll { w in
                guard w.target <= decided || (drainEnded && w.orDrainEnd) else { return false }
                resumed.append(w.continuation)
                return true
            }
            return resumed
        }
    }

    let store: any StateStore
    let ruleBook: RuleBook
    let engineSettings: EngineSettings
    public let settings: Settings
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let onDecided: @Sendable () -> Void
    private let probe: DecisionProbe?
    private let state = Mutex(State())
    private let signal: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let metrics = DecideMetrics()

    public init(
        store: any StateStore, ruleBook: RuleBook, engineSettings: EngineSettings, settings: Settings = Settings(),
        logger: Logger = Logger(label: "flint.decide"), now: @escaping @Sendable () -> Date = { Date() },
        onDecided: @escaping @Sendable () -> Void = {}, probe: DecisionProbe? = nil
    ) {
        self.probe = probe
        self.store = store
        self.ruleBook = ruleBook
        self.engineSettings = engineSettings
        self.settings = settings
        self.logger = logger
        self.now = now
        self.onDecided = onDecided
        (signal, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        // The first wake catches up on what the log holds from before this process.
        wake.yield()
    }

    // MARK: From accept

    /// Takes over events accept just committed, in seq order, and wakes the decider.
    func accepted(_ events: [LoggedEvent], lastSeq: Int64) {
        state.withLock { s in
            s.lastAccepted = max(s.lastAccepted, lastSeq)
            if s.held + events.count > settings.handoffCapacity {
                // Too far behind to hold them all: read them back from the log when their turn comes.
                s.handoff.removeAll(keepingCapacity: false)
                s.head = 0
            } else {
                s.handoff += events
            }
        }
        metrics.backlog(backlog)
        wake.yield()
    }

    /// Seeds what the decider knows from the store once (where it stands, what was accepted before).
    func loadIfNeeded() async throws {
        if state.withLock({ $0.loaded }) { return }
        let progress = try await store.decideProgress()
        state.withLock { s in
            if s.loaded { return }
            s.loaded = true
            s.decided = max(s.decided, progress.decidedThrough)
            s.lastAccepted = max(s.lastAccepted, progress.lastAccepted)
            s.dropDecided()
        }
    }

    /// Accepted but not decided, as far as this process knows.
    public var backlog: Int64 {
        state.withLock { max(0, $0.lastAccepted - $0.decided) }
    }

    /// The position this process last saw: every event up to it is decided.
    public var decidedThrough: Int64 { state.withLock { $0.decided } }

    /// The last sequence number this process accepted (or saw in the log when it started).
    public var lastAccepted: Int64 { state.withLock { $0.lastAccepted } }

    // MARK: Service

    /// Decides as events are accepted until graceful shutdown; a batch in progress is finished.
    public func run() async throws {
        var failures = 0
        for await _ in signal.cancelOnGracefulShutdown() {
            while true {
                do {
                    try await drain()
                    failures = 0
                    break
                } catch is CancellationError {
                    return
                } catch {
                    // A store that cannot write now (locked by another process past the timeout, disk
                    // full): nothing was decided; try again, backing off, without waiting for a new event.
                    failures += 1
                    let delay = min(30.0, 0.1 * pow(2, Double(min(failures, 9))))
                    logger.error(
                        "deciding failed; the events stay accepted and are decided when the store allows it",
                        metadata: ["error": "\(error)", "retry_in_seconds": "\(delay)"])
                    do { try await Task.sleep(for: .seconds(delay)) } catch { return }
                    if Task.isCancelled { return }
                }
            }
        }
    }

    /// Decides everything this process accepted so far: in this task when no other one decides,
    /// otherwise waiting for the one that does. Returns once the position passed it.
    public func decideAccepted() async throws {
        try await loadIfNeeded()
        let target = lastAccepted
        while decidedThrough < target {
            if try await drainIfIdle() { continue }
            await waitFor(target, orDrainEnd: true)
            try Task.checkCancellation()
        }
    }

    /// Returns once every event up to `seq` is decided (by this process's decider, or by another
    /// process whose decisions this one's decider then skips). Someone must be deciding: the
    /// service (`run`) or `decideAccepted`.
    public func waitUntilDecided(through seq: Int64) async throws {
        while decidedThrough < seq {
            await waitFor(seq, orDrainEnd: false)
            try Task.checkCancellation()
        }
    }

    private func waitFor(_ target: Int64, orDrainEnd: Bool) async {
        let id = state.withLock { s -> Int in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { s -> Bool in
                    if s.decided >= target || (orDrainEnd && !s.draining) || Task.isCancelled { return true }
                    s.waiters.append(Waiter(id: id, target: target, orDrainEnd: orDrainEnd, continuation: continuation))
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> Waiter? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i)
            }
            waiter?.continuation.resume()
        }
    }

    // MARK: Deciding

    /// Decides batches until nothing is left, unless another task is at it already.
    private func drain() async throws {
        try await loadIfNeeded()
        _ = try await drainIfIdle()
    }

    /// False when another task is draining.
    private func drainIfIdle() async throws -> Bool {
        let mine = state.withLock { s -> Bool in
            if s.draining { return false }
            s.draining = true
            return true
        }
        guard mine else { return false }
        do {
            while try await decideBatch() {}
        } catch {
            endDrain()
            throw error
        }
        endDrain()
        return true
    }

    private func endDrain() {
        let resumed = state.withLock { s in
            s.draining = false
            return s.takeResumable(drainEnded: true)
        }
        for c in resumed { c.resume() }
    }

    /// The next events to decide: the hand-over when it continues the position, else the log.
    private func nextBatch() async throws -> [LoggedEvent] {
        enum Source {
            case memory([LoggedEvent])
            case log(after: Int64, fallback: [LoggedEvent])
            case none
        }
        let source = state.withLock { s -> Source in
            s.dropDecided()
            let first = s.head < s.handoff.count ? s.handoff[s.head].seq : nil
            if let first, first == s.decided + 1 {
                var end = s.head + 1
                let limit = min(s.handoff.count, s.head + settings.batchSize)
                while end < limit, s.handoff[end].seq == s.handoff[end - 1].seq + 1 { end += 1 }
                return .memory(Array(s.handoff[s.head..<end]))
            }
            if first != nil || s.lastAccepted > s.decided {
                let fallback = first == nil ? [] : Array(s.handoff[s.head..<min(s.handoff.count, s.head + settings.batchSize)])
                return .log(after: s.decided, fallback: fallback)
            }
            return .none
        }
        switch source {
        case .memory(let events):
            return events
        case .log(let after, let fallback):
            let read = try await store.loggedEvents(after: after, limit: settings.batchSize)
            if read.isEmpty {
                // Nothing in the log after the position but events in hand: the log's rows between
                // were removed (retention); decide what is here.
                return fallback
            }
            // Events held in memory follow the ones read: stop before them, they come next.
            if let firstHeld = fallback.first?.seq { return read.filter { $0.seq < firstHeld } .nonEmpty ?? read }
            return read
        case .none:
            return []
        }
    }

    /// Decides one batch; false when there was nothing to decide.
    private func decideBatch() async throws -> Bool {
        let batch = try await nextBatch()
        guard let last = batch.last else {
            // Caught up with the log: nothing accepted is left (a count from before retention removed
            // events, say, no longer stands).
            state.withLock { s in if s.held == 0 { s.lastAccepted = s.decided } }
            return false
        }
        let started = ContinuousClock.now
        // The instant is made from the Double the store keeps (runs.created_at), so a rebuild of a
        // trace plans with exactly the instant this decision used.
        let decidedAt = Date(timeIntervalSince1970: now().timeIntervalSince1970)
        let processor = EventProcessor(rules: ruleBook.rules, settings: engineSettings, now: decidedAt, keepDecided: probe != nil)
        let planned = try await plan(batch, processor: processor)
        let context = DecideContext(engineSettings)
        let (position, tally, kept) = try await store.write { transaction in
            var tally: [RunStatus: Int] = [:]
            var kept: [(runId: Int64, run: DecidedRun)] = []
            // Another process (flint ingest beside flint serve) may have decided some of these.
            let decided = try transaction.decidedThrough()
            var contextId: Int64?
            for (index, item) in batch.enumerated() where item.seq > decided {
                if contextId == nil, item.event.type != .identify { contextId = try transaction.decideContextId(context) }
                try processor.process(
                    item.event, seq: item.seq, planned: planned[index], contextId: contextId, in: &transaction, tally: &tally, decided: &kept)
            }
            let position = max(decided, last.seq)
            try transaction.setDecidedThrough(position, at: processor.now)
            return (position, tally, kept)
        }
        probe?.record(kept)
        let resumed = state.withLock { s in
            s.decided = max(s.decided, position)
            s.lastAccepted = max(s.lastAccepted, s.decided)
            s.dropDecided()
            return s.takeResumable(drainEnded: false)
        }
        for c in resumed { c.resume() }
        // The dispatcher has work only when the batch planned a send or may have cancelled one: waking
        // it for every batch made it read the outbox after each commit (a profile of flint serve
        // with no rule matching spent 4% there).
        let rules = processor.rules
        if tally[.pending, default: 0] > 0 || tally[.cancelled, default: 0] > 0
            || batch.contains(where: { $0.event.name.map { !rules.rules(cancelledBy: $0).isEmpty } ?? false })
        {
            onDecided()
        }
        metrics.decided(
            batch: batch.count, runs: tally, lag: processor.now.timeIntervalSince(batch[0].receivedAt), took: ContinuousClock.now - started,
            backlog: backlog)
        return true
    }

    /// The pure part, off the writer: the profiles as stored before the batch, then every (event,
    /// triggered rule) evaluated, in parallel over chunks. Events of users whose profile changes in
    /// the batch are evaluated again inside the transaction (`EventProcessor.process` checks).
    private func plan(_ batch: [LoggedEvent], processor: EventProcessor) async throws -> [EventProcessor.Planned?] {
        let rules = processor.rules
        var users = Set<String>()
        for item in batch where item.event.type != .identify {
            if let name = item.event.name, !rules.rules(triggeredBy: name).isEmpty { users.insert(item.event.userKey) }
        }
        if users.isEmpty { return Array(repeating: nil, count: batch.count) }
        let profiles = try await store.profiles(for: Array(users))
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, batch.count / 64))
        if workers == 1 {
            return batch.map { processor.plan($0.event, profile: profiles[$0.event.userKey]) }
        }
        let chunk = (batch.count + workers - 1) / workers
        return await withTaskGroup(of: (Int, [EventProcessor.Planned?]).self) { group in
            for start in stride(from: 0, to: batch.count, by: chunk) {
                let slice = batch[start..<min(start + chunk, batch.count)]
                group.addTask { (start, slice.map { processor.plan($0.event, profile: profiles[$0.event.userKey]) }) }
            }
            var planned = [EventProcessor.Planned?](repeating: nil, count: batch.count)
            for await (start, part) in group {
                for (offset, p) in part.enumerated() { planned[start + offset] = p }
            }
            return planned
        }
    }
}

/// Keeps, per run, what the decider decided (trace, request, schedule): a test-only switch, so tests
/// can check that rebuilding a trace from the compact run gives back exactly what was decided.
public final class DecisionProbe: Sendable {
    private let kept = Mutex<[Int64: DecidedRun]>([:])

    public init() {}

    func record(_ runs: [(runId: Int64, run: DecidedRun)]) {
        if runs.isEmpty { return }
        kept.withLock { k in for (id, run) in runs { k[id] = run } }
    }

    /// What was decided for each run, by run id.
    public var decided: [Int64: DecidedRun] { kept.withLock { $0 } }
}

extension Array {
    fileprivate var nonEmpty: Self? { isEmpty ? nil : self }
}
