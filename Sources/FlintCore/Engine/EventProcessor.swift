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
    let now: Date

    var context: PlanningContext {
        PlanningContext(now: now, defaultZone: settings.defaultZone, companyZone: settings.companyZone, lead: settings.lead)
    }

    /// The pure part of deciding an event for its triggered rules, computed from a profile read
    /// before the transaction. Used only when the transaction still sees that same profile.
    struct Planned: Sendable {
        var profile: UserProfile?
        var prepared: PreparedEvent
        var decisions: [Decision]
        /// Per decision, its request and its trace (as far as the decision alone makes it) already
        /// written as compact JSON, so the writer does not spend its time on that.
        var encoded: [Encoded]
    }

    struct Encoded: Sendable {
        var request: [UInt8]?
        var trace: [UInt8]?
    }

    /// Evaluates the rules `event` triggers against `profile`: pure, safe to run beside the writer.
    func plan(_ event: Event, profile: UserProfile?, traceEncoder: (@Sendable (RunTrace) -> [UInt8])? = nil) -> Planned? {
        guard event.type != .identify, let name = event.name else { return nil }
        let triggered = rules.rules(triggeredBy: name)
        if triggered.isEmpty { return nil }
        let prepared = PreparedEvent(event: event, profile: profile, defaultZone: settings.defaultZone)
        let decisions = triggered.map { RuleEvaluator.evaluate(rule: $0, prepared: prepared, context: context) }
        let encoded = decisions.map { d in
            Encoded(request: d.request?.compactUTF8, trace: traceEncoder.map { $0(Self.baseTrace(d)) })
        }
        return Planned(profile: profile, prepared: prepared, decisions: decisions, encoded: encoded)
    }

    /// The trace a decision makes before the limits are checked.
    static func baseTrace(_ decision: Decision) -> RunTrace {
        var trace = RunTrace(gates: decision.gates, steps: decision.steps, zone: decision.zone, oncePerKey: decision.oncePerKey)
        if case .notMatched(let failure) = decision.outcome { trace.failedCondition = failure }
        return trace
    }

    func process(
        _ event: Event, seq: Int64, planned: Planned? = nil, in transaction: inout any StateTransaction, tally: inout [RunStatus: Int]
    ) throws {
        let userKey = event.userKey
        var profile = try transaction.profile(for: userKey)

        if event.type == .identify {
            var updated = profile ?? UserProfile()
            if case .object(let traits) = event.traits, !traits.isEmpty {
                var merged = updated.traits.objectValue ?? [:]
                for (k, v) in traits { merged[k] = v }
                updated.traits = .object(merged)
            }
            if let zone = Self.learnedZone(from: event, current: updated.timeZone) { updated.timeZone = zone }
            if updated != profile { try transaction.saveProfile(updated, for: userKey, at: now) }
            profile = updated
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
            let status = try record(decision, encoded: ahead?.encoded[index], rule: rule, event: event, seq: seq, in: &transaction)
            tally[status, default: 0] += 1
            // Each run that noted a zone outside the tz database counts it (flint status).
            for zone in prepared.unknownZones { try transaction.noteUnknownZone(zone, user: userKey, at: now) }
        }
    }

    /// The zone an identify call teaches the profile (docs/architecture.md, "Time zones"): the first
    /// tz name among its `context.timezone`, `traits.time_zone` (Braze's attribute name) and
    /// `traits.timezone`. A name outside the tz database is ignored when the profile already has a
    /// good zone; otherwise it is kept, so the runs that read it say why the default zone applied.
    static func learnedZone(from event: Event, current: String?) -> String? {
        let given = [event.contextTimeZone, event.traits["time_zone"]?.stringValue, event.traits["timezone"]?.stringValue]
            .compactMap { $0 }.filter { !$0.isEmpty }
        if let good = given.first(where: ZoneName.isValid) { return good }
        guard let bad = given.first, bad != current else { return nil }
        return current.map(ZoneName.isValid) == true ? nil : bad
    }

    private func record(
        _ decision: Decision, encoded: Encoded? = nil, rule: Rule, event: Event, seq: Int64, in transaction: inout any StateTransaction
    ) throws -> RunStatus {
        var trace = Self.baseTrace(decision)
        var status: RunStatus
        var reason = decision.reason
        switch decision.outcome {
        case .notMatched:
            status = .notMatched
        case .skipped:
            status = .skipped
        case .failed:
            status = .failed
        case .planned:
            status = .pending
        }

        if status == .pending, let held = try limitHolding(decision, rule: rule, event: event, in: &transaction) {
            status = .skipped
            reason = held.reason
            trace.gates.append(Gate(name: held.gate, passed: false, detail: held.reason))
        } else if status == .pending {
            if rule.limit.oncePer != nil { trace.gates.append(Gate(name: "once_per", passed: true, detail: "key '\(decision.oncePerKey ?? "")' free")) }
            if let cap = rule.limit.maxSends { trace.gates.append(Gate(name: "max_sends", passed: true, detail: "under \(cap.count) per \(DurationText.format(seconds: cap.per))")) }
        }

        var run = NewRun(
            eventSeq: seq, eventId: event.messageId, ruleId: rule.id, ruleVersion: rule.version, user: event.userKey,
            status: status, reason: reason, action: rule.send.action, sendAt: decision.sendAt, schedule: decision.schedule?.json,
            request: decision.request, trace: trace, consumedAt: status == .pending ? now : nil, createdAt: now)
        run.encodedRequest = encoded?.request
        // The limits may have added gates: then the trace written ahead is not this one.
        if trace.gates.count == decision.gates.count { run.encodedTrace = encoded?.trace }
        let runId = try transaction.insertRun(run)
        guard status == .pending, let body = decision.request else { return status }
        if let key = decision.oncePerKey {
            try transaction.setOncePer(rule: rule.id, key: key, eventTime: event.timestamp, runId: runId)
        }
        var item = NewOutboxItem(
            runId: runId, key: Self.outboxKey(rule: rule, event: event, recipient: decision.recipient), action: rule.send.action, body: body,
            sendAt: decision.sendAt, createdAt: now)
        item.encodedBody = encoded?.request
        _ = try transaction.insertOutbox(item)
        return status
    }

    /// The first limit that holds a planned send back, or nil.
    private func limitHolding(
        _ decision: Decision, rule: Rule, event: Event, in transaction: inout any StateTransaction
    ) throws -> (gate: String, reason: String)? {
        if let oncePer = rule.limit.oncePer, let key = decision.oncePerKey,
            let last = try transaction.oncePerLast(rule: rule.id, key: key)
        {
            // Measured between event times, before or after (docs/architecture.md, Limits).
            let distance = abs(event.timestamp.timeIntervalSince(last))
            if distance < TimeInterval(oncePer.within) {
                return ("once_per", "once_per: key '\(key)' already sent for an event at \(Timestamp.formatUTC(last)), less than \(DurationText.format(seconds: oncePer.within)) from this one")
            }
        }
        if let cap = rule.limit.maxSends {
            let count = try transaction.consumedCount(rule: rule.id, since: now.addingTimeInterval(-TimeInterval(cap.per)))
            if count >= cap.count {
                return ("max_sends", "max_sends: \(count) sends in the last \(DurationText.format(seconds: cap.per)) reached the cap of \(cap.count)")
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
