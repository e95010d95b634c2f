import FlintPluginAPI
import FlintRules
import Foundation

/// What deciding one accepted event does inside the decider's batch transaction: identify updates
/// the profile, `cancel_on` cancels, then each triggered rule is evaluated and its run written with
/// its outbox row and the rule state it consumes. Pure decisions come from FlintRules (computed ahead,
/// in parallel, by the decider when it can); this type only sequences them against the transaction
/// (docs/architecture.md, The pipeline and Limits).
struct EventProcessor {
    let rules: RuleSet
    let settings: EngineSettings
    /// The decision instant: built from the Double the store keeps as the run's `created_at`, so a
    /// rebuild plans with exactly this instant.
    let now: Date
    /// Also hand back, per run, the trace, request and schedule decided (`DecisionProbe`, tests).
    var keepDecided = false

    /// Decisions are made unexplained (no gate details, no planner steps): the row keeps the outcome
    /// and the trace is rebuilt, explained, on demand. Explained only when a test keeps what was decided.
    var context: PlanningContext {
        PlanningContext(now: now, defaultZone: settings.defaultZone, companyZone: settings.companyZone, lead: settings.lead, explain: keepDecided)
    }

    /// The pure part of deciding an event for its triggered rules, computed from a profile read
    /// before the transaction. Used only when the transaction still sees that same profile.
    struct Planned: Sendable {
        var profile: UserProfile?
        var prepared: PreparedEvent
        var decisions: [Decision]
        /// Per decision, the outbox row's body and schedule already written as compact JSON (for
        /// planned sends), so the writer does not spend its time on that.
        var encoded: [Encoded]
    }

    struct Encoded: Sendable {
        var request: [UInt8]?
        var schedule: [UInt8]?
    }

    /// Evaluates the rules `event` triggers against `profile`: pure, safe to run beside the writer.
    func plan(_ event: Event, profile: UserProfile?) -> Planned? {
        guard event.type != .identify, let name = event.name else { return nil }
        let triggered = rules.rules(triggeredBy: name)
        if triggered.isEmpty { return nil }
        let prepared = PreparedEvent(event: event, profile: profile, defaultZone: settings.defaultZone)
        let decisions = triggered.map { RuleEvaluator.evaluate(rule: $0, prepared: prepared, context: context) }
        let encoded = decisions.map { d -> Encoded in
            guard case .planned = d.outcome else { return Encoded() }
            return Encoded(request: d.request?.compactUTF8, schedule: d.schedule?.json.compactUTF8)
        }
        return Planned(profile: profile, prepared: prepared, decisions: decisions, encoded: encoded)
    }

    /// A decision's status and reason once the limits are checked (`held`: the limit that held a
    /// planned send back).
    /// A `mode: shadow` rule's planned send ends `shadow`: no limit is consulted or consumed.
    static func outcome(_ decision: Decision, held: HeldBy?, mode: RuleMode = .live) -> (status: RunStatus, reason: String) {
        switch decision.outcome {
        case .notMatched: return (.notMatched, decision.reason)
        case .skipped: return (.skipped, decision.reason)
        case .failed: return (.failed, decision.reason)
        case .planned:
            if mode == .shadow { return (.shadow, "shadow, not sent: " + decision.reason) }
            return held.map { (.skipped, $0.detail) } ?? (.pending, decision.reason)
        }
    }

    /// What a decision makes of its run: status, reason, the trace (the decision's gates, then the
    /// limits' gates: the one that held it back, or those it passed), the request and schedule.
    /// The decider (for its probe) and `TraceRebuilder` both build it here.
    static func decided(_ decision: Decision, rule: Rule, held: HeldBy?) -> DecidedRun {
        let (status, reason) = outcome(decision, held: held, mode: rule.mode)
        var trace = RunTrace(gates: decision.gates, steps: decision.steps, zone: decision.zone, oncePerKey: decision.oncePerKey)
        if case .notMatched(let failure) = decision.outcome { trace.failedCondition = failure }
        if let held, case .planned = decision.outcome {
            trace.gates.append(Gate(name: held.gate, passed: false, detail: held.detail))
        } else if status == .pending {
            if rule.limit.oncePer != nil { trace.gates.append(Gate(name: "once_per", passed: true, detail: "key '\(decision.oncePerKey ?? "")' free")) }
            if let cap = rule.limit.maxSends { trace.gates.append(Gate(name: "max_sends", passed: true, detail: "under \(cap.count) per \(DurationText.format(seconds: cap.per))")) }
        } else if status == .shadow {
            trace.gates.append(Gate(name: "mode", passed: false, detail: "mode: shadow: recorded with its request, not sent; no limit consulted or consumed"))
        }
        return DecidedRun(
            status: status, reason: reason, sendAt: decision.sendAt, trace: trace, request: decision.request, schedule: decision.schedule?.json)
    }

