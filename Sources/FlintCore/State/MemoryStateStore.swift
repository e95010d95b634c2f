import FlintPluginAPI
import FlintRules
import Foundation
import Synchronization

/// The in-memory twin of the SQLite store, for fast tests: same protocol, same transaction semantics
/// (a write that throws leaves nothing behind).
public final class MemoryStateStore: StateStore, LedgerReader {
    struct State: Sendable {
        var events: [EventRecord] = []
        var eventsById: [String: Int] = [:]
        var rejected: [RejectedRecord] = []
        var profiles: [String: UserProfile] = [:]
        var unknownZones: [String: UnknownZoneCount] = [:]
        var ruleVersions: [String: RuleVersionRecord] = [:]
        var oncePer: [String: (time: Date, run: Int64)] = [:]
        var runs: [Int64: RunRecord] = [:]
        var consumed: [Int64: (rule: String, at: Date)] = [:]
        var outboxKeys: [String: Int64] = [:]
        /// By outbox id.
        var outbox: [Int64: Row] = [:]
        var outboxByRun: [Int64: Int64] = [:]
        var nextOutboxId: Int64 = 1
        var cancellations: [Int64: Cancellation] = [:]
        var nextEventSeq: Int64 = 1
        var nextRunId: Int64 = 1
        var nextRejectedId: Int64 = 1
        var plugins: [PluginStatus] = []
        var serve: ServeHeartbeat?
        var decidedThrough: Int64 = 0
        /// `decide_contexts`: the id is the index + 1.
        var contexts: [DecideContext] = []
    }

    struct Row: Sendable {
        var id: Int64
        var runId: Int64
        var key: String
        var action: String
        var body: JSONValue
        var sendAt: Date?
        var state: OutboxState
        var attempts: Int
        var nextAttemptAt: Date?
        var lastError: String?
        var createdAt: Date
        var updatedAt: Date
        var schedule: JSONValue?
        var zone: String?
        /// The request the action accepted.
        var sent: JSONValue?
    }

    private let state = Mutex(State())

    public init() {}

    public var ledger: any LedgerReader { self }

    public func write<T: Sendable>(_ body: @Sendable (inout any StateTransaction) throws -> T) async throws -> T {
        try state.withLock { committed in
            var transaction: any StateTransaction = Transaction(state: committed)
            let result = try body(&transaction)
            // Only a body that returned commits its changes.
            committed = (transaction as! Transaction).state
            return result
        }
    }

    struct Transaction: StateTransaction {
        var state: State

        mutating func insertEvent(_ event: Event, body: [UInt8], source: String, receivedAt: Date) throws -> Int64? {
            try insertEvent(event, source: source, receivedAt: receivedAt)
        }

        mutating func insertEvent(_ event: Event, source: String, receivedAt: Date) throws -> Int64? {
            if state.eventsById[event.messageId] != nil { return nil }
            let seq = state.nextEventSeq
            state.nextEventSeq += 1
            state.eventsById[event.messageId] = state.events.count
            state.events.append(
                EventRecord(
                    seq: seq, messageId: event.messageId, type: event.type, name: event.name, userKey: event.userKey,
                    userId: event.userId, anonymousId: event.anonymousId, timestamp: event.timestamp, receivedAt: receivedAt,
                    source: source, body: event.raw))
            return seq
        }

        mutating func insertRejected(source: String, index: Int, origin: EventOrigin?, errors: [String], body: String, receivedAt: Date) throws {
            state.rejected.append(
                RejectedRecord(id: state.nextRejectedId, receivedAt: receivedAt, source: source, index: index, errors: errors, body: body, origin: origin))
            state.nextRejectedId += 1
        }

        func profile(for userKey: String) throws -> UserProfile? { state.profiles[userKey] }

        mutating func saveProfile(_ profile: UserProfile, for userKey: String, at: Date) throws {
            state.profiles[userKey] = profile
        }

