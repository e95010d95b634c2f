import FlintPluginAPI
import FlintRules
import Foundation

/// The reads a rebuild of a run's trace makes, inside one consistent snapshot of the ledger.
public protocol DecisionArchive {
    /// The accepted event with this sequence number.
    func event(seq: Int64) throws -> EventRecord?
    /// A recorded rule version, with the text of its file when the ledger kept it.
    func ruleVersion(rule: String, version: String) throws -> RuleVersionRecord?
    /// The user's identify calls before `seq`, in commit order (what the profile was folded from).
    func identifies(user: String, before seq: Int64) throws -> [EventRecord]
}

/// Rebuilds what was decided for a run from its compact row (docs/architecture.md, Runs and the
/// ledger): the stored event is decided again with the stored rule version (its file's text parsed
/// again), the profile folded from the user's identify calls before the event, the settings and the
/// instant of the decision; the limits' gates come from what the run recorded (`held`).
///
/// Pure apart from its reads. Where the rebuilt outcome disagrees with the row (the status decided,
/// the reason of a run that ended at its decision, the send time of a run not sent yet), the trace
/// says so in `note` rather than pretending. Caches parsed rule versions and identify calls across
/// the runs of one listing.
public struct TraceRebuilder {
    private let archive: any DecisionArchive
    private var rules: [String: Result<Rule, Problem>] = [:]
    /// Rule files parsed so far, by text: the versions of one file's rules share its text.
    private var files: [String: RuleSet] = [:]
    /// Per user: the identify calls read so far (all those before `bound`).
    private var identifyCache: [String: (bound: Int64, events: [(seq: Int64, event: Event)])] = [:]

    struct Problem: Error {
        var message: String
    }

    public init(archive: any DecisionArchive) {
        self.archive = archive
    }

    /// Fills `trace`, and `request` and `schedule` where the row did not have them (the request
    /// sent and the outbox's schedule win: they are what happened), unless already filled.
    public mutating func fill(_ run: inout RunRecord) throws {
        if run.traced { return }
        let rebuilt = try rebuild(run, dispatched: run.request != nil)
        run.trace = rebuilt.trace
        if run.request == nil { run.request = rebuilt.request }
        if run.schedule == nil { run.schedule = rebuilt.schedule }
        run.traced = true
    }

    /// `rebuild`, or for a legacy run what it stored.
    public mutating func decision(of run: RunRecord) throws -> DecidedRun {
        if run.legacy {
            return DecidedRun(status: run.status, reason: run.reason, sendAt: run.sendAt, trace: run.trace, request: run.request, schedule: run.schedule)
        }
        return try rebuild(run, dispatched: run.request != nil)
    }

    public mutating func fill(_ runs: [RunRecord]) throws -> [RunRecord] {
        var filled = runs
        for i in filled.indices { try fill(&filled[i]) }
        return filled
    }

    /// What the decision of `run` was, decided again. `dispatched`: the action accepted the run's
    /// request, so its send time may have been planned again at dispatch (not compared).
    public mutating func rebuild(_ run: RunRecord, dispatched: Bool = false) throws -> DecidedRun {
        let decision: Decision
        let rule: Rule
        do {
            (decision, rule) = try decide(run)
        } catch let problem as Problem {
            return DecidedRun(
                status: run.status, reason: run.reason, sendAt: run.sendAt,
                trace: RunTrace(note: "the trace cannot be rebuilt: \(problem.message)"), request: nil, schedule: nil)
        }
        var rebuilt = EventProcessor.decided(decision, rule: rule, held: run.held)
        let differences = Self.differences(rebuilt, run: run, dispatched: dispatched)
        if !differences.isEmpty {
            rebuilt.trace.note = "rebuilt decision differs from the one recorded: " + differences.joined(separator: "; ")
        }
        return rebuilt
    }

