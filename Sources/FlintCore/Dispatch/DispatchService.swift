import FlintPluginAPI
import FlintRules
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// What the dispatcher reads from configuration.
public struct DispatchSettings: Sendable {
    /// How long a fresh send waits for others to share its request.
    public var coalesceWindow: TimeInterval
    public var maxAttempts: Int
    /// While paused by refused credentials, how often the held send is tried again.
    public var probeInterval: TimeInterval
    /// Requests in flight at once, per action.
    public var maxInFlight: Int
    /// The most requests whose outcomes go in one write transaction.
    public var outcomesPerWrite: Int

    public init(coalesceWindow: TimeInterval = 0.25, maxAttempts: Int = 8, probeInterval: TimeInterval = 60, maxInFlight: Int = 8, outcomesPerWrite: Int = 16) {
        self.coalesceWindow = coalesceWindow
        self.maxAttempts = maxAttempts
        self.probeInterval = probeInterval
        self.maxInFlight = max(1, maxInFlight)
        self.outcomesPerWrite = max(1, outcomesPerWrite)
    }
}

/// The name `flint serve`, the test kit and the tools use.
public typealias Dispatcher = DispatchService

/// Sends what the engine planned: reads due outbox rows, groups them into requests by what each
/// action declares (`ActionDispatch`), respects the budgets, retries what may be retried, and
/// records every outcome in the ledger (docs/architecture.md, Dispatch).
///
/// One lane per action, each a child task of `run()`: a stuck action holds only its own sends. A
/// lane sleeps until `wake()` (the engine committed decisions) or its next due time (a retry, a
/// coalescing window, a budget refill, a probe): it never polls. Outcomes are written per request,
/// one statement for a request's rows, and several requests per transaction.
///
/// Crash safety: a row is marked `sending` (committed) before its request goes out. A process that
/// dies then leaves it `sending`, and the next start turns it `unknown`: never resent by itself.
public final class DispatchService: Service, Sendable {
    public struct Status: Sendable {
        /// Why dispatching is paused (refused credentials), if it is.
        public var pausedReason: String?
        /// The pause in full: which action, why, since when, the next probe.
        public var pause: DispatchPause?
        public var requests: Int
        public var unknown: Int
        public var lastError: String?
    }

    /// A lane: one action's rows, or (nil) the rows naming an action no plugin provides.
    private struct Lane: Sendable {
        var action: String?
        var filter: ActionFilter
        var signal: WakeSignal
    }

    private struct Finished: Sendable {
        var request: BatchedRequest
        var response: ActionResponse
        var replanned: Set<Int64>
        /// When the request went out.
        var sentAt: Date
    }

    private let store: any StateStore
    private let actions: [String: any Action]
    private let ruleBook: RuleBook
    private let engineSettings: EngineSettings
    private let settings: DispatchSettings
    private let logger: Logger
    private let now: @Sendable () -> Date
    private let random: @Sendable () -> Double
    private let sleeper: @Sendable (Date) async -> Void
    private let lanes: [Lane]
    private let pauses: Mutex<PauseAndProbe>
    private let budgets: Mutex<[String: Budget]>
    private let counters = Mutex(Status(pausedReason: nil, pause: nil, requests: 0, unknown: 0, lastError: nil))
    /// Per lane (by action name; "" for the rows no plugin provides), what it remembers between looks.
    private let memories = Mutex<[String: LaneMemory]>([:])

    /// What a lane remembers between looks: the rows it holds for their coalescing window, read once
    /// rather than again at every look (re-reading and decoding them was most of what dispatch cost
    /// at a steady rate), and the newest row it has read. A full read of the due rows still happens
    /// whenever nothing is held, at least every `fullReadInterval` while something is, and after any
    /// look that left rows unsent (a pause, a budget wait, a failure): a row the lane did not keep in
    /// memory is never out of sight for longer than that.
    struct LaneMemory: Sendable {
        var held: [OutboxItem] = []
        var cursor: Int64 = 0
        var lastFullRead = Date.distantPast
        var fullReadNeeded = true

        func needsFullRead(at now: Date) -> Bool {
            fullReadNeeded || held.isEmpty || now.timeIntervalSince(lastFullRead) >= DispatchService.fullReadInterval
        }

