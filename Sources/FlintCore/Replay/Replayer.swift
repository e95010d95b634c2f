import FlintPluginAPI
import FlintRules
import Foundation

/// `flint replay` (docs/replay.md): decides the stored events of a window again with another rule
/// set, and compares each run with what was decided.
///
/// Each event is decided as of its first decision: the `now` and the settings its runs recorded
/// (an event that had no run takes those of the event before it), the profile folded from the
/// user's identify calls, and rule state (`once_per` keys, `max_sends` counts) as it stood before
/// the window, evolving within the replay exactly as `EventProcessor` makes it evolve (limits, then
/// `cancel_on` by later events). Nothing is written anywhere.
///
/// Per page of events: bodies are decoded in parallel; profiles, instants and settings are assigned
/// in commit order; every (event, rule) is decided in parallel (the pure part, both sides); then the
/// state checks run in commit order and each run is compared.
public struct Replayer: Sendable {
    /// The rules to replay with (only the `--rule` one, when given).
    public var rules: RuleSet
    /// Compare only this rule's runs.
    public var onlyRule: String?
    /// Replay only this user's events (`max_sends` then counts this user's sends alone).
    public var user: String?
    /// The settings for events decided before the ledger kept them (and a window that starts with
    /// events that made no run).
    public var fallback: DecideContext
    public var pageSize: Int
    /// The most tasks deciding at once.
    public var workers: Int

    public init(
        rules: RuleSet, onlyRule: String? = nil, user: String? = nil, fallback: DecideContext, pageSize: Int = 16_384,
        workers: Int = ProcessInfo.processInfo.activeProcessorCount
    ) {
        self.rules = onlyRule.map { id in RuleSet(rules.rules.filter { $0.id == id }) } ?? rules
        self.onlyRule = onlyRule
        self.user = user
        self.fallback = fallback
        self.pageSize = max(1, pageSize)
        self.workers = max(1, workers)
    }

    /// Replays `window`; `progress` is told (events done, events in the window) after each page.
    public func run(
        source: any ReplaySource, window: ReplayWindow, progress: ((Int, Int) -> Void)? = nil
    ) async throws -> ReplayReport {
        let started = ContinuousClock.now
        let bounds = try await source.replayBounds(window, user: user)
        var state = State(rules: rules, onlyRule: onlyRule, bounds: bounds)
        guard bounds.events > 0 else { return state.report(seconds: 0) }
        try await seed(&state, source: source, bounds: bounds)

        var after = bounds.first - 1
        var next: Task<ReplayPage, any Error>? = Self.fetch(source, after: after, through: bounds.last, user: user, limit: pageSize)
        while let pending = next {
            let page = try await pending.value
            guard let lastSeq = page.events.last?.seq else { break }
            after = lastSeq
            // Read the next page while this one is decided.
            next = after < bounds.last ? Self.fetch(source, after: after, through: bounds.last, user: user, limit: pageSize) : nil
            try await replay(page, state: &state, source: source)
            progress?(state.report.events, bounds.events)
        }
        state.finish()
        return state.report(seconds: (ContinuousClock.now - started).seconds)
    }

    private static func fetch(_ source: any ReplaySource, after: Int64, through: Int64, user: String?, limit: Int) -> Task<ReplayPage, any Error> {
        Task { try await source.replayPage(after: after, through: through, user: user, limit: limit) }
    }

    // MARK: Rule state before the window

    /// `once_per` keys and `max_sends` consumptions as they stood before the window: the runs before
    /// it that consumed each replayed rule's limits (by rule id), their `once_per` key rendered with
    /// the replayed rule's key template.
    private func seed(_ state: inout State, source: any ReplaySource, bounds: ReplayBounds) async throws {
        guard let start = bounds.firstReceivedAt else { return }
        for rule in rules.rules where rule.enabled && rule.mode == .live {
            let reach = max(rule.limit.oncePer?.within ?? 0, rule.limit.maxSends?.per ?? 0)
            if reach == 0 { continue }
            // Event times and decision times differ by the event's delay: a day more covers late events.
            let since = start.addingTimeInterval(-TimeInterval(reach) - 86_400)
            for past in try await source.pastConsumptions(rule: rule.id, since: since, before: bounds.first) {
                if rule.limit.maxSends != nil { state.consumed[rule.id, default: []].append(past.consumedAt.timeIntervalSince1970) }
                if let oncePer = rule.limit.oncePer, let event = past.event.decoded(),
                    let key = oncePer.key.renderString(in: RuleEvaluator.scope(event: event, profile: nil)), !key.isEmpty
                {
                    state.oncePer[State.key(rule.id, key)] = event.timestamp
                }
            }
            state.consumed[rule.id]?.sort()
        }
    }

