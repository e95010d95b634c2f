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
    /// Decides every run again with both versions, taking nothing from run rows and leaving no part
    /// of a decision out (`--exhaustive`): slower, and the same report but for the requests it shows.
    public var exhaustive = false
    /// Whether changed runs carry their requests (`--json` shows them; the human report does not):
    /// without, a request is built only where it must be compared.
    public var showRequests = true

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
        var state = State(rules: rules, onlyRule: onlyRule, bounds: bounds, keepRequests: showRequests)
        guard bounds.events > 0 else { return state.report(seconds: 0) }
        try await seed(&state, source: source, bounds: bounds)

        var after = bounds.first - 1
        var next: Task<ReplayPage, any Error>? = Self.fetch(source, after: after, through: bounds.last, user: user, limit: pageSize)
        // Three pages in flight: the next one read, this one's parallel first pass, and the one before
        // it finished (its in-order stages, which would leave a core idle on their own).
        var inFlight: PreparedPage?
        while let pending = next {
            let page = try await pending.value
            guard let lastSeq = page.events.last?.seq else { break }
            after = lastSeq
            next = after < bounds.last ? Self.fetch(source, after: after, through: bounds.last, user: user, limit: pageSize) : nil
            let preparing = try await prepare(page, state: &state, source: source)
            if let previous = inFlight {
                try await finish(previous, state: &state, source: source)
                progress?(state.report.events, bounds.events)
            }
            inFlight = await preparing.value
        }
        if let last = inFlight {
            try await finish(last, state: &state, source: source)
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
        /// The event, when it is decided again; nil when every rule it triggers kept the version
        /// that decided it (`memoized`).
        var event: Event?
        var stored: StoredEvent
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
        var schedule: BrazeSchedule?
        /// Nil for a send whose request was not built (`PlanningContext.buildRequest`).
        var request: JSONValue?
        var zone: String?
        var oncePerKey: String?
        /// False for a decision taken from its run row (`memoized`): no request or schedule.
        var detailed = true

        /// The decision a run row records, for a rule whose version is the one that decided it.
        init(memoized run: StoredRun) {
            kind = Replayer.kind(of: run)
            sendAt = run.sendAt
            detailed = false
        }

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
                schedule = d.schedule
                request = d.request
            }
        }

        init(notMatched: Void) {
            kind = .notMatched
        }

        /// Builds the request of a send planned without it.
        mutating func buildRequest(_ rule: Rule, scope: JSONValue) {
            guard kind == .planned, request == nil, rule.send.isBraze, let schedule else { return }
            if case .success(let body) = BrazeRequestBuilder.body(send: rule.send, scope: scope, schedule: schedule) { request = body }
        }

        func run(_ status: RunStatus) -> ReplayRun {
            ReplayRun(status: status, sendAt: sendAt, schedule: schedule, request: request, zone: zone, detailed: detailed)
        }
    }

    /// What the decision of a run was, before limits, by its row.
    static func kind(of run: StoredRun) -> Planned.Kind {
        if run.status == .shadow || run.consumedAt != nil || run.held { return .planned }
        switch run.status {
        case .notMatched: return .notMatched
        case .skipped: return .skipped
        case .failed: return .failed
        default: return .planned
        }
    }

    /// Whether `run` holds what `rule` decides, so the decision need not be made again: the same
    /// version of a live rule, unless the limits need the `once_per` key of a planned send.
    static func unchanged(_ rule: Rule, run: StoredRun, deltas: [VersionKey: RuleDelta]) -> Bool {
        guard rule.mode == .live, !(rule.limit.oncePer != nil && kind(of: run) == .planned) else { return false }
        if run.ruleVersion == rule.version { return true }
        return deltas[VersionKey(rule.id, run.ruleVersion)]?.sameDecision ?? false
    }

    /// Whether an event must be decided again: an identify call (it changes the profile), a
    /// `cancel_on` event of the replayed rules, a rule it triggers that is new, edited, in shadow
    /// mode or whose `once_per` key a planned send needs, or a run of another version that planned a
    /// send (its request is compared). Otherwise the pure decision of every rule it triggers is the one
    /// its run recorded: a decision is a pure function of the event, the rule version, the profile,
    /// the settings and the instant (docs/architecture.md, Runs and the ledger), and replay gives it
    /// the same ones; its limits and `cancel_on` are still replayed.
    private func mustDecide(_ stored: StoredEvent, runs: [StoredRun], deltas: [VersionKey: RuleDelta]) -> Bool {
        if stored.type == .identify || exhaustive { return true }
        guard let name = stored.name else { return false }
        if !rules.rules(cancelledBy: name).isEmpty { return true }
        for rule in rules.rules(triggeredBy: name) {
            guard let run = runs.first(where: { $0.ruleId == rule.id }), Self.unchanged(rule, run: run, deltas: deltas) else { return true }
        }
        for run in runs {
            guard let rule = rules.rule(id: run.ruleId) else {
                // A rule gone from the set: its planned sends are shown as they were.
                if Self.recorded(run, detailed: false).planned { return true }
                continue
            }
            if rule.version != run.ruleVersion, Self.recorded(run, detailed: false).planned,
                !(deltas[VersionKey(rule.id, run.ruleVersion)]?.sameDecision ?? false)
            {
                return true
            }
        }
        return false
    }

    /// What the parallel pass makes of one event of a page.
    private enum Prepared: Sendable {
        /// Nothing to replay: no rule of either side is triggered by it.
        case none
        /// Its body no longer reads as an event.
        case unreadable
        case identify(Event)
        /// To decide again (`mustDecide`).
        case decide(Event)
        /// Every rule it triggers kept its version: the decisions its runs recorded.
        case memoized(Evaluated)
    }

    /// A page after its first pass: each event's runs, and what the parallel pass made of it.
    private struct PreparedPage: Sendable {
        var page: ReplayPage
        var ranges: [Range<Int>]
        var prepared: [Prepared]
    }

    /// Stages 1 and 2 of a page: the first in order (it reads recorded rule versions), the second
    /// started in parallel and returned.
    private func prepare(_ page: ReplayPage, state: inout State, source: any ReplaySource) async throws -> Task<PreparedPage, Never> {
        // 1. Each event's runs (both are in seq order), and the recorded rule versions not read yet.
        var ranges = [Range<Int>](repeating: 0..<0, count: page.events.count)
        var r = 0
        for (i, event) in page.events.enumerated() {
            while r < page.runs.count, page.runs[r].eventSeq < event.seq { r += 1 }
            let start = r
            while r < page.runs.count, page.runs[r].eventSeq == event.seq { r += 1 }
            ranges[i] = start..<r
        }
        var seen = Set<VersionKey>()
        for run in page.runs where onlyRule == nil || run.ruleId == onlyRule {
            let key = VersionKey(run.ruleId, run.ruleVersion)
            guard !seen.contains(key) else { continue }
            seen.insert(key)
            let current = rules.rule(id: run.ruleId)
            if state.versions[key] == nil, current?.version != run.ruleVersion {
                var files = state.files
                let rule = try await Self.storedRule(run.ruleId, version: run.ruleVersion, source: source, files: &files)
                state.files = files
                state.versions[key] = .some(rule)
                if let current, let rule { state.deltas[key] = RuleDelta(current, rule) }
            }
        }

        // 2. In parallel: which events are decided again (their bodies decoded), and the recorded
        // decisions of the others.
        let onlyRule = self.onlyRule
        let rules = self.rules
        let runs = page.runs
        let deltas = state.deltas
        let bounds = ranges
        return Task { [self] in
            let prepared = await Self.parallel(Array(page.events.indices), workers: workers) { i -> Prepared in
                let stored = page.events[i]
                let mine = Self.compared(runs, bounds[i], onlyRule: onlyRule)
                if stored.type != .identify, let name = stored.name, mine.isEmpty, rules.rules(triggeredBy: name).isEmpty,
                    rules.rules(cancelledBy: name).isEmpty
                {
                    return .none
                }
                guard mustDecide(stored, runs: mine, deltas: deltas) else { return .memoized(Self.memoized(stored, runs: mine, rules: rules)) }
                guard let event = stored.decoded() else { return .unreadable }
                return event.type == .identify ? .identify(event) : .decide(event)
            }
            return PreparedPage(page: page, ranges: bounds, prepared: prepared)
        }
    }

    /// An event's runs that the replay compares (only `--rule`'s, when given).
    private static func compared(_ runs: [StoredRun], _ range: Range<Int>, onlyRule: String?) -> [StoredRun] {
        let all = Array(runs[range])
        return onlyRule.map { id in all.filter { $0.ruleId == id } } ?? all
    }

    /// Stages 3 to 6 of a page prepared by `prepare`.
    private func finish(_ first: PreparedPage, state: inout State, source: any ReplaySource) async throws {
        let page = first.page
        let ranges = first.ranges
        let prepared = first.prepared
        let runs = page.runs
        let onlyRule = self.onlyRule
        let rules = self.rules
        let deltas = state.deltas
        func compared(_ i: Int) -> [StoredRun] { Self.compared(runs, ranges[i], onlyRule: onlyRule) }
        state.report.events += page.events.count

        // 3. The profiles of the users of events decided again, met for the first time, as they stood
        // before the window.
        var newUsers = Set<String>()
        for p in prepared {
            switch p {
            case .identify(let event), .decide(let event):
                if state.profiles[event.userKey] == nil, !state.knownUsers.contains(event.userKey) { newUsers.insert(event.userKey) }
            default: continue
            }
        }
        if !newUsers.isEmpty {
            let found = try await source.replayProfiles(users: Array(newUsers), before: state.bounds.first)
            for user in newUsers {
                state.knownUsers.insert(user)
                if let profile = found[user] { state.profiles[user] = profile }
            }
        }

        // 4. In commit order: profiles (identify calls), the instant and the settings of each event;
        // the events decided again become items.
        var items: [Item] = []
        var slots: [(index: Int, now: Date, item: Int?)] = []
        slots.reserveCapacity(page.events.count)
        for (index, stored) in page.events.enumerated() {
            if case .unreadable = prepared[index] {
                state.report.unreadable += 1
                continue
            }
            if let first = ranges[index].first.map({ runs[$0] }) {
                state.now = first.createdAt
                if let id = first.contextId, let context = page.contexts[id] { state.context = context }
            } else if state.now.map({ $0 < stored.receivedAt }) ?? true {
                // No run recorded its decision: it was decided no earlier than it was received.
                state.now = stored.receivedAt
            }
            let now = state.now ?? stored.receivedAt
            switch prepared[index] {
            case .none, .unreadable: continue
            case .identify(let event): state.profiles[stored.userKey] = ProfileFold.apply(event, to: state.profiles[stored.userKey])
            case .memoized: slots.append((index, now, nil))
            case .decide(let event):
                slots.append((index, now, items.count))
                items.append(
                    Item(
                        index: index, event: event, stored: stored, profile: state.profiles[stored.userKey], now: now,
                        context: state.context ?? fallback, runs: compared(index)))
            }
        }

        // 5. Decide, in parallel: the replayed rules, and what the stored runs decided.
        let versions = state.versions
        let exhaustive = self.exhaustive
        let show = showRequests
        let evaluated = await Self.parallel(items, workers: workers) { item in
            Self.evaluate(item, rules: rules, versions: versions, deltas: deltas, exhaustive: exhaustive, showRequests: show)
        }

        // 6. In commit order: cancel_on, limits, and the comparison.
        for slot in slots {
            if let item = slot.item {
                state.apply(page.events[slot.index], now: slot.now, result: evaluated[item])
            } else if case .memoized(let result) = prepared[slot.index] {
                state.apply(page.events[slot.index], now: slot.now, result: result)
            }
        }
    }

    /// An event none of whose triggered rules changed: the decisions its runs recorded (`mustDecide`).
    private static func memoized(_ stored: StoredEvent, runs: [StoredRun], rules: RuleSet) -> Evaluated {
        var result = Evaluated(after: [], before: [], cancels: [])
        for rule in rules.rules(triggeredBy: stored.name ?? "") {
            if let run = runs.first(where: { $0.ruleId == rule.id }) { result.after.append((rule, Planned(memoized: run))) }
        }
        result.before = runs.map { ($0, Self.recorded($0, detailed: false)) }
        return result
    }

    private static func evaluate(
        _ item: Item, rules: RuleSet, versions: [VersionKey: Rule?], deltas: [VersionKey: RuleDelta], exhaustive: Bool, showRequests: Bool
    ) -> Evaluated {
        let name = item.stored.name ?? ""
        var result = Evaluated(after: [], before: [], cancels: [])
        guard let event = item.event else { return memoized(item.stored, runs: item.runs, rules: rules) }
        guard let planning = item.context.planning(now: item.now) else {
            // A zone it was decided with is unknown here: compare what the rows say.
            result.before = item.runs.map { ($0, Self.recorded($0, detailed: false)) }
            return result
        }
        let prepared = PreparedEvent(event: event, profile: item.profile, defaultZone: planning.defaultZone)
        var context = planning
        context.explain = false
        var unbuilt = context
        unbuilt.buildRequest = false
        // What each stored run decided, where the rules below already know it.
        var before = [ReplayRun?](repeating: nil, count: item.runs.count)
        for rule in rules.rules(triggeredBy: name) {
            guard let r = item.runs.firstIndex(where: { $0.ruleId == rule.id }) else {
                // A run only the replay has.
                result.after.append((rule, Planned(RuleEvaluator.evaluate(rule: rule, prepared: prepared, context: context))))
                continue
            }
            let run = item.runs[r]
            if !exhaustive, Self.unchanged(rule, run: run, deltas: deltas) {
                // The decision its run recorded, as in `memoized`.
                result.after.append((rule, Planned(memoized: run)))
                before[r] = Self.recorded(run, detailed: false)
                continue
            }
            let kind = Self.kind(of: run)
            let sameVersion = run.ruleVersion == rule.version
            let old = sameVersion ? rule : versions[VersionKey(rule.id, run.ruleVersion)] ?? nil
            let delta = exhaustive ? nil : sameVersion ? RuleDelta.same : deltas[VersionKey(rule.id, run.ruleVersion)]

            if let delta, delta.sameSchedule, delta.sameSend, kind != .notMatched {
                // Only `when` differs (or a once_per key is needed): the condition decides, and past it
                // the rest of the decision is the run's own (the same schedule and send, the same
                // event, profile, settings and instant).
                if let condition = rule.trigger.condition, !condition.evaluate(in: prepared.scope).passed {
                    result.after.append((rule, Planned(notMatched: ())))
                    guard kind == .planned else { continue }
                    // A change: the send it planned is shown in full, or at least counted in its hour.
                    if showRequests, let old {
                        let decided = Planned(RuleEvaluator.evaluate(rule: old, prepared: prepared, context: context))
                        if decided.kind == .planned { before[r] = decided.run(Self.recorded(run, detailed: true).status) }
                    } else {
                        var recorded = Self.recorded(run, detailed: false)
                        recorded.zone = Self.zoneName(rule.schedule, prepared: prepared, context: context)
                        before[r] = recorded
                    }
                    continue
                }
                var after = Planned(memoized: run)
                var recorded = Self.recorded(run, detailed: false)
                if kind == .planned {
                    // Both sides read wall clocks in the same zone: the send-hour histogram counts them.
                    let zone = Self.zoneName(rule.schedule, prepared: prepared, context: context)
                    after.zone = zone
                    recorded.zone = zone
                    if let oncePer = rule.limit.oncePer {
                        if let key = oncePer.key.renderString(in: prepared.scope), !key.isEmpty {
                            after.oncePerKey = key
                        } else {
                            after = Planned(RuleEvaluator.evaluate(rule: rule, prepared: prepared, context: context))
                        }
                    }
                }
                result.after.append((rule, after))
                before[r] = recorded
                continue
            }

            // The schedule or the send differ (or the run matched nothing before): decide again. With
            // the same send spec the request differs only by its schedule, so it is built only to
            // show a change.
            let sameSend = delta?.sameSend == true && kind == .planned
            var after = Planned(RuleEvaluator.evaluate(rule: rule, prepared: prepared, context: sameSend ? unbuilt : context))
            before[r] = Self.recorded(run, detailed: false)
            if kind == .planned, let old {
                var decided = Planned(RuleEvaluator.evaluate(rule: old, prepared: prepared, context: sameSend ? unbuilt : context))
                if sameSend, showRequests, !(decided.kind == .planned && after.kind == .planned && decided.schedule == after.schedule) {
                    decided.buildRequest(old, scope: prepared.scope)
                    after.buildRequest(rule, scope: prepared.scope)
                }
                if decided.kind == .planned { before[r] = decided.run(Self.recorded(run, detailed: true).status) }
            }
            result.after.append((rule, after))
        }
        for (r, run) in item.runs.enumerated() {
            if let known = before[r] {
                result.before.append((run, known))
                continue
            }
            // A rule no longer triggered by this event, or gone: what its version planned, shown in full.
            var decided = Self.recorded(run, detailed: false)
            if decided.planned, let rule = versions[VersionKey(run.ruleId, run.ruleVersion)] ?? rules.rule(id: run.ruleId).flatMap({ $0.version == run.ruleVersion ? $0 : nil }) {
                let planned = Planned(RuleEvaluator.evaluate(rule: rule, prepared: prepared, context: context))
                if planned.kind == .planned { decided = planned.run(decided.status) }
            }
            result.before.append((run, decided))
        }
        if !showRequests { Self.compareRequests(&result) }
        let cancellers = rules.rules(cancelledBy: name)
        if !cancellers.isEmpty {
            let scope = prepared.scope
            result.cancels = cancellers.filter { rule in
                rule.cancelOn.contains { $0.events.contains(name) && ($0.condition?.evaluate(in: scope).passed ?? true) }
            }
        }
        return result
    }

    /// For a report that shows no request: compares each run's two requests here, in the parallel
    /// pass, and keeps only whether they differ (a marker on each side), so the request trees are
    /// freed by the workers instead of by the in-order stage.
    private static func compareRequests(_ result: inout Evaluated) {
        var paired = [Bool](repeating: false, count: result.before.count)
        for i in result.after.indices {
            guard let after = result.after[i].decision.request else { continue }
            let id = result.after[i].rule.id
            if let j = result.before.firstIndex(where: { $0.run.ruleId == id }), let before = result.before[j].decided.request {
                paired[j] = true
                let same = after == before
                result.after[i].decision.request = same ? nil : .bool(true)
                result.before[j].decided.request = same ? nil : .bool(false)
            } else {
                result.after[i].decision.request = .bool(true)
            }
        }
        for j in result.before.indices where !paired[j] && result.before[j].decided.request != nil {
            result.before[j].decided.request = .bool(false)
        }
    }

    /// The zone a rule's planner reads wall clocks in for this event (its runs' `zone`).
    private static func zoneName(_ schedule: ScheduleSpec, prepared: PreparedEvent, context: PlanningContext) -> String? {
        switch schedule.timeZone {
        case .user: return ZoneName.display(prepared.userZone ?? context.defaultZone)
        case .named(let name): return ZoneName.resolve(name).map(ZoneName.display)
        }
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
        // A few chunks per worker: the chunks are uneven (only some events are decided again), and
        // the pool runs `workers` of them at a time.
        let tasks = max(1, min(workers * 4, items.count / 256))
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
        /// Whether the changes keep their requests (`showRequests`); without, they are dropped once
        /// compared, which a large change would otherwise hold in memory to the end.
        let keepRequests: Bool
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
        /// Rule and version -> the recorded version, parsed (nil inside: not recorded).
        var versions: [VersionKey: Rule?] = [:]
        /// Rule and version -> how the replayed rule differs from that recorded version.
        var deltas: [VersionKey: RuleDelta] = [:]
        var files: [String: RuleSet] = [:]
        /// Runs whose comparison waits for the end: pending sends of rules with cancel_on.
        var deferred: [Deferred] = []
        /// "rule\0user" -> indexes in `deferred` of the user's open runs.
        var open: [String: [Int]] = [:]
        var hours = HourCache()

        struct Deferred {
            var change: ReplayChange
        }

        init(rules: RuleSet, onlyRule: String?, bounds: ReplayBounds, keepRequests: Bool) {
            self.keepRequests = keepRequests
            self.rules = rules
            self.onlyRule = onlyRule
            self.bounds = bounds
            self.report = ReplayReport(bounds: bounds)
        }

        static func key(_ a: String, _ b: String) -> String { a + "\u{0}" + b }

        mutating func apply(_ event: StoredEvent, now: Date, result: Evaluated) {
            let user = event.userKey
            // cancel_on first, as the decider does: the user's open runs of rules this event cancels.
            for rule in result.cancels {
                guard let indexes = open.removeValue(forKey: Self.key(rule.id, user)) else { continue }
                for i in indexes { deferred[i].change.after?.status = .cancelled }
            }
            var matched = [Bool](repeating: false, count: result.before.count)
            for (rule, decision) in result.after {
                let after = decision.run(status(rule, decision, event: event, now: now))
                var before: ReplayRun?
                if let i = result.before.firstIndex(where: { $0.run.ruleId == rule.id }) {
                    matched[i] = true
                    before = result.before[i].decided
                }
                if after.status == .pending, !rule.cancelOn.isEmpty {
                    open[Self.key(rule.id, user), default: []].append(deferred.count)
                    deferred.append(Deferred(change: Self.change(event, rule.id, before, after)))
                } else {
                    compare(event, rule.id, before, after)
                }
            }
            // Rules that ran before and not now (deleted, disabled, or no longer triggered by the event).
            for (i, (run, decided)) in result.before.enumerated() where !matched[i] {
                compare(event, run.ruleId, decided, nil)
            }
        }

        static func change(_ event: StoredEvent, _ rule: String, _ before: ReplayRun?, _ after: ReplayRun?) -> ReplayChange {
            ReplayChange(
                eventSeq: event.seq, eventId: event.messageId, eventName: event.name, eventTime: event.timestamp, ruleId: rule, user: event.userKey,
                before: before, after: after)
        }

        func kept(_ change: ReplayChange) -> ReplayChange {
            guard !keepRequests else { return change }
            var c = change
            c.before?.request = nil
            c.after?.request = nil
            return c
        }

        mutating func compare(_ event: StoredEvent, _ rule: String, _ before: ReplayRun?, _ after: ReplayRun?) {
            if Self.tally(before, after, into: &summaries[rule, default: ReplayRuleSummary(ruleId: rule)], hours: &hours) {
                report.changes.append(kept(Self.change(event, rule, before, after)))
            }
        }

        /// A replayed decision's status after the limits, which it consumes (EventProcessor.record).
        mutating func status(_ rule: Rule, _ d: Planned, event: StoredEvent, now: Date) -> RunStatus {
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
            if Self.tally(c.before, c.after, into: &summaries[c.ruleId, default: ReplayRuleSummary(ruleId: c.ruleId)], hours: &hours) {
                report.changes.append(kept(c))
            }
        }

        /// Counts one pair of runs; true when it is a change.
        static func tally(_ before: ReplayRun?, _ after: ReplayRun?, into summary: inout ReplayRuleSummary, hours: inout HourCache) -> Bool {
            // Send hours of the runs decided again (a run taken from its row is the same on both sides).
            if let b = before, b.status == .pending || b.status == .shadow, let zone = b.zone, let at = b.sendAt, let h = hours.hour(at, zone: zone) {
                summary.hoursBefore[h] += 1
            }
            if let a = after, a.status == .pending || a.status == .shadow, let zone = a.zone, let at = a.sendAt, let h = hours.hour(at, zone: zone) {
                summary.hoursAfter[h] += 1
            }
            switch (before, after) {
            case (nil, nil): return false
            case (nil, _): summary.added += 1
            case (_, nil): summary.removed += 1
            case (let b?, let a?):
                if b.sameOutcome(as: a) {
                    summary.unchanged += 1
                    return false
                }
                summary.changed += 1
                if b.status != a.status {
                    summary.statusChanges["\(b.status.rawValue) -> \(a.status.rawValue)", default: 0] += 1
                } else {
                    if let x = b.sendAt, let y = a.sendAt, abs(y.timeIntervalSince(x)) >= 0.0005 { summary.shifts.append(y.timeIntervalSince(x)) }
                    if b.detailed, a.detailed, b.schedule != a.schedule || b.request != a.request { summary.requestChanges += 1 }
                }
            }
            return true
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

    mutating func hour(_ date: Date, zone name: String) -> Int? {
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

/// How a rule differs from a recorded version of it, by the parts of its definition a decision
/// reads: `when` (trigger and conditions), `schedule` (the planner) and `send` (the request). The
/// pure decision of a version is a function of those parts and of its inputs, so parts that are the
/// same need not be decided again (docs/replay.md, How it is fast). Parts are compared as canonical
/// JSON: two spellings of the same thing count as different, which only costs time.
struct RuleDelta: Sendable {
    var sameWhen: Bool
    var sameSchedule: Bool
    var sameSend: Bool

    static let same = RuleDelta(sameWhen: true, sameSchedule: true, sameSend: true)

    init(sameWhen: Bool, sameSchedule: Bool, sameSend: Bool) {
        self.sameWhen = sameWhen
        self.sameSchedule = sameSchedule
        self.sameSend = sameSend
    }

    init(_ rule: Rule, _ recorded: Rule) {
        guard case .object(let a) = rule.definition, case .object(let b) = recorded.definition else {
            self.init(sameWhen: false, sameSchedule: false, sameSend: false)
            return
        }
        self.init(sameWhen: a["when"] == b["when"], sameSchedule: a["schedule"] == b["schedule"], sameSend: a["send"] == b["send"])
    }

    /// Every part a pure decision reads is the same: mode, description, limits or cancel_on changed.
    var sameDecision: Bool { sameWhen && sameSchedule && sameSend }
}

/// A rule id and one of its versions.
struct VersionKey: Hashable, Sendable {
    var rule: String
    var version: String

    init(_ rule: String, _ version: String) {
        self.rule = rule
        self.version = version
    }
}