        /// The held rows, then the fresh ones and the retries come due, by id, each once.
        static func merged(_ held: ArraySlice<OutboxItem>, _ fresh: [OutboxItem], _ retries: [OutboxItem]) -> [OutboxItem] {
            if retries.isEmpty { return Array(held) + fresh }
            var seen = Set<Int64>()
            return (Array(held) + fresh + retries).filter { seen.insert($0.id).inserted }.sorted { $0.id < $1.id }
        }
    }

    /// The longest a lane that holds rows goes without reading every due row again.
    static let fullReadInterval: TimeInterval = 1

    /// - Parameter sleep: sleeps until an instant of `now`'s clock (returns early when cancelled);
    ///   the default sleeps on the continuous clock for the time left.
    public init(
        store: any StateStore, actions: [String: any Action], ruleBook: RuleBook, engineSettings: EngineSettings, settings: DispatchSettings,
        logger: Logger, now: @escaping @Sendable () -> Date = { Date() }, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        sleep: (@Sendable (Date) async -> Void)? = nil
    ) {
        self.store = store
        self.actions = actions
        self.ruleBook = ruleBook
        self.engineSettings = engineSettings
        self.settings = settings
        self.logger = logger
        self.now = now
        self.random = random
        self.sleeper =
            sleep ?? { deadline in
                let seconds = deadline.timeIntervalSince(now())
                if seconds > 0 { try? await Task.sleep(for: .seconds(min(seconds, 365 * 86_400))) }
            }
        let names = actions.keys.sorted()
        lanes = names.map { Lane(action: $0, filter: .only($0), signal: WakeSignal()) } + [Lane(action: nil, filter: .noneOf(names), signal: WakeSignal())]
        pauses = Mutex(PauseAndProbe(interval: settings.probeInterval))
        let start = now()
        budgets = Mutex(actions.mapValues { Budget($0.dispatch.budget, now: start) })
    }

    /// New rows were committed: every lane looks at the outbox now. The engine calls it after each commit.
    public func wake() {
        for lane in lanes { lane.signal.signal() }
    }

    /// The engine's `onCommit` hook: `wake()`.
    public func nudge() { wake() }

    /// A configuration reload (SIGHUP): a paused action tries its held send at once.
    public func resumeNow() {
        pauses.withLock { $0.reload() }
        wake()
    }

    public var status: Status {
        var s = counters.withLock { $0 }
        let p = pauses.withLock { $0.first }
        s.pausedReason = p?.reason
        s.pause = p
        return s
    }