    private mutating func decide(_ run: RunRecord) throws -> (Decision, Rule) {
        guard let record = try archive.event(seq: run.eventSeq) else {
            throw Problem(message: "event \(run.eventId) (seq \(run.eventSeq)) is no longer in the ledger")
        }
        guard case .success(let event) = Event.decode(record.body, receivedAt: record.receivedAt, fallbackMessageId: record.messageId) else {
            throw Problem(message: "event \(run.eventId) no longer reads as an event")
        }
        let rule = try self.rule(run.ruleId, version: run.ruleVersion).get()
        guard let context = run.context else {
            throw Problem(message: "the settings it was decided with (zones, lead) are not recorded")
        }
        guard let planning = context.planning(now: run.createdAt) else {
            throw Problem(message: "a zone it was decided with (\(context.defaultZone), \(context.companyZone ?? "no company zone")) is not known here")
        }
        let profile = try self.profile(user: record.userKey, before: run.eventSeq)
        let prepared = PreparedEvent(event: event, profile: profile, defaultZone: planning.defaultZone)
        return (RuleEvaluator.evaluate(rule: rule, prepared: prepared, context: planning), rule)
    }

    /// The rule version as recorded: its file's text parsed again (the definition for versions
    /// recorded before the text was kept).
    private mutating func rule(_ id: String, version: String) throws -> Result<Rule, Problem> {
        let key = id + "\u{0}" + version
        if let cached = rules[key] { return cached }
        let result: Result<Rule, Problem>
        if let record = try archive.ruleVersion(rule: id, version: version) {
            var texts: [String] = []
            if let text = record.text { texts.append(text) }
            texts.append(record.definition.compactJSON)
            var parsed: Rule?
            for text in texts where parsed == nil {
                let set = files[text] ?? RuleLoader.load([RuleFile(path: record.file, text: text)]).ruleSet
                files[text] = set
                parsed = set.rule(id: id).flatMap { $0.version == version ? $0 : nil }
            }
            result = parsed.map { .success($0) }
                ?? .failure(Problem(message: "rule \(id) version \(version) as recorded no longer parses to that version"))
        } else {
            result = .failure(Problem(message: "rule \(id) version \(version) is not recorded"))
        }
        rules[key] = result
        return result
    }

    /// The profile the decider saw for an event: the user's identify calls before it, folded as the
    /// decider folds them.
    private mutating func profile(user: String, before seq: Int64) throws -> UserProfile? {
        if identifyCache[user].map({ $0.bound < seq }) ?? true {
            let events = try archive.identifies(user: user, before: seq).compactMap { r -> (seq: Int64, event: Event)? in
                guard case .success(let e) = Event.decode(r.body, receivedAt: r.receivedAt, fallbackMessageId: r.messageId) else { return nil }
                return (r.seq, e)
            }
            identifyCache[user] = (seq, events)
        }
        return ProfileFold.fold(identifyCache[user]!.events.lazy.filter { $0.seq < seq }.map(\.event))
    }

    /// Where the rebuilt decision and the row disagree on what the decision itself wrote.
    static func differences(_ rebuilt: DecidedRun, run: RunRecord, dispatched: Bool) -> [String] {
        var found: [String] = []
        // A planned send consumed the run's limits (consumed_at): whatever dispatch or cancel_on
        // made of it later, it was decided pending.
        let recorded: RunStatus = run.consumedAt != nil ? .pending : run.status
        if rebuilt.status != recorded {
            found.append("status \(rebuilt.status.rawValue) (\(rebuilt.reason)), recorded \(recorded.rawValue) (\(run.reason))")
        } else if recorded != .pending, rebuilt.reason != run.reason {
            found.append("reason '\(rebuilt.reason)', recorded '\(run.reason)'")
        }
        if !dispatched {
            let same: Bool
            switch (rebuilt.sendAt, run.sendAt) {
            case (nil, nil): same = true
            case (let a?, let b?): same = abs(a.timeIntervalSince(b)) < 0.0005
            default: same = false
            }
            if !same {
                func text(_ d: Date?) -> String { d.map(Timestamp.formatUTCMillis) ?? "none" }
                found.append("send_at \(text(rebuilt.sendAt)), recorded \(text(run.sendAt))")
            }
        }
        return found
    }
}