        mutating func noteUnknownZone(_ zone: String, user: String, at: Date) throws {
            var count = state.unknownZones[zone] ?? UnknownZoneCount(zone: zone, runs: 0, lastSeen: at, lastUser: user)
            count.runs += 1
            count.lastSeen = at
            count.lastUser = user
            state.unknownZones[zone] = count
        }

        mutating func replacePluginStatuses(_ statuses: [PluginStatus]) throws {
            state.plugins = statuses
        }

        func decidedThrough() throws -> Int64 { state.decidedThrough }

        mutating func setDecidedThrough(_ seq: Int64, at: Date) throws {
            state.decidedThrough = max(state.decidedThrough, seq)
        }

        mutating func saveServeHeartbeat(_ heartbeat: ServeHeartbeat) throws {
            state.serve = heartbeat
        }

        mutating func recordRuleVersion(_ version: RuleVersionRecord) throws {
            let key = version.ruleId + "\u{0}" + version.version
            if state.ruleVersions[key] == nil {
                state.ruleVersions[key] = version
            } else if state.ruleVersions[key]?.text == nil, let text = version.text {
                state.ruleVersions[key]?.text = text
            }
        }

        func oncePerLast(rule: String, key: String) throws -> Date? { state.oncePer[rule + "\u{0}" + key]?.time }

        mutating func setOncePer(rule: String, key: String, eventTime: Date, runId: Int64) throws {
            state.oncePer[rule + "\u{0}" + key] = (eventTime, runId)
        }

        func consumedCount(rule: String, since: Date) throws -> Int {
            state.consumed.values.filter { $0.rule == rule && $0.at >= since }.count
        }

        mutating func decideContextId(_ context: DecideContext) throws -> Int64 {
            if let i = state.contexts.firstIndex(of: context) { return Int64(i + 1) }
            state.contexts.append(context)
            return Int64(state.contexts.count)
        }

        mutating func insertRun(_ run: NewRun) throws -> Int64 {
            let id = state.nextRunId
            state.nextRunId += 1
            // Compact, as the SQLite store keeps it: the trace is rebuilt on read.
            let context = run.contextId.flatMap { i in i >= 1 && i <= state.contexts.count ? state.contexts[Int(i - 1)] : nil }
            state.runs[id] = RunRecord(
                id: id, eventSeq: run.eventSeq, eventId: run.eventId, ruleId: run.ruleId, ruleVersion: run.ruleVersion,
                user: run.user, status: run.status, reason: run.reason, action: run.action, sendAt: run.sendAt,
                schedule: nil, request: nil, trace: RunTrace(), createdAt: run.createdAt, updatedAt: run.createdAt, outboxKey: run.outboxKey,
                held: run.held, context: context, consumedAt: run.consumedAt)
            if let at = run.consumedAt { state.consumed[id] = (run.ruleId, at) }
            return id
        }

        mutating func insertOutbox(_ item: NewOutboxItem) throws -> Bool {
            if state.outboxKeys[item.key] != nil { return false }
            let id = state.nextOutboxId
            state.nextOutboxId += 1
            state.outboxKeys[item.key] = id
            state.outbox[id] = Row(
                id: id, runId: item.runId, key: item.key, action: item.action, body: item.body, sendAt: item.sendAt, state: .pending,
                attempts: 0, nextAttemptAt: nil, lastError: nil, createdAt: item.createdAt, updatedAt: item.createdAt, schedule: item.schedule,
                zone: item.zone)
            state.outboxByRun[item.runId] = id
            return true
        }

        func item(_ row: Row) -> OutboxItem {
            let run = state.runs[row.runId]
            let event = run.flatMap { r in state.events.first { $0.seq == r.eventSeq } }
            return OutboxItem(
                id: row.id, runId: row.runId, key: row.key, action: row.action, body: row.body, sendAt: row.sendAt, state: row.state,
                attempts: row.attempts, nextAttemptAt: row.nextAttemptAt, lastError: row.lastError, createdAt: row.createdAt,
                updatedAt: row.updatedAt, ruleId: run?.ruleId ?? "", ruleVersion: run?.ruleVersion ?? "", user: run?.user ?? "",
                eventTime: event?.timestamp ?? row.createdAt, zone: row.zone, schedule: row.schedule)
        }