    // MARK: One page

    private struct Item: Sendable {
        var index: Int
        var event: Event
        var profile: UserProfile?
        var now: Date
        var context: DecideContext
        var runs: [StoredRun]
    }

    /// The pure part of one event, both sides.
    private struct Evaluated: Sendable {
        /// Per triggered replay rule (in rule order): the decision, compacted.
        var after: [(rule: Rule, decision: Planned)]
        /// Per stored run compared: what was decided.
        var before: [(run: StoredRun, decided: ReplayRun)]
        /// Replay rules whose `cancel_on` this event meets.
        var cancels: [Rule]
    }

    /// A decision reduced to what replay compares and what the limits read.
    struct Planned: Sendable {
        enum Kind: Sendable { case notMatched, skipped, failed, planned }
        var kind: Kind
        var sendAt: Date?
        var schedule: [UInt8]?
        var request: [UInt8]?
        var zone: String?
        var oncePerKey: String?

        init(_ d: Decision) {
            switch d.outcome {
            case .notMatched: kind = .notMatched
            case .skipped: kind = .skipped
            case .failed: kind = .failed
            case .planned: kind = .planned
            }
            sendAt = d.sendAt
            zone = d.zone
            oncePerKey = d.oncePerKey
            if kind == .planned {
                schedule = d.schedule?.json.compactUTF8
                request = d.request?.compactUTF8
            }
        }

        func run(_ status: RunStatus) -> ReplayRun {
            ReplayRun(status: status, sendAt: sendAt, schedule: schedule, request: request, zone: zone)
        }
    }

    private func replay(_ page: ReplayPage, state: inout State, source: any ReplaySource) async throws {
        // 1. Decode, in parallel.
        let decoded = await Self.parallel(page.events, workers: workers) { $0.decoded() }
        state.report.events += page.events.count

        // 2. The profiles of users met for the first time, as they stood before the window; rule
        // versions the stored runs name that are not read yet.
        var newUsers = Set<String>()
        for event in decoded {
            guard let event, state.profiles[event.userKey] == nil, !state.knownUsers.contains(event.userKey) else { continue }
            newUsers.insert(event.userKey)
        }
        if !newUsers.isEmpty {
            let found = try await source.replayProfiles(users: Array(newUsers), before: state.bounds.first)
            for user in newUsers {
                state.knownUsers.insert(user)
                if let profile = found[user] { state.profiles[user] = profile }
            }
        }
        var runsBySeq: [Int64: [StoredRun]] = [:]
        for run in page.runs {
            runsBySeq[run.eventSeq, default: []].append(run)
            guard onlyRule == nil || run.ruleId == onlyRule else { continue }
            let key = State.key(run.ruleId, run.ruleVersion)
            if state.versions[key] == nil, rules.rule(id: run.ruleId)?.version != run.ruleVersion {
                var files = state.files
                let rule = try await Self.storedRule(run.ruleId, version: run.ruleVersion, source: source, files: &files)
                state.files = files
                state.versions[key] = .some(rule)
            }
        }

        // 3. In commit order: profiles (identify calls), the instant and the settings of each event.
        var items: [Item] = []
        items.reserveCapacity(decoded.count)
        for (index, stored) in page.events.enumerated() {
            guard let event = decoded[index] else {
                state.report.unreadable += 1
                continue
            }
            let runs = runsBySeq[stored.seq] ?? []
            if let first = runs.first {
                state.now = first.createdAt
                if let context = first.context { state.context = context }
            } else if state.now.map({ $0 < stored.receivedAt }) ?? true {
                // No run recorded its decision: it was decided no earlier than it was received.
                state.now = stored.receivedAt
            }
            if event.type == .identify {
                let before = state.profiles[event.userKey]
                state.profiles[event.userKey] = ProfileFold.apply(event, to: before)
                continue
            }
            guard let name = event.name else { continue }
            if runs.isEmpty, rules.rules(triggeredBy: name).isEmpty, rules.rules(cancelledBy: name).isEmpty { continue }
            items.append(
                Item(
                    index: index, event: event, profile: state.profiles[event.userKey], now: state.now ?? stored.receivedAt,
                    context: state.context ?? fallback, runs: onlyRule.map { id in runs.filter { $0.ruleId == id } } ?? runs))
        }

        // 4. Decide, in parallel: the replayed rules, and what the stored runs decided.
        let rules = self.rules
        let versions = state.versions
        let evaluated = await Self.parallel(items, workers: workers) { item in
            Self.evaluate(item, rules: rules, versions: versions)
        }

        // 5. In commit order: cancel_on, limits, and the comparison.
        for (item, result) in zip(items, evaluated) {
            state.apply(item.event, seq: page.events[item.index].seq, now: item.now, result: result)
        }
    }