    /// - Parameters:
    ///   - contextId: the `decide_contexts` row of `settings` (`StateTransaction.decideContextId`).
    ///   - decided: with `keepDecided`, receives each run's id and what was decided.
    func process(
        _ event: Event, seq: Int64, planned: Planned? = nil, contextId: Int64?, in transaction: inout any StateTransaction,
        tally: inout [RunStatus: Int], decided: inout [(runId: Int64, run: DecidedRun)]
    ) throws {
        let userKey = event.userKey
        let profile = try transaction.profile(for: userKey)

        if event.type == .identify {
            let updated = ProfileFold.apply(event, to: profile)
            if updated != profile { try transaction.saveProfile(updated, for: userKey, at: now) }
            return
        }
        guard let name = event.name else { return }

        // A later event cancels the user's open runs of rules that name it in cancel_on. First, so an
        // event that both cancels and triggers a rule replaces the old send with a new one.
        let cancellers = rules.rules(cancelledBy: name)
        let scope = cancellers.isEmpty ? .null : RuleEvaluator.scope(event: event, profile: profile)
        for rule in cancellers {
            guard rule.cancelOn.contains(where: { $0.events.contains(name) && ($0.condition?.evaluate(in: scope).passed ?? true) }) else {
                continue
            }
            for open in try transaction.openRuns(rule: rule.id, user: userKey) where open.eventSeq < seq {
                if open.status == .pending {
                    try transaction.cancelRun(
                        id: open.id, byEvent: event.messageId,
                        reason: "cancelled by '\(name)' (event \(event.messageId)) before it was sent", at: now)
                    tally[.cancelled, default: 0] += 1
                } else if let handle = open.scheduleId {
                    // Already accepted by its action, which answered a handle: the dispatcher withdraws
                    // it as the action declares (Braze: schedule/delete), then the run is cancelled.
                    try transaction.insertCancellation(
                        Cancellation(
                            runId: open.id, scope: nil, handle: handle,
                            reason: "cancelled by '\(name)' (event \(event.messageId))", byEvent: event.messageId, state: .pending,
                            attempts: 0, nextAttemptAt: nil, lastError: nil),
                        at: now)
                }
            }
        }

        let triggered = rules.rules(triggeredBy: name)
        if triggered.isEmpty { return }
        // The decisions planned ahead hold only if the profile they read is still the user's: an
        // identify earlier in the batch (or another process) changed it otherwise, so evaluate again.
        let ahead = planned.flatMap { $0.profile == profile && $0.decisions.count == triggered.count ? $0 : nil }
        let prepared = ahead?.prepared ?? PreparedEvent(event: event, profile: profile, defaultZone: settings.defaultZone)
        for (index, rule) in triggered.enumerated() {
            let decision = ahead?.decisions[index] ?? RuleEvaluator.evaluate(rule: rule, prepared: prepared, context: context)
            let status = try record(
                decision, encoded: ahead?.encoded[index], rule: rule, event: event, seq: seq, contextId: contextId, in: &transaction,
                decided: &decided)
            tally[status, default: 0] += 1
            // Each run that noted a zone outside the tz database counts it (flint status).
            for zone in prepared.unknownZones { try transaction.noteUnknownZone(zone, user: userKey, at: now) }
        }
    }

    private func record(
        _ decision: Decision, encoded: Encoded? = nil, rule: Rule, event: Event, seq: Int64, contextId: Int64?,
        in transaction: inout any StateTransaction, decided: inout [(runId: Int64, run: DecidedRun)]
    ) throws -> RunStatus {
        // Only a planned send consults the limits; the run keeps which one held it back, if any.
        var held: HeldBy?
        if case .planned = decision.outcome, rule.mode == .live { held = try limitHolding(decision, rule: rule, event: event, in: &transaction) }
        let (status, reason) = Self.outcome(decision, held: held, mode: rule.mode)
        let body = status == .pending ? decision.request : nil
        let key = body.map { _ in Self.outboxKey(rule: rule, event: event, recipient: decision.recipient) }

        let run = NewRun(
            eventSeq: seq, eventId: event.messageId, ruleId: rule.id, ruleVersion: rule.version, user: event.userKey,
            status: status, reason: reason, action: rule.send.action, sendAt: decision.sendAt, outboxKey: key, held: held,
            contextId: contextId, consumedAt: status == .pending ? now : nil, createdAt: now)
        let runId = try transaction.insertRun(run)
        if keepDecided { decided.append((runId, Self.decided(decision, rule: rule, held: held))) }
        guard let body, let key else { return status }
        if let oncePerKey = decision.oncePerKey {
            try transaction.setOncePer(rule: rule.id, key: oncePerKey, eventTime: event.timestamp, runId: runId)
        }
        var item = NewOutboxItem(
            runId: runId, key: key, action: rule.send.action, body: body, sendAt: decision.sendAt, createdAt: now,
            schedule: decision.schedule?.json, zone: decision.zone)
        item.encodedBody = encoded?.request
        item.encodedSchedule = encoded?.schedule
        _ = try transaction.insertOutbox(item)
        return status
    }

    /// The first limit that holds a planned send back, or nil.
    private func limitHolding(
        _ decision: Decision, rule: Rule, event: Event, in transaction: inout any StateTransaction
    ) throws -> HeldBy? {
        if let oncePer = rule.limit.oncePer, let key = decision.oncePerKey,
            let last = try transaction.oncePerLast(rule: rule.id, key: key)
        {
            // Measured between event times, before or after (docs/architecture.md, Limits).
            let distance = abs(event.timestamp.timeIntervalSince(last))
            if distance < TimeInterval(oncePer.within) {
                return HeldBy(gate: "once_per", detail: "once_per: key '\(key)' already sent for an event at \(Timestamp.formatUTC(last)), less than \(DurationText.format(seconds: oncePer.within)) from this one")
            }
        }
        if let cap = rule.limit.maxSends {
            let count = try transaction.consumedCount(rule: rule.id, since: now.addingTimeInterval(-TimeInterval(cap.per)))
            if count >= cap.count {
                return HeldBy(gate: "max_sends", detail: "max_sends: \(count) sends in the last \(DurationText.format(seconds: cap.per)) reached the cap of \(cap.count)")
            }
        }
        return nil
    }

    /// (rule, rule version, event, recipient): the same decision is never sent twice (docs/architecture.md,
    /// Dispatch). The recipient is what the decision names (`action` for an action plugin's send).
    static func outboxKey(rule: Rule, event: Event, recipient: String?) -> String {
        "\(rule.id)|\(rule.version)|\(event.messageId)|\(recipient ?? "action")"
    }
}