        func dueOutbox(now: Date, limit: Int) throws -> [OutboxItem] {
            state.outbox.values.filter { $0.state == .pending && ($0.nextAttemptAt ?? .distantPast) <= now }
                .sorted { $0.id < $1.id }.prefix(limit).map(item)
        }

        func dueOutbox(now: Date, limit: Int, actions: ActionFilter) throws -> [OutboxItem] {
            state.outbox.values.filter { $0.state == .pending && ($0.nextAttemptAt ?? .distantPast) <= now && actions.matches($0.action) }
                .sorted { $0.id < $1.id }.prefix(limit).map(item)
        }

        func outbox(id: Int64) throws -> OutboxItem? { state.outbox[id].map(item) }

        func outbox(runId: Int64) throws -> OutboxItem? { state.outbox.values.first { $0.runId == runId }.map(item) }

        func outbox(states: [OutboxState], limit: Int, before: Int64?, after: Int64?) throws -> [OutboxItem] {
            let kept = state.outbox.values
                .filter { (states.isEmpty || states.contains($0.state)) && $0.id < (before ?? .max) && $0.id > (after ?? .min) }
                .sorted { $0.id > $1.id }
            return (before == nil && after != nil ? Array(kept.suffix(max(0, limit))) : Array(kept.prefix(max(0, limit)))).map(item)
        }

        mutating func setOutbox(id: Int64, state newState: OutboxState, attempts: Int, nextAttemptAt: Date?, lastError: String?, body: JSONValue?, at: Date) throws {
            guard var row = state.outbox[id] else { return }
            row.state = newState
            row.attempts = attempts
            row.nextAttemptAt = nextAttemptAt
            row.lastError = lastError
            if let body { row.body = body }
            row.updatedAt = at
            state.outbox[id] = row
        }

        func run(id: Int64) throws -> RunRecord? { state.runs[id].map { state.composed($0) } }

        func runStatus(id: Int64) throws -> RunStatus? { state.runs[id]?.status }

        mutating func updateRun(id: Int64, _ update: RunUpdate, at: Date) throws {
            guard var run = state.runs[id] else { return }
            run.status = update.status
            run.reason = update.reason
            if let v = update.scheduleId { run.scheduleId = v }
            if let v = update.dispatchId { run.dispatchId = v }
            if let v = update.sendAt { run.sendAt = v }
            run.updatedAt = at
            state.runs[id] = run
            // The request sent and its schedule are the outbox row's, as in the SQLite store.
            if let o = state.outboxByRun[id] {
                if let v = update.request { state.outbox[o]?.sent = v }
                if let v = update.schedule { state.outbox[o]?.schedule = v }
            }
        }

        mutating func abandonSending(at: Date) throws -> [Int64] {
            var ids: [Int64] = []
            for (id, row) in state.outbox where row.state == .sending {
                ids.append(id)
                try setOutbox(id: id, state: .unknown, attempts: row.attempts, nextAttemptAt: nil, lastError: "flint stopped while this request was in flight; it may have reached the action", body: nil, at: at)
                try updateRun(id: row.runId, RunUpdate(status: .unknown, reason: "flint stopped while the request was in flight: it may or may not have been sent; check, then flint outbox retry \(id) if it is missing"), at: at)
            }
            return ids.sorted()
        }

        mutating func insertCancellation(_ cancellation: Cancellation, at: Date) throws {
            if state.cancellations[cancellation.runId] == nil { state.cancellations[cancellation.runId] = cancellation }
        }

        func dueCancellations(now: Date, limit: Int) throws -> [Cancellation] {
            state.cancellations.values.filter { $0.state == .pending && ($0.nextAttemptAt ?? .distantPast) <= now }
                .sorted { $0.runId < $1.runId }.prefix(limit).map { $0 }
        }

        func nextDue(after now: Date) throws -> Date? {
            let rows = state.outbox.values.filter { $0.state == .pending }.compactMap(\.nextAttemptAt)
            let deletes = state.cancellations.values.filter { $0.state == .pending }.compactMap(\.nextAttemptAt)
            return (rows + deletes).filter { $0 > now }.min()
        }