    private static func evaluate(_ item: Item, rules: RuleSet, versions: [String: Rule?]) -> Evaluated {
        let event = item.event
        let name = event.name ?? ""
        var result = Evaluated(after: [], before: [], cancels: [])
        guard let planning = item.context.planning(now: item.now) else {
            // A zone it was decided with is unknown here: compare what the rows say.
            result.before = item.runs.map { ($0, Self.recorded($0, detailed: false)) }
            return result
        }
        let prepared = PreparedEvent(event: event, profile: item.profile, defaultZone: planning.defaultZone)
        var context = planning
        context.explain = false
        for rule in rules.rules(triggeredBy: name) {
            result.after.append((rule, Planned(RuleEvaluator.evaluate(rule: rule, prepared: prepared, context: context))))
        }
        for run in item.runs {
            var decided = Self.recorded(run, detailed: false)
            if decided.planned {
                // What the stored version planned: the replayed decision when the version is the same.
                var planned: Planned?
                if let same = result.after.first(where: { $0.rule.id == run.ruleId && $0.rule.version == run.ruleVersion }) {
                    planned = same.decision
                } else if let rule = versions[State.key(run.ruleId, run.ruleVersion)] ?? nil {
                    planned = Planned(RuleEvaluator.evaluate(rule: rule, prepared: prepared, context: context))
                }
                if let planned, planned.kind == .planned { decided = planned.run(decided.status) }
            }
            result.before.append((run, decided))
        }
        let cancellers = rules.rules(cancelledBy: name)
        if !cancellers.isEmpty {
            let scope = prepared.scope
            result.cancels = cancellers.filter { rule in
                rule.cancelOn.contains { $0.events.contains(name) && ($0.condition?.evaluate(in: scope).passed ?? true) }
            }
        }
        return result
    }

    /// What a run row says was decided: a run that reached pending was decided pending, whatever
    /// dispatch made of it since, unless a later event of the window cancelled it.
    static func recorded(_ run: StoredRun, detailed: Bool) -> ReplayRun {
        var status = run.status
        if run.status != .shadow, run.consumedAt != nil { status = run.cancelledBySeq != nil ? .cancelled : .pending }
        return ReplayRun(status: status, sendAt: run.sendAt, schedule: nil, request: nil, zone: nil, detailed: detailed)
    }

    /// A recorded rule version, parsed again (nil when it is not recorded or no longer parses).
    private static func storedRule(_ id: String, version: String, source: any ReplaySource, files: inout [String: RuleSet]) async throws -> Rule? {
        guard let record = try await source.ruleVersion(rule: id, version: version) else { return nil }
        var texts: [String] = []
        if let text = record.text { texts.append(text) }
        texts.append(record.definition.compactJSON)
        for text in texts {
            let set = files[text] ?? RuleLoader.load([RuleFile(path: record.file, text: text)]).ruleSet
            files[text] = set
            if let rule = set.rule(id: id), rule.version == version { return rule }
        }
        return nil
    }

