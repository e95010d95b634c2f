import FlintPluginAPI
import FlintRules
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// What the dispatcher reads from configuration (`braze.*`).
public struct DispatchSettings: Sendable {
    public var coalesceWindow: TimeInterval
    public var maxAttempts: Int
    public var requestsPerHour: Int
    public var audienceRequestsPerMinute: Int
    /// While paused by refused credentials, how often the held send is tried again.
    public var probeInterval: TimeInterval
    /// Requests in flight at once.
    public var maxInFlight: Int
    /// When idle, how often the outbox is looked at even without a nudge (retries coming due).
    public var idlePoll: TimeInterval

    public init(
        coalesceWindow: TimeInterval = 0.25, maxAttempts: Int = 8, requestsPerHour: Int = 250_000, audienceRequestsPerMinute: Int = 250,
        probeInterval: TimeInterval = 60, maxInFlight: Int = 8, idlePoll: TimeInterval = 1
    ) {
        self.coalesceWindow = coalesceWindow
        self.maxAttempts = maxAttempts
        self.requestsPerHour = requestsPerHour
        self.audienceRequestsPerMinute = audienceRequestsPerMinute
        self.probeInterval = probeInterval
        self.maxInFlight = maxInFlight
        self.idlePoll = idlePoll
    }
}

/// Sends what the engine planned: claims due outbox rows, coalesces them into requests, respects the
/// budgets, retries what may be retried, and records every outcome in the ledger (docs/architecture.md, Dispatch).
///
/// Crash safety: a row is marked `sending` (committed) before its request goes out. A process that
/// dies then leaves it `sending`, and the next start turns it `unknown`: never resent by itself.
public final class Dispatcher: Service, Sendable {
    public struct Status: Sendable {
        /// Why dispatching is paused (refused credentials), if it is.
        public var pausedReason: String?
        /// The pause in full: which action, why, since when, the next probe.
        public var pause: DispatchPause?
        public var requests: Int
        public var unknown: Int
        public var lastError: String?
    }

    private struct Pause: Sendable {
        var reason: String
        var action: String
        var nextProbe: Date
        var since: Date
    }

    private struct Budgets: Sendable {
        var hourly: TokenBucket
        var audience: TokenBucket
        /// What Braze last said was left in its window (`X-RateLimit-Remaining`), less what went out
        /// since; nil until the first answer of a window, when only one request goes out to learn it.
        var remaining: Int?
        var windowReset: Date?
        var inFlight = 0
        /// The action answers without rate-limit headers: nothing to learn, no need to go one at a time.
        var headersAbsent = false
    }

    private let store: any StateStore
    private let actions: [String: any Action]
    private let ruleBook: RuleBook
    private let engineSettings: EngineSettings
    private let settings: DispatchSettings
    private let logger: Logger
    private let now: @Sendable () -> Date
    private let random: @Sendable () -> Double
    private let pause = Mutex<Pause?>(nil)
    private let budgets: Mutex<Budgets>
    private let counters = Mutex(Status(pausedReason: nil, pause: nil, requests: 0, unknown: 0, lastError: nil))
    private let nudged = Mutex(false)

    /// A send to an action other than Braze, running beside the pass so a slow or stuck plugin never
    /// holds Braze's sends back.
    private struct Beside: Sendable {
        var task: Task<Void, Never>
        var action: String
        var outboxIds: [Int64]
    }

    /// By the first outbox id of each request.
    private let beside = Mutex<[Int64: Beside]>([:])

    public init(
        store: any StateStore, actions: [String: any Action], ruleBook: RuleBook, engineSettings: EngineSettings, settings: DispatchSettings,
        logger: Logger, now: @escaping @Sendable () -> Date = { Date() }, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.store = store
        self.actions = actions
        self.ruleBook = ruleBook
        self.engineSettings = engineSettings
        self.settings = settings
        self.logger = logger
        self.now = now
        self.random = random
        let start = now()
        budgets = Mutex(
            Budgets(
                hourly: TokenBucket(capacity: settings.requestsPerHour, period: 3600, now: start),
                audience: TokenBucket(capacity: settings.audienceRequestsPerMinute, period: 60, now: start)))
    }