        mutating func setCancellation(runId: Int64, state newState: OutboxState, attempts: Int, nextAttemptAt: Date?, lastError: String?, at: Date) throws {
            guard var c = state.cancellations[runId] else { return }
            c.state = newState
            c.attempts = attempts
            c.nextAttemptAt = nextAttemptAt
            c.lastError = lastError
            state.cancellations[runId] = c
        }

        func openRuns(rule: String, user: String) throws -> [OpenRun] {
            state.runs.values
                .filter { $0.ruleId == rule && $0.user == user && ($0.status == .pending || $0.status == .scheduled) }
                .sorted { $0.id < $1.id }
                .map { OpenRun(id: $0.id, status: $0.status, eventSeq: $0.eventSeq, scheduleId: $0.scheduleId) }
        }

        mutating func cancelRun(id: Int64, byEvent messageId: String, reason: String, at: Date) throws {
            guard var run = state.runs[id] else { return }
            run.status = .cancelled
            run.cancelledBy = messageId
            run.reason = reason
            run.updatedAt = at
            state.runs[id] = run
            if let o = state.outboxByRun[id], state.outbox[o]?.state == .pending {
                state.outbox[o]?.state = .cancelled
                state.outbox[o]?.updatedAt = at
            }
        }
    }

    // MARK: LedgerReader