    public func run() async throws {
        let abandoned = try await store.write { t in try t.abandonSending(at: self.now()) }
        if !abandoned.isEmpty {
            logger.warning(
                "outbox rows were in flight when flint last stopped; they are now unknown and will not be resent by themselves (flint outbox --unknown)",
                metadata: ["outbox.ids": "\(abandoned)"])
        }
        let stopping = StopFlag()
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for lane in lanes {
                    group.addTask { await self.loop(lane, stopping: stopping) }
                }
            }
        } onGracefulShutdown: {
            stopping.set()
            self.wake()
        }
    }

    /// Kept for callers of the earlier dispatcher: `pass()` now returns only when its sends ended.
    public func settle() async {}

    private func loop(_ lane: Lane, stopping: StopFlag) async {
        while !Task.isCancelled, !stopping.isSet {
            var next: Date?
            var held = false
            do {
                (next, held) = try await pass(lane)
            } catch {
                logger.error("dispatch pass failed; trying again shortly", metadata: ["error": "\(error)"])
                next = now().addingTimeInterval(1)
            }
            if stopping.isSet { return }
            if held {
                // Sends wait for their group to fill (the coalesce window): the rows committed
                // meanwhile would mostly wait too, so the next look comes after a tenth of the window,
                // not at every commit (re-reading the held rows at every decided batch was most of
                // what dispatch cost under load).
                let settle = now().addingTimeInterval(settings.coalesceWindow / 10)
                await sleeper(min(next ?? settle, settle))
                if stopping.isSet { return }
            }
            if let next, next <= now() { continue }
            await sleep(until: next, on: lane.signal)
        }
    }

    /// Until `deadline` (nil: no deadline) or a wake, whichever comes first.
    private func sleep(until deadline: Date?, on signal: WakeSignal) async {
        await withTaskGroup(of: Void.self) { group in
            if let deadline { group.addTask { await self.sleeper(deadline) } }
            group.addTask { await signal.wait() }
            await group.next()
            group.cancelAll()
        }
    }

    /// Outbox rows read per look.
    static let pageSize = 2000

    /// One look at the outbox by every lane at once: sends what is due and records the outcomes;
    /// returns when to look again at the latest (`distantFuture`: only when woken). `run()` does this
    /// lane by lane; tests and tools call it directly.
    @discardableResult
    public func pass() async throws -> Date {
        try await withThrowingTaskGroup(of: Date?.self) { group in
            for lane in lanes { group.addTask { try await self.pass(lane).wake } }
            var next = Date.distantFuture
            for try await wake in group { if let wake { next = min(next, wake) } }
            return next
        }
    }

    /// - Returns: when to look again at the latest, and whether sends were held for the window.
    private func pass(_ lane: Lane) async throws -> (wake: Date?, held: Bool) {
        let start = now()
        let memoryKey = lane.action ?? ""
        let remembered = memories.withLock { $0[memoryKey] ?? LaneMemory() }
        let fullRead = remembered.needsFullRead(at: start)
        // Held rows whose window has not ended are not looked at again (no batching, no replanning)
        // until it has: only the fresh rows, the retries come due and the ripe held rows are.
        let window = settings.coalesceWindow
        // Held rows are in id order, which is the order they were decided in: the ripe ones come first.
        let split = fullRead ? 0 : remembered.held.firstIndex { $0.attempts == 0 && $0.createdAt.addingTimeInterval(window) > start } ?? remembered.held.endIndex
        let ripe = fullRead ? [] : remembered.held[..<split]
        let waiting = fullRead ? [] : remembered.held[split...]
        let (page, more, cancellations) = try await store.write { t in
            let page: [OutboxItem]
            let more: Bool
            if fullRead {
                page = try t.dueOutbox(now: start, limit: Self.pageSize, actions: lane.filter)
                more = page.count >= Self.pageSize
            } else {
                let fresh = try t.freshOutbox(after: remembered.cursor, limit: Self.pageSize, actions: lane.filter)
                let retries = try t.retriesDue(now: start, limit: Self.pageSize, actions: lane.filter)
                page = LaneMemory.merged(ripe, fresh, retries)
                more = fresh.count >= Self.pageSize || retries.count >= Self.pageSize
            }
            guard let action = lane.action else { return (page, more, [Cancellation]()) }
            let deletes = try t.dueCancellations(now: start, limit: 200).filter { try t.run(id: $0.runId)?.action == action }
            return (page, more, deletes)
        }
        // Until this look ends well, the next one reads everything due again.
        var memory = LaneMemory(held: [], cursor: max(remembered.cursor, page.last?.id ?? 0, waiting.last?.id ?? 0), lastFullRead: fullRead ? start : remembered.lastFullRead)
        memories.withLock { $0[memoryKey] = memory }
        var wake: Date? = more ? start : nil
        func wakeAt(_ date: Date?) {
            if let date { wake = min(wake ?? date, date) }
        }
        guard let name = lane.action, let action = actions[name] else {
            // Rows naming an action no plugin provides: they fail, each with the reason.
            let finished = page.map { item in
                Finished(
                    request: BatchedRequest(items: [item], request: Batcher.request(for: item)),
                    response: ActionResponse(outcome: .failure(message: "no action named '\(item.action)' is configured", retryable: false)), replanned: [],
                    sentAt: start)
            }
            if !finished.isEmpty { wakeAt(try await record(finished, action: nil, lookedAt: start)) }
            return (wake, false)
        }
        for c in cancellations { await cancel(c, action: action) }
        let declared = action.dispatch

        var due = page
        if let paused = pauses.withLock({ $0.pause(of: name) }) {
            guard paused.nextProbe <= start, !due.isEmpty else {
                wakeAt(due.isEmpty ? nil : paused.nextProbe)
                return (wake, false)
            }
            // The probe: the oldest held send, alone.
            let probe = due.removeFirst()
            pauses.withLock { $0.probing(name, now: start) }
            wakeAt(try await send([BatchedRequest(items: [probe], request: declared.coalescing.map { $0.merge([Batcher.request(for: probe)]) } ?? Batcher.request(for: probe))], action: action, replanned: [], lookedAt: start, probe: true).wake)
            if let still = pauses.withLock({ $0.pause(of: name) }) {
                wakeAt(still.nextProbe)
                return (wake, false)
            }
        }
        let waitingUntil = waiting.first.map { $0.createdAt.addingTimeInterval(window) }
        if due.isEmpty {
            memory.held = Array(waiting)
            memory.fullReadNeeded = false
            memories.withLock { $0[memoryKey] = memory }
            wakeAt(waitingUntil)
            return (wake, !waiting.isEmpty)
        }

        // Late sends are planned again first (their schedule may change, and with it their group).
        var ready: [OutboxItem] = []
        var replanned = Set<Int64>()
        let rules = ruleBook.rules
        for var item in due {
            switch await replanIfLate(&item, declared: declared) {
            case .asPlanned: ready.append(item)
            case .replanned:
                replanned.insert(item.id)
                ready.append(item)
            case .ended: break
            }
        }
        let (requests, heldUntil) = Batcher(window: settings.coalesceWindow).batch(
            ready, coalescing: declared.coalescing, alone: { !(rules.rule(id: $0.ruleId)?.cancelOn.isEmpty ?? true) }, now: start)
        wakeAt(heldUntil)
        wakeAt(waitingUntil)
        let taken = Set(requests.lazy.flatMap { $0.items.map(\.id) })
        // Held again: the rows still waiting, then the fresh ones the batcher held (newer, so the order holds).
        memory.held = Array(waiting) + ready.filter { !taken.contains($0.id) }
        let sent = try await send(requests, action: action, replanned: replanned, lookedAt: start)
        wakeAt(sent.wake)
        memory.fullReadNeeded = sent.leftover
        memories.withLock { $0[memoryKey] = memory }
        return (wake, heldUntil != nil || !waiting.isEmpty)
    }

    /// Sends requests to one action, up to `maxInFlight` at once within its budget, and records
    /// their outcomes as they come (several requests per transaction). Returns when to look again
    /// (a budget refill, the next retry or probe), and whether requests were left unsent (a pause, a
    /// budget wait): their rows stay pending for a later look.
    private func send(_ requests: [BatchedRequest], action: any Action, replanned: Set<Int64>, lookedAt: Date, probe: Bool = false) async throws -> (wake: Date?, leftover: Bool) {
        let name = action.name
        let coalescing = action.dispatch.coalescing
        var settled = 0
        var context = PluginContext(name: name, logger: logger)
        context.logger[metadataKey: "plugin.name"] = "\(name)"
        let actionContext = context
        var wake: Date?
        var nextDue: Date?
        var queue = requests[...]
        try await withThrowingTaskGroup(of: Finished.self) { group in
            var inFlight = 0
            var done: [Finished] = []
            func absorb(_ finished: Finished) async {
                inFlight -= 1
                let at = now()
                let outcome = finished.response.outcome
                budgets.withLock { b in
                    b[name]?.release(facts: finished.response.budget, now: at)
                    if case .retryLater(_, let after?) = outcome { b[name]?.block(until: after) }
                }
                switch outcome {
                case .credentialsRefused(let message):
                    pauses.withLock { $0.refused(name, reason: message, now: at) }
                    logger.critical("dispatching paused: the action refused its credentials; every send would fail", metadata: ["error": "\(message)", "action": "\(name)"])
                default:
                    // Any answer but a refusal to a request sent since the pause began means the
                    // credentials were taken: the pause ends.
                    if pauses.withLock({ $0.succeeded(name, sentAt: probe ? nil : finished.sentAt) }) { logger.notice("dispatching resumed: the held send went through", metadata: ["action": "\(name)"]) }
                }
                done.append(finished)
                if done.count >= settings.outcomesPerWrite {
                    // A failed write keeps the outcomes for the next one (the last one throws): the
                    // answers still in flight are absorbed, and their budget given back, either way.
                    do {
                        nextDue = try await record(done, action: action, lookedAt: lookedAt)
                        done = []
                    } catch {
                        logger.error("cannot record dispatch outcomes yet; trying again with the next ones", metadata: ["error": "\(error)"])
                    }
                }
            }
            while !queue.isEmpty {
                // Refused credentials stop the rest (they stay pending); only the probe goes out while paused.
                if !probe, pauses.withLock({ $0.pause(of: name) }) != nil { break }
                // A wave: what may go now, marked sending in one transaction.
                var wave: [BatchedRequest] = []
                var blocked = false
                while inFlight + wave.count < settings.maxInFlight, let next = queue.first {
                    switch budgets.withLock({ $0[name]?.take(body: next.request.body, now: now()) ?? .go }) {
                    case .go:
                        wave.append(next)
                        queue.removeFirst()
                    case .afterAnswer:
                        blocked = true
                    case .wait(let until):
                        // An answer in flight may say more is left; otherwise look again when it refills.
                        if inFlight + wave.count > 0, until.timeIntervalSince(now()) < 1 {
                            blocked = true
                        } else {
                            wake = min(wake ?? until, until)
                            queue.removeAll()
                        }
                    }
                    if blocked || queue.isEmpty { break }
                }
                if !wave.isEmpty {
                    let at = now()
                    let ids = wave.flatMap { $0.items.map(\.id) }
                    let marked: Set<Int64>
                    do {
                        marked = try await store.write { t in try t.markSending(ids: ids, at: at) }
                    } catch {
                        logger.error("cannot mark the outbox rows as sending; not sending them", metadata: ["error": "\(error)"])
                        budgets.withLock { b in for _ in wave { b[name]?.release(facts: nil, answered: false, now: at) } }
                        let retry = at.addingTimeInterval(1)
                        wake = min(wake ?? retry, retry)
                        queue.removeAll()
                        break
                    }
                    for var request in wave {
                        settled += 1
                        if request.items.contains(where: { !marked.contains($0.id) }) {
                            // Rows cancelled (or taken by another process) since the look that read
                            // them: they do not go out; the others do, merged again without them.
                            let kept = request.items.filter { marked.contains($0.id) }
                            guard !kept.isEmpty else {
                                budgets.withLock { $0[name]?.release(facts: nil, answered: false, now: at) }
                                continue
                            }
                            let singles = kept.map(Batcher.request(for:))
                            request = BatchedRequest(items: kept, request: coalescing.map { $0.merge(singles) } ?? singles[0])
                        }
                        inFlight += 1
                        let outgoing = request
                        group.addTask {
                            let response = await action.respond(to: outgoing.request, context: actionContext)
                            return Finished(request: outgoing, response: response, replanned: replanned, sentAt: at)
                        }
                    }
                }
                if inFlight == 0 { break }
                if blocked || inFlight >= settings.maxInFlight || queue.isEmpty, let finished = try await group.next() {
                    await absorb(finished)
                }
            }
            while let finished = try await group.next() { await absorb(finished) }
            if !done.isEmpty { nextDue = try await record(done, action: action, lookedAt: lookedAt) }
        }
        if let nextDue { wake = min(wake ?? nextDue, nextDue) }
        if let probe = pauses.withLock({ $0.pause(of: name)?.nextProbe }) {
            wake = min(wake ?? probe, probe)
        } else if !queue.isEmpty {
            // Left unsent by a pause that has ended since (or by an answer still awaited): look again now.
            let again = now()
            wake = min(wake ?? again, again)
        }
        return (wake, settled < requests.count)
    }

    /// Writes the outcomes of several requests in one transaction: per request, one statement for
    /// its rows and one for its runs (per group of rows whose change is the same). Returns the next
    /// retry due after `lookedAt`, when the pass read its page: a row that came due since (while
    /// these requests were in flight) was not in that page, and is looked at again at once.
    private func record(_ finished: [Finished], action: (any Action)?, lookedAt: Date) async throws -> Date? {
        let at = now()
        let table = OutcomeTable(maxAttempts: settings.maxAttempts)
        let jitter = random()
        let cancellation = action?.dispatch.cancellation
        for f in finished {
            let name = f.request.action
            Counter(label: "flint_dispatch_requests_total", dimensions: [("action", name), ("outcome", Self.label(f.response.outcome))]).increment()
            Recorder(label: "flint_dispatch_recipients_per_request").record(f.request.items.count)
        }
        let next = try await store.write { t -> Date? in
            for f in finished {
                let sent = f.request.request
                let items = f.request.items
                var cancelled = Set<Int64>()
                if case .success = f.response.outcome { cancelled = try t.cancelledRunIds(among: items.map(\.runId)) }
                var groups: [OutcomeTable.Verdict: [OutboxItem]] = [:]
                var order: [OutcomeTable.Verdict] = []
                for item in items {
                    let verdict = table.verdict(
                        for: f.response.outcome, attempts: item.attempts, outboxId: item.id, action: item.action, sent: sent,
                        sendAt: f.replanned.contains(item.id) ? item.sendAt : nil, now: at, jitter: jitter)
                    if groups[verdict] == nil { order.append(verdict) }
                    groups[verdict, default: []].append(item)
                }
                for verdict in order {
                    let rows = groups[verdict]!
                    let r = verdict.row
                    try t.setOutbox(ids: rows.map(\.id), state: r.state, attempts: r.attempts, nextAttemptAt: r.nextAttemptAt, lastError: r.lastError, at: at)
                    let runIds = rows.map(\.runId).filter { !cancelled.contains($0) }
                    if !runIds.isEmpty { try t.updateRuns(ids: runIds, verdict.run, at: at) }
                }
                guard case .success(let details) = f.response.outcome else { continue }
                for item in items where cancelled.contains(item.runId) {
                    // Cancelled while the request was in flight: withdraw it through the action.
                    guard let run = try t.run(id: item.runId) else { continue }
                    if let handle = cancellation?.handle(sent.body, details) {
                        try t.insertCancellation(
                            Cancellation(
                                runId: item.runId, scope: handle.scope, handle: handle.id, reason: run.reason, byEvent: run.cancelledBy, state: .pending,
                                attempts: 0, nextAttemptAt: nil, lastError: nil),
                            at: at)
                    }
                    try t.updateRun(
                        id: item.runId,
                        RunUpdate(status: .cancelled, reason: run.reason, scheduleId: details["schedule_id"]?.stringValue, dispatchId: details["dispatch_id"]?.stringValue, request: sent.body),
                        at: at)
                }
            }
            return try t.nextDue(after: lookedAt)
        }
        for f in finished {
            switch f.response.outcome {
            case .unknown(let message):
                let count = f.request.items.count
                counters.withLock {
                    $0.requests += 1
                    $0.unknown += count
                    $0.lastError = message
                }
                Counter(label: "flint_dispatch_unknown_total").increment(by: count)
                logger.warning("send outcome unknown; it will not be resent by itself", metadata: ["outbox.ids": "\(f.request.items.map(\.id))", "error": "\(message)"])
            case .failure(let message, _):
                counters.withLock {
                    $0.requests += 1
                    $0.lastError = message
                }
            default:
                counters.withLock { $0.requests += 1 }
            }
        }
        return next
    }

    static func label(_ outcome: ActionOutcome) -> String {
        switch outcome {
        case .success: "success"
        case .failure(_, let retryable): retryable ? "retry" : "failed"
        case .unknown: "unknown"
        case .retryLater: "rate_limited"
        case .credentialsRefused: "credentials_refused"
        }
    }

    private enum Replan {
        case asPlanned, replanned, ended
    }

    /// Plans again a send whose time passed while it waited (docs/architecture.md, planner step 3,
    /// with N = dispatch time), for actions that schedule ahead. `.ended`: the run ended here
    /// (skipped or failed at dispatch).
    private func replanIfLate(_ item: inout OutboxItem, declared: ActionDispatch) async -> Replan {
        let at = now()
        guard declared.schedulesAhead, let sendAt = item.sendAt, sendAt < at.addingTimeInterval(TimeInterval(engineSettings.lead)), item.schedule != nil,
            let rule = ruleBook.rules.rule(id: item.ruleId)
        else { return .asPlanned }
        let plan = Planner.replan(
            PlannerInput(
                eventTime: item.eventTime, now: at, schedule: rule.schedule, userZone: item.zone.flatMap(TimeZone.init(identifier:)),
                defaultZone: engineSettings.defaultZone, companyZone: engineSettings.companyZone, lead: engineSettings.lead),
            dispatchTime: at)
        switch plan.outcome {
        case .send(let schedule, let newSendAt):
            item.schedule = schedule.json
            item.sendAt = newSendAt
            logger.info("re-planned a send whose time passed while it waited", metadata: ["run.id": "\(item.runId)", "schedule.time": "\(schedule.time)"])
            return .replanned
        case .skip(let reason), .fail(let reason):
            let status: RunStatus
            if case .skip = plan.outcome { status = .skipped } else { status = .failed }
            let id = item.id, runId = item.runId, attempts = item.attempts
            try? await store.write { t in
                try t.setOutbox(id: id, state: .cancelled, attempts: attempts, nextAttemptAt: nil, lastError: reason, body: nil, at: at)
                try t.updateRun(id: runId, RunUpdate(status: status, reason: "at dispatch: " + reason), at: at)
            }
            return .ended
        }
    }

    /// Withdraws a send the action accepted (`cancel_on` after it was sent), as the action declares.
    private func cancel(_ c: Cancellation, action: any Action) async {
        let at = now()
        guard let declared = action.dispatch.cancellation else {
            let message = "action '\(action.name)' cannot withdraw a send it accepted"
            try? await store.write { t in
                try t.setCancellation(runId: c.runId, state: .dead, attempts: c.attempts, nextAttemptAt: nil, lastError: message, at: at)
                try t.updateRun(id: c.runId, RunUpdate(status: .scheduled, reason: "cancel requested, but \(message)"), at: at)
            }
            return
        }
        // A cancellation asked for at decision time (or by hand) names only the handle the action
        // answered; the action reads the rest from the body it was sent.
        var scope = c.scope
        if scope == nil, let sent = try? await store.write({ t in try t.outbox(runId: c.runId)?.body }) {
            scope = declared.handle(sent, ["schedule_id": .string(c.handle)])?.scope
        }
        guard let scope else {
            let message = "action '\(action.name)' gave no handle to withdraw this send by"
            try? await store.write { t in
                try t.setCancellation(runId: c.runId, state: .dead, attempts: c.attempts, nextAttemptAt: nil, lastError: message, at: at)
                try t.updateRun(id: c.runId, RunUpdate(status: .scheduled, reason: "cancel requested, but \(message)"), at: at)
            }
            return
        }
        let handle = CancelHandle(scope: scope, id: c.handle)
        let outcome = await action.perform(
            SendRequest(id: "cancel-\(c.runId)", body: declared.request(handle), schedule: nil, operation: .delete),
            context: PluginContext(name: action.name, logger: logger))
        let attempts = c.attempts + 1
        let jitter = random()
        try? await store.write { t in
            switch outcome {
            case .success:
                try t.setCancellation(runId: c.runId, state: .sent, attempts: attempts, nextAttemptAt: nil, lastError: nil, at: at)
                try t.updateRun(id: c.runId, RunUpdate(status: .cancelled, reason: c.reason + "; " + declared.done(handle)), at: at)
            case .failure(let m, true), .retryLater(let m, _):
                if attempts >= self.settings.maxAttempts {
                    try t.setCancellation(runId: c.runId, state: .dead, attempts: attempts, nextAttemptAt: nil, lastError: m, at: at)
                } else {
                    try t.setCancellation(
                        runId: c.runId, state: .pending, attempts: attempts, nextAttemptAt: at.addingTimeInterval(DispatchPolicy.backoff(attempt: attempts, jitter: jitter)),
                        lastError: m, at: at)
                }
            case .failure(let m, false), .unknown(let m), .credentialsRefused(let m):
                try t.setCancellation(runId: c.runId, state: .dead, attempts: attempts, nextAttemptAt: nil, lastError: m, at: at)
                try t.updateRun(id: c.runId, RunUpdate(status: .scheduled, reason: "cancel requested but the action '\(action.name)' could not withdraw it: \(m)"), at: at)
            }
        }
    }
}

/// Set once, at graceful shutdown.
private final class StopFlag: Sendable {
    private let flag = Mutex(false)
    var isSet: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}