    /// New rows were committed: look at the outbox now.
    public func nudge() { nudged.withLock { $0 = true } }

    /// A configuration reload (SIGHUP): if paused, try the held send at once.
    public func resumeNow() {
        pause.withLock { $0?.nextProbe = .distantPast }
        nudge()
    }

    public var status: Status {
        var s = counters.withLock { $0 }
        let p = pause.withLock { $0 }
        s.pausedReason = p?.reason
        s.pause = p.map { DispatchPause(action: $0.action, reason: $0.reason, since: $0.since, nextProbe: $0.nextProbe) }
        return s
    }

    public func run() async throws {
        let abandoned = try await store.write { t in try t.abandonSending(at: self.now()) }
        if !abandoned.isEmpty {
            logger.warning(
                "outbox rows were in flight when flint last stopped; they are now unknown and will not be resent by themselves (flint outbox --unknown)",
                metadata: ["outbox.ids": "\(abandoned)"])
        }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let nextWake: Date
            do {
                nextWake = try await pass()
            } catch {
                logger.error("dispatch pass failed; trying again shortly", metadata: ["error": "\(error)"])
                nextWake = now().addingTimeInterval(1)
            }
            await wait(seconds: nextWake.timeIntervalSince(now()))
        }
        await settle()
    }

    /// Waits until the sends running beside the pass (to actions other than Braze) have ended.
    public func settle() async {
        while let running = beside.withLock({ $0.values.first }) {
            await running.task.value
        }
    }

    /// Waits for the delay or a nudge, whichever comes first. Polls a flag in short steps: simple,
    /// cancellation-safe, and adds at most a few milliseconds to a send's latency.
    private func wait(seconds: TimeInterval) async {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(Int64(max(0, min(seconds, 3600)) * 1000)))
        while clock.now < deadline, !Task.isCancelled, !Task.isShuttingDownGracefully {
            if nudged.withLock({ flag in defer { flag = false }; return flag }) { return }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Outbox rows read per pass.
    static let pageSize = 2000

    /// One look at the outbox: sends what is due and records the outcomes; returns when to look
    /// again at the latest. `run()` calls it in a loop; tests and tools call it directly.
    public func pass() async throws -> Date {
        let start = now()
        var nextWake = start.addingTimeInterval(settings.idlePoll)
        // A pause holds back the action whose credentials were refused; the others go on.
        let paused = pause.withLock { $0 }
        if let paused, paused.nextProbe > start { nextWake = min(nextWake, paused.nextProbe) }
        let (page, cancellations) = try await store.write { t in
            (try t.dueOutbox(now: start, limit: Self.pageSize), try t.dueCancellations(now: start, limit: 200))
        }
        for c in cancellations { await cancel(c) }
        // Rows a send beside the pass holds are still pending until it marks them: never twice.
        let running = Set(beside.withLock { $0.values.flatMap(\.outboxIds) })
        var due = running.isEmpty ? page : page.filter { !running.contains($0.id) }
        if let paused {
            // While paused, only the probe goes out for that action: its oldest held send, once per interval.
            let held = due.filter { $0.action == paused.action }
            due.removeAll { $0.action == paused.action }
            if start >= paused.nextProbe, let probe = held.min(by: { $0.id < $1.id }) {
                await send([probe], probe: true)
                if let next = pause.withLock({ $0?.nextProbe }), next > start { nextWake = min(nextWake, next) }
            }
        }
        if due.isEmpty { return nextWake }
        // A full page means more is due behind it: look again as soon as this page is sent, rather
        // than after the idle poll (which capped a backlog at one page a second).
        if page.count >= Self.pageSize { nextWake = start }

        let rules = ruleBook.rules
        var ready: [OutboxItem] = []
        var coalescable: [OutboxItem] = []
        for item in due {
            let rule = rules.rule(id: item.ruleId)
            let canCoalesce = item.action == "braze" && rule.map { $0.cancelOn.isEmpty } ?? false && item.body["recipients"] != nil
            if !canCoalesce {
                ready.append(item)
            } else {
                let windowEnd = item.createdAt.addingTimeInterval(settings.coalesceWindow)
                if windowEnd <= start || item.attempts > 0 { coalescable.append(item) } else { nextWake = min(nextWake, windowEnd) }
            }
        }
        // Late sends are re-planned first (their schedule may change, and with it their group).
        var requests: [[OutboxItem]] = []
        for var item in ready where await replanIfLate(&item) {
            requests.append([item])
        }
        var groups: [String: [OutboxItem]] = [:]
        var order: [String] = []
        for var item in coalescable where await replanIfLate(&item) {
            let key = DispatchPolicy.coalescingKey(action: item.action, body: item.body)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(item)
        }
        for key in order {
            requests += DispatchPolicy.chunks(groups[key]!, identity: { DispatchPolicy.recipientIdentity($0.body["recipients"]?.arrayValue?.first ?? .null) })
        }
        await withTaskGroup(of: Void.self) { group in
            var inFlight = 0
            requests: for request in requests {
                while true {
                    if inFlight >= settings.maxInFlight {
                        await group.next()
                        inFlight -= 1
                    }
                    if let held = pause.withLock({ $0?.action }), held == request[0].action { continue requests }
                    if request[0].action != "braze" {
                        startBeside(request)
                        continue requests
                    }
                    if let wait = takeBudget(for: request) {
                        // An answer in flight will say how much budget is left: wait for it, then look again.
                        if inFlight > 0, wait.timeIntervalSince(now()) < 1 {
                            await group.next()
                            inFlight -= 1
                            continue
                        }
                        nextWake = min(nextWake, wait)
                        continue requests
                    }
                    inFlight += 1
                    group.addTask { await self.send(request, probe: false) }
                    continue requests
                }
            }
        }
        return nextWake
    }

    /// Starts a send to an action other than Braze beside the pass, up to `maxInFlight` per action;
    /// beyond that the rows stay pending for a later pass (one is nudged when a send ends).
    private func startBeside(_ request: [OutboxItem]) {
        let action = request[0].action
        let key = request[0].id
        beside.withLock { running in
            guard running.values.count(where: { $0.action == action }) < settings.maxInFlight else { return }
            let task = Task {
                await self.send(request, probe: false)
                _ = self.beside.withLock { $0.removeValue(forKey: key) }
                self.nudge()
            }
            running[key] = Beside(task: task, action: action, outboxIds: request.map(\.id))
        }
    }

    /// Takes a request's share of the budgets; nil when it may go now, else when to try again.
    ///
    /// Besides the configured buckets, never more requests in flight than Braze said were left in
    /// its window: so a small budget is met with waiting, not with 429s.
    private func takeBudget(for request: [OutboxItem]) -> Date? {
        guard request.first?.action == "braze" else { return nil }
        let at = now()
        let hasAudience = request.first?.body["audience"] != nil
        return budgets.withLock { b in
            if let reset = b.windowReset, at >= reset {
                b.remaining = nil
                b.windowReset = nil
            }
            if let remaining = b.remaining {
                if remaining <= 0 { return b.windowReset ?? at.addingTimeInterval(1) }
            } else if b.inFlight >= 1, !b.headersAbsent {
                return at.addingTimeInterval(0.005)
            }
            if let wait = b.hourly.take(now: at) { return wait }
            if hasAudience, let wait = b.audience.take(now: at) { return wait }
            if let remaining = b.remaining { b.remaining = remaining - 1 }
            b.inFlight += 1
            return nil
        }
    }

    private func releaseBudget(remaining: Int?, reset: Date?, answered: Bool = true) {
        let at = now()
        budgets.withLock { b in
            b.inFlight = max(0, b.inFlight - 1)
            if answered { b.headersAbsent = remaining == nil }
            if let remaining {
                b.remaining = max(0, remaining - b.inFlight)
                b.windowReset = reset
                b.hourly.observe(remaining: remaining, reset: reset, now: at)
            }
        }
    }

    /// Re-plans a send whose time passed while it waited (docs/architecture.md, planner step 3, with N = dispatch
    /// time). Returns false when the run ended here (skipped or failed at dispatch).
    private func replanIfLate(_ item: inout OutboxItem) async -> Bool {
        let at = now()
        guard let sendAt = item.sendAt, sendAt < at.addingTimeInterval(TimeInterval(engineSettings.lead)), item.body["schedule"] != nil else {
            return true
        }
        guard let rule = ruleBook.rules.rule(id: item.ruleId) else { return true }
        let plan = Planner.replan(
            PlannerInput(
                eventTime: item.eventTime, now: at, schedule: rule.schedule, userZone: item.zone.flatMap(TimeZone.init(identifier:)),
                defaultZone: engineSettings.defaultZone, companyZone: engineSettings.companyZone, lead: engineSettings.lead),
            dispatchTime: at)
        switch plan.outcome {
        case .send(let schedule, let newSendAt):
            if case .object(var body) = item.body {
                body["schedule"] = schedule.json
                item.body = .object(body)
            }
            item.sendAt = newSendAt
            logger.info("re-planned a send whose time passed while it waited", metadata: ["run.id": "\(item.runId)", "braze.schedule": "\(schedule.time)"])
            return true
        case .skip(let reason), .fail(let reason):
            let status: RunStatus
            if case .skip = plan.outcome { status = .skipped } else { status = .failed }
            let id = item.id, runId = item.runId, attempts = item.attempts
            try? await store.write { t in
                try t.setOutbox(id: id, state: .cancelled, attempts: attempts, nextAttemptAt: nil, lastError: reason, body: nil, at: at)
                try t.updateRun(id: runId, RunUpdate(status: status, reason: "at dispatch: " + reason), at: at)
            }
            return false
        }
    }

    /// Sends one request (one or more coalesced rows) and records the outcome for each row.
    private func send(_ items: [OutboxItem], probe: Bool) async {
        guard let action = actions[items[0].action] else {
            await record(items, outcome: .failure(message: "no action named '\(items[0].action)' is configured", retryable: false), body: items[0].body)
            return
        }
        let body = DispatchPolicy.merge(items.map(\.body))
        let at = now()
        do {
            try await store.write { t in
                for item in items {
                    try t.setOutbox(id: item.id, state: .sending, attempts: item.attempts + 1, nextAttemptAt: nil, lastError: nil, body: item.body, at: at)
                }
            }
        } catch {
            logger.error("cannot mark the outbox rows as sending; not sending them", metadata: ["error": "\(error)"])
            if items[0].action == "braze" { releaseBudget(remaining: nil, reset: nil, answered: false) }
            return
        }
        var context = PluginContext(name: action.name, logger: logger)
        context.logger[metadataKey: "plugin.name"] = "\(action.name)"
        // Braze's body carries its schedule; an action plugin gets the planned one beside its body.
        let outcome = await action.perform(SendRequest(id: items[0].key, body: body, schedule: items[0].action == "braze" ? body["schedule"] : items[0].schedule), context: context)
        counters.withLock { $0.requests += 1 }
        Counter(label: "flint_dispatch_requests_total", dimensions: [("action", action.name), ("outcome", Self.label(outcome))]).increment()
        Recorder(label: "flint_dispatch_recipients_per_request").record(items.count)
        await record(items, outcome: outcome, body: body)
        if probe, case .credentialsRefused = outcome {} else if probe {
            pause.withLock { $0 = nil }
            logger.notice("dispatching resumed: the held send went through")
            nudge()
        }
    }

    static func doneReason(action: String, scheduleId: String?) -> String {
        if let scheduleId { return "scheduled: schedule_id \(scheduleId)" }
        return action == "braze" ? "scheduled" : "scheduled: action '\(action)' accepted it"
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

    private func record(_ items: [OutboxItem], outcome: ActionOutcome, body: JSONValue) async {
        let at = now()
        do {
            try await store.write { t in
                for item in items {
                    let attempts = item.attempts + 1
                    switch outcome {
                    case .success(let details):
                        try t.setOutbox(id: item.id, state: .sent, attempts: attempts, nextAttemptAt: nil, lastError: nil, body: nil, at: at)
                        let scheduleId = details["schedule_id"]?.stringValue
                        if try t.runStatus(id: item.runId) == .cancelled, let run = try t.run(id: item.runId) {
                            // Cancelled while the create was in flight: delete it from Braze.
                            if item.action == "braze", let scheduleId, let campaign = body["campaign_id"]?.stringValue {
                                try t.insertCancellation(
                                    Cancellation(runId: item.runId, campaignId: campaign, scheduleId: scheduleId, reason: run.reason, byEvent: run.cancelledBy, state: .pending, attempts: 0, nextAttemptAt: nil, lastError: nil),
                                    at: at)
                            }
                            try t.updateRun(id: item.runId, RunUpdate(status: .cancelled, reason: run.reason, scheduleId: scheduleId, dispatchId: details["dispatch_id"]?.stringValue, request: body), at: at)
                        } else {
                            try t.updateRun(
                                id: item.runId,
                                RunUpdate(
                                    status: .scheduled, reason: Self.doneReason(action: item.action, scheduleId: scheduleId), scheduleId: scheduleId,
                                    dispatchId: details["dispatch_id"]?.stringValue, request: body, schedule: body["schedule"], sendAt: item.sendAt),
                                at: at)
                        }
                    case .failure(let message, let retryable):
                        try self.retryOrFail(item, attempts: attempts, retryable: retryable, message: message, after: nil, in: &t, at: at)
                    case .retryLater(let message, let after):
                        try self.retryOrFail(item, attempts: attempts, retryable: true, message: message, after: after, in: &t, at: at)
                    case .unknown(let message):
                        try t.setOutbox(id: item.id, state: .unknown, attempts: attempts, nextAttemptAt: nil, lastError: message, body: nil, at: at)
                        try t.updateRun(
                            id: item.runId,
                            RunUpdate(status: .unknown, reason: "sent, outcome unknown: \(message); not resent automatically (flint outbox retry \(item.id) if it is missing in Braze)", request: body),
                            at: at)
                    case .credentialsRefused(let message):
                        // The send that met it stays pending (docs/architecture.md); dispatching pauses.
                        try t.setOutbox(id: item.id, state: .pending, attempts: item.attempts, nextAttemptAt: nil, lastError: message, body: nil, at: at)
                        try t.updateRun(id: item.runId, RunUpdate(status: .pending, reason: "held: dispatching is paused: \(message)"), at: at)
                    }
                }
            }
        } catch {
            logger.error("cannot record a dispatch outcome", metadata: ["error": "\(error)", "outbox.ids": "\(items.map(\.id))"])
        }
        if items.first?.action == "braze" {
            var remaining: Int?
            var reset: Date?
            if case .success(let details) = outcome, let rate = details["rate_limit"] {
                remaining = rate["remaining"]?.numberValue.map { Int($0) }
                reset = rate["reset"]?.numberValue.map { Date(timeIntervalSince1970: $0) } ?? rate["reset"]?.stringValue.flatMap(Timestamp.parse)
            }
            if case .retryLater(_, let after?) = outcome {
                remaining = 0
                reset = after
            }
            releaseBudget(remaining: remaining, reset: reset)
        }
        switch outcome {
        case .success:
            break
        case .retryLater(_, let after?):
            budgets.withLock { $0.hourly.block(until: after) }
        case .unknown(let message):
            counters.withLock {
                $0.unknown += items.count
                $0.lastError = message
            }
            Counter(label: "flint_dispatch_unknown_total").increment(by: items.count)
            logger.warning("send outcome unknown; it will not be resent by itself", metadata: ["outbox.ids": "\(items.map(\.id))", "error": "\(message)"])
        case .credentialsRefused(let message):
            let next = at.addingTimeInterval(settings.probeInterval)
            // A failed probe keeps the pause's start: "since" is when the credentials were first refused.
            pause.withLock { p in
                let since = p.flatMap { $0.action == items[0].action ? $0.since : nil } ?? at
                p = Pause(reason: message, action: items[0].action, nextProbe: next, since: since)
            }
            logger.critical("dispatching paused: the action refused its credentials; every send would fail", metadata: ["error": "\(message)", "action": "\(items[0].action)"])
        case .failure(let message, _):
            counters.withLock { $0.lastError = message }
        default:
            break
        }
    }

    private func retryOrFail(
        _ item: OutboxItem, attempts: Int, retryable: Bool, message: String, after: Date?, in t: inout any StateTransaction, at: Date
    ) throws {
        if retryable, attempts < settings.maxAttempts {
            var next = at.addingTimeInterval(DispatchPolicy.backoff(attempt: attempts, jitter: random()))
            if let after { next = max(next, after.addingTimeInterval(random())) }
            try t.setOutbox(id: item.id, state: .pending, attempts: attempts, nextAttemptAt: next, lastError: message, body: nil, at: at)
            try t.updateRun(id: item.runId, RunUpdate(status: .pending, reason: "retrying after: \(message) (attempt \(attempts) of \(settings.maxAttempts), next at \(Timestamp.formatUTC(next)))"), at: at)
        } else {
            let reason = retryable ? "dead after \(attempts) attempts: \(message)" : message
            try t.setOutbox(id: item.id, state: .dead, attempts: attempts, nextAttemptAt: nil, lastError: message, body: nil, at: at)
            try t.updateRun(id: item.runId, RunUpdate(status: .failed, reason: reason), at: at)
        }
    }

    /// Deletes a Braze schedule (`cancel_on` after the create was sent).
    private func cancel(_ c: Cancellation) async {
        guard let action = actions["braze"] else { return }
        let at = now()
        let outcome = await action.perform(
            SendRequest(id: "cancel-\(c.runId)", body: ["campaign_id": .string(c.campaignId), "schedule_id": .string(c.scheduleId)], schedule: nil, operation: .delete),
            context: PluginContext(name: action.name, logger: logger))
        try? await store.write { t in
            switch outcome {
            case .success:
                try t.setCancellation(runId: c.runId, state: .sent, attempts: c.attempts + 1, nextAttemptAt: nil, lastError: nil, at: at)
                try t.updateRun(id: c.runId, RunUpdate(status: .cancelled, reason: c.reason + "; deleted from Braze (schedule_id \(c.scheduleId))"), at: at)
            case .failure(let m, true), .retryLater(let m, _):
                let attempts = c.attempts + 1
                if attempts >= self.settings.maxAttempts {
                    try t.setCancellation(runId: c.runId, state: .dead, attempts: attempts, nextAttemptAt: nil, lastError: m, at: at)
                } else {
                    try t.setCancellation(runId: c.runId, state: .pending, attempts: attempts, nextAttemptAt: at.addingTimeInterval(DispatchPolicy.backoff(attempt: attempts, jitter: self.random())), lastError: m, at: at)
                }
            case .failure(let m, false), .unknown(let m), .credentialsRefused(let m):
                try t.setCancellation(runId: c.runId, state: .dead, attempts: c.attempts + 1, nextAttemptAt: nil, lastError: m, at: at)
                try t.updateRun(id: c.runId, RunUpdate(status: .scheduled, reason: "cancel requested but Braze's schedule/delete failed: \(m)"), at: at)
            }
        }
    }
}