    public func runs(_ query: RunQuery) async throws -> [RunRecord] {
        try state.withLock { s in
            let runs = Self.page(
                s.runs.values
                    .filter { r in
                        (query.rule == nil || r.ruleId == query.rule) && (query.status == nil || r.status == query.status)
                            && (query.user == nil || r.user == query.user) && (query.event == nil || r.eventId == query.event)
                            && (query.since == nil || r.createdAt >= query.since!)
                    }
                    .sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) },
                key: { ($0.createdAt, $0.id) }, cursor: { s.runs[$0].map { ($0.createdAt, $0.id) } },
                before: query.before, after: query.after, limit: query.limit
            ).map { s.composed($0) }
            guard query.traces else { return runs }
            var rebuilder = TraceRebuilder(archive: Archive(state: s))
            return try rebuilder.fill(runs)
        }
    }

    /// The rebuilder's reads over one snapshot.
    struct Archive: DecisionArchive {
        let state: State

        func event(seq: Int64) throws -> EventRecord? { state.events.first { $0.seq == seq } }

        func ruleVersion(rule: String, version: String) throws -> RuleVersionRecord? { state.ruleVersions[rule + "\u{0}" + version] }

        func identifies(user: String, before seq: Int64) throws -> [EventRecord] {
            state.events.filter { $0.userKey == user && $0.type == .identify && $0.seq < seq }
        }
    }

    /// One page of a listing sorted newest first by (time, id): the `limit` rows nearest to the
    /// cursor (`before`: older than it, `after`: newer than it), newest first. A cursor that is gone
    /// (pruned) compares by id alone.
    static func page<T>(
        _ sorted: [T], key: (T) -> (Date, Int64), cursor: (Int64) -> (Date, Int64)?, before: Int64?, after: Int64?, limit: Int
    ) -> [T] {
        func older(_ item: T, than id: Int64) -> Bool {
            guard let c = cursor(id) else { return key(item).1 < id }
            return key(item) < c
        }
        func newer(_ item: T, than id: Int64) -> Bool {
            guard let c = cursor(id) else { return key(item).1 > id }
            return key(item) > c
        }
        let kept = sorted.filter { item in
            (before.map { older(item, than: $0) } ?? true) && (after.map { newer(item, than: $0) } ?? true)
        }
        let n = max(0, limit)
        if before == nil, after != nil { return Array(kept.suffix(n)) }
        return Array(kept.prefix(n))
    }

    public func run(id: Int64) async throws -> RunRecord? {
        try state.withLock { s in
            guard var run = s.runs[id].map({ s.composed($0) }) else { return nil }
            var rebuilder = TraceRebuilder(archive: Archive(state: s))
            try rebuilder.fill(&run)
            return run
        }
    }

    public func decision(ofRun id: Int64) async throws -> DecidedRun? {
        try state.withLock { s in
            guard let run = s.runs[id].map({ s.composed($0) }) else { return nil }
            var rebuilder = TraceRebuilder(archive: Archive(state: s))
            return try rebuilder.decision(of: run)
        }
    }

    public func events(_ query: EventQuery) async throws -> [EventRecord] {
        state.withLock { s in
            Self.page(
                s.events
                    .filter { e in
                        (query.name == nil || e.name == query.name) && (query.user == nil || e.userKey == query.user)
                            && (query.since == nil || e.receivedAt >= query.since!)
                    }
                    .sorted { ($0.receivedAt, $0.seq) > ($1.receivedAt, $1.seq) },
                key: { ($0.receivedAt, $0.seq) }, cursor: { seq in s.events.first { $0.seq == seq }.map { ($0.receivedAt, $0.seq) } },
                before: query.before, after: query.after, limit: query.limit)
        }
    }

    public func events(seqs: [Int64]) async throws -> [Int64: EventRecord] {
        state.withLock { s in
            let wanted = Set(seqs)
            return Dictionary(uniqueKeysWithValues: s.events.filter { wanted.contains($0.seq) }.map { ($0.seq, $0) })
        }
    }

    public func event(id: String) async throws -> EventRecord? {
        state.withLock { s in
            if let i = s.eventsById[id] { return s.events[i] }
            if let seq = Int64(id) { return s.events.first { $0.seq == seq } }
            return nil
        }
    }

    public func rejected(_ query: EventQuery) async throws -> [RejectedRecord] {
        state.withLock { s in
            Self.page(
                s.rejected.filter { query.since == nil || $0.receivedAt >= query.since! }.sorted { ($0.receivedAt, $0.id) > ($1.receivedAt, $1.id) },
                key: { ($0.receivedAt, $0.id) }, cursor: { id in s.rejected.first { $0.id == id }.map { ($0.receivedAt, $0.id) } },
                before: query.before, after: query.after, limit: query.limit)
        }
    }

    public func decideProgress() async throws -> DecideProgress {
        state.withLock { DecideProgress(decidedThrough: $0.decidedThrough, lastAccepted: $0.events.last?.seq ?? 0) }
    }

    public func loggedEvents(after seq: Int64, limit: Int) async throws -> [LoggedEvent] {
        let records = state.withLock { s in
            // Events are appended in seq order.
            let start = s.events.partitioningIndex { $0.seq > seq }
            return Array(s.events[start...].prefix(limit))
        }
        return records.compactMap { r in
            guard case .success(let event) = Event.decode(r.body, receivedAt: r.receivedAt, fallbackMessageId: r.messageId) else { return nil }
            return LoggedEvent(seq: r.seq, event: event, receivedAt: r.receivedAt)
        }
    }

    public func profiles(for userKeys: [String]) async throws -> [String: UserProfile] {
        state.withLock { s in
            var found: [String: UserProfile] = [:]
            for key in userKeys { if let p = s.profiles[key] { found[key] = p } }
            return found
        }
    }

    public func status() async throws -> StoreStatus {
        state.withLock { s in
            let undecided = s.events.filter { $0.seq > s.decidedThrough }
            var counts: [RunStatus: Int] = [:]
            for r in s.runs.values { counts[r.status, default: 0] += 1 }
            let pending = s.outbox.values.filter { ($0.state == .pending || $0.state == .sending) && s.runs[$0.runId]?.status == .pending }
            let dead = s.outbox.values.filter { $0.state == .dead }
            let unknown = s.outbox.values.filter { $0.state == .unknown }
            return StoreStatus(
                runsByStatus: counts, events: s.events.count, rejected: s.rejected.count, outboxPending: pending.count,
                oldestPendingCreatedAt: pending.map(\.createdAt).min(), ruleVersions: s.ruleVersions.count,
                lastFailures: Array(s.runs.values.filter { $0.status == .failed }.sorted { $0.id > $1.id }.prefix(5)).map { s.composed($0) },
                lastEventAt: s.events.last?.receivedAt, outboxDead: dead.count, oldestDeadCreatedAt: dead.map(\.createdAt).min(),
                outboxUnknown: unknown.count, oldestUnknownCreatedAt: unknown.map(\.createdAt).min(),
                decisionBacklog: undecided.count, oldestUndecidedAt: undecided.first?.receivedAt)
        }
    }

    public func ruleVersion(rule: String, version: String) async throws -> RuleVersionRecord? {
        state.withLock { $0.ruleVersions[rule + "\u{0}" + version] }
    }

    public func pluginStatuses() async throws -> [PluginStatus] {
        state.withLock { $0.plugins }
    }

    public func unknownZones() async throws -> [UnknownZoneCount] {
        state.withLock { $0.unknownZones.values.sorted { ($0.runs, $1.zone) > ($1.runs, $0.zone) } }
    }

    public func serveHeartbeat() async throws -> ServeHeartbeat? {
        state.withLock { $0.serve }
    }

    public func outboxRows(runIds: [Int64]) async throws -> [Int64: OutboxRef] {
        state.withLock { s in
            var rows: [Int64: OutboxRef] = [:]
            for runId in runIds {
                if let id = s.outboxByRun[runId], let row = s.outbox[id] { rows[runId] = OutboxRef(id: id, runId: runId, state: row.state) }
            }
            return rows
        }
    }

    public func knownRuleIds() async throws -> [String] {
        state.withLock { s in Set(s.ruleVersions.values.map(\.ruleId)).sorted() }
    }

    public func prune(_ policy: RetentionPolicy, now: Date) async throws -> PruneResult {
        state.withLock { s in
            let open: Set<RunStatus> = [.pending, .scheduled, .unknown]
            let keepSeqs = Set(s.runs.values.filter { open.contains($0.status) }.map(\.eventSeq))
            var removedRuns = 0
            for (id, r) in s.runs where !open.contains(r.status) {
                let age = now.timeIntervalSince(r.createdAt)
                if age > (r.status == .notMatched ? policy.notMatched : policy.runs) {
                    s.runs[id] = nil
                    s.consumed[id] = nil
                    if let o = s.outboxByRun.removeValue(forKey: id) { s.outbox[o] = nil }
                    s.cancellations[id] = nil
                    removedRuns += 1
                }
            }
            let before = s.events.count
            s.events.removeAll { now.timeIntervalSince($0.receivedAt) > policy.events && !keepSeqs.contains($0.seq) }
            let removedEvents = before - s.events.count
            let liveSeqs = Set(s.events.map(\.seq))
            for (id, r) in s.runs where !liveSeqs.contains(r.eventSeq) {
                s.runs[id] = nil
                removedRuns += 1
            }
            s.eventsById = Dictionary(uniqueKeysWithValues: s.events.enumerated().map { ($1.messageId, $0) })
            let rejectedBefore = s.rejected.count
            s.rejected.removeAll { now.timeIntervalSince($0.receivedAt) > policy.rejected }
            return PruneResult(events: removedEvents, runs: removedRuns, rejected: rejectedBefore - s.rejected.count)
        }
    }
}

extension MemoryStateStore.State {
    /// A run as the ledger reads it: the request sent and the schedule from its outbox row.
    func composed(_ run: RunRecord) -> RunRecord {
        guard let o = outboxByRun[run.id], let row = outbox[o] else { return run }
        var run = run
        run.request = row.sent
        run.schedule = row.schedule
        return run
    }
}

extension RandomAccessCollection {
    /// The first index whose element satisfies `belongs` (which must be false, then true, in order).
    fileprivate func partitioningIndex(where belongs: (Element) -> Bool) -> Index {
        var low = startIndex
        var count = self.count
        while count > 0 {
            let half = count / 2
            let middle = index(low, offsetBy: half)
            if belongs(self[middle]) {
                count = half
            } else {
                low = index(after: middle)
                count -= half + 1
            }
        }
        return low
    }
}