    /// `transform` over `items` in order, in up to `workers` tasks.
    static func parallel<T: Sendable, R: Sendable>(_ items: [T], workers: Int, _ transform: @escaping @Sendable (T) -> R) async -> [R] {
        let tasks = max(1, min(workers, items.count / 256))
        if tasks == 1 { return items.map(transform) }
        let chunk = (items.count + tasks - 1) / tasks
        return await withTaskGroup(of: (Int, [R]).self) { group in
            for start in stride(from: 0, to: items.count, by: chunk) {
                let slice = items[start..<min(start + chunk, items.count)]
                group.addTask { (start, slice.map(transform)) }
            }
            var parts: [(Int, [R])] = []
            for await part in group { parts.append(part) }
            return parts.sorted { $0.0 < $1.0 }.flatMap(\.1)
        }
    }

    // MARK: State

    private struct State {
        let rules: RuleSet
        let onlyRule: String?
        let bounds: ReplayBounds
        var report: ReplayReport
        var summaries: [String: ReplayRuleSummary] = [:]
        var profiles: [String: UserProfile] = [:]
        /// Users whose profile before the window was looked up.
        var knownUsers = Set<String>()
        var now: Date?
        var context: DecideContext?
        /// "rule\0key" -> event time of the last send that consumed it.
        var oncePer: [String: Date] = [:]
        /// rule -> consumption instants (seconds since 1970), ascending.
        var consumed: [String: [Double]] = [:]
        /// "rule\0version" -> the recorded version, parsed (nil inside: not recorded).
        var versions: [String: Rule?] = [:]
        var files: [String: RuleSet] = [:]
        /// Runs whose comparison waits for the end: pending sends of rules with cancel_on.
        var deferred: [Deferred] = []
        /// "rule\0user" -> indexes in `deferred` of the user's open runs.
        var open: [String: [Int]] = [:]
        var hours = HourCache()

        struct Deferred {
            var change: ReplayChange
        }

        init(rules: RuleSet, onlyRule: String?, bounds: ReplayBounds) {
            self.rules = rules
            self.onlyRule = onlyRule
            self.bounds = bounds
            self.report = ReplayReport(bounds: bounds)
        }

        static func key(_ a: String, _ b: String) -> String { a + "\u{0}" + b }

        mutating func apply(_ event: Event, seq: Int64, now: Date, result: Evaluated) {
            let user = event.userKey
            // cancel_on first, as the decider does: the user's open runs of rules this event cancels.
            for rule in result.cancels {
                guard let indexes = open.removeValue(forKey: Self.key(rule.id, user)) else { continue }
                for i in indexes { deferred[i].change.after?.status = .cancelled }
            }
            var before: [String: ReplayRun] = [:]
            for (run, decided) in result.before { before[run.ruleId] = decided }
            func change(_ rule: String, _ b: ReplayRun?, _ a: ReplayRun?) -> ReplayChange {
                ReplayChange(eventSeq: seq, eventId: event.messageId, eventName: event.name, eventTime: event.timestamp, ruleId: rule, user: user, before: b, after: a)
            }
            for (rule, decision) in result.after {
                let after = decision.run(status(rule, decision, event: event, now: now))
                let c = change(rule.id, before.removeValue(forKey: rule.id), after)
                if after.status == .pending, !rule.cancelOn.isEmpty {
                    open[Self.key(rule.id, user), default: []].append(deferred.count)
                    deferred.append(Deferred(change: c))
                } else {
                    compare(c)
                }
            }
            // Rules that ran before and not now (deleted, disabled, or no longer triggered by the event).
            for (run, decided) in result.before where before[run.ruleId] != nil {
                compare(change(run.ruleId, decided, nil))
            }
        }

        /// A replayed decision's status after the limits, which it consumes (EventProcessor.record).
        mutating func status(_ rule: Rule, _ d: Planned, event: Event, now: Date) -> RunStatus {
            switch d.kind {
            case .notMatched: return .notMatched
            case .skipped: return .skipped
            case .failed: return .failed
            case .planned: break
            }
            if rule.mode == .shadow { return .shadow }
            let t = now.timeIntervalSince1970
            if let limit = rule.limit.oncePer, let key = d.oncePerKey, let last = oncePer[Self.key(rule.id, key)] {
                // Measured between event times, before or after (docs/architecture.md, Limits).
                if abs(event.timestamp.timeIntervalSince(last)) < TimeInterval(limit.within) { return .skipped }
            }
            if let cap = rule.limit.maxSends {
                let times = consumed[rule.id] ?? []
                let since = t - TimeInterval(cap.per)
                // The first consumption at or after `since`.
                var lo = 0
                var hi = times.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if times[mid] < since { lo = mid + 1 } else { hi = mid }
                }
                if times.count - lo >= cap.count { return .skipped }
            }
            if let key = d.oncePerKey, rule.limit.oncePer != nil { oncePer[Self.key(rule.id, key)] = event.timestamp }
            if rule.limit.maxSends != nil { consumed[rule.id, default: []].append(t) }
            return .pending
        }

        mutating func compare(_ c: ReplayChange) {
            var summary = summaries[c.ruleId] ?? ReplayRuleSummary(ruleId: c.ruleId)
            if let b = c.before, b.status == .pending || b.status == .shadow, let at = b.sendAt, let h = hours.hour(at, zone: b.zone) { summary.hoursBefore[h] += 1 }
            if let a = c.after, a.status == .pending || a.status == .shadow, let at = a.sendAt, let h = hours.hour(at, zone: a.zone) { summary.hoursAfter[h] += 1 }
            switch (c.before, c.after) {
            case (nil, nil): return
            case (nil, _): summary.added += 1
            case (_, nil): summary.removed += 1
            case (let b?, let a?):
                if b.sameOutcome(as: a) {
                    summary.unchanged += 1
                    summaries[c.ruleId] = summary
                    return
                }
                summary.changed += 1
                if b.status != a.status {
                    summary.statusChanges["\(b.status.rawValue) -> \(a.status.rawValue)", default: 0] += 1
                } else {
                    if let x = b.sendAt, let y = a.sendAt, abs(y.timeIntervalSince(x)) >= 0.0005 { summary.shifts.append(y.timeIntervalSince(x)) }
                    if b.detailed, a.detailed, b.schedule != a.schedule || b.request != a.request { summary.requestChanges += 1 }
                }
            }
            summaries[c.ruleId] = summary
            report.changes.append(c)
        }

        mutating func finish() {
            for d in deferred { compare(d.change) }
            deferred.removeAll()
            open.removeAll()
            report.changes.sort { ($0.eventSeq, $0.ruleId) < ($1.eventSeq, $1.ruleId) }
        }

        func report(seconds: Double) -> ReplayReport {
            var r = report
            r.summaries = summaries.values.sorted { $0.ruleId < $1.ruleId }
            r.seconds = seconds
            return r
        }
    }
}

/// The local hour of send times, with each zone's offset cached per UTC hour.
struct HourCache {
    private var zones: [String: TimeZone?] = [:]
    private var offsets: [String: [Int64: Int]] = [:]

    mutating func hour(_ date: Date, zone name: String?) -> Int? {
        let name = name ?? "UTC"
        if zones[name] == nil { zones[name] = .some(ZoneName.resolve(name) ?? TimeZone(identifier: name)) }
        guard let zone = zones[name] ?? nil else { return nil }
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let bucket = seconds / 3600
        let offset: Int
        if let known = offsets[name]?[bucket] {
            offset = known
        } else {
            offset = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(bucket * 3600)))
            offsets[name, default: [:]][bucket] = offset
        }
        let local = seconds + Int64(offset)
        let h = Int(((local % 86_400) + 86_400) % 86_400 / 3600)
        return h
    }
}

extension Duration {
    fileprivate var seconds: Double {
        let (s, a) = components
        return Double(s) + Double(a) / 1e18
    }
}
