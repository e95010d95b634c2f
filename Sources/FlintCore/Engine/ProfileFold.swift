import FlintPluginAPI
import FlintRules
import Foundation

/// How identify calls build a user's profile: the decider folds them into `profiles` in commit order,
/// and `TraceRebuilder` folds the same calls again to see the profile a run saw. One function for
/// both, so they cannot drift (docs/architecture.md, Runs and the ledger).
public enum ProfileFold {
    /// The profile after one identify call: its traits merged over the known ones, and the zone it
    /// teaches (`learnedZone`).
    public static func apply(_ event: Event, to profile: UserProfile?) -> UserProfile {
        var updated = profile ?? UserProfile()
        if case .object(let traits) = event.traits, !traits.isEmpty {
            var merged = updated.traits.objectValue ?? [:]
            for (k, v) in traits { merged[k] = v }
            updated.traits = .object(merged)
        }
        if let zone = learnedZone(from: event, current: updated.timeZone) { updated.timeZone = zone }
        return updated
    }

    /// The profile these identify calls (in commit order) make from nothing; nil when there are none.
    public static func fold(_ identifies: some Sequence<Event>) -> UserProfile? {
        var profile: UserProfile?
        for event in identifies where event.type == .identify { profile = apply(event, to: profile) }
        return profile
    }

    /// The zone an identify call teaches the profile (docs/architecture.md, "Time zones"): the first
    /// tz name among its `context.timezone`, `traits.time_zone` (Braze's attribute name) and
    /// `traits.timezone`. A name outside the tz database is ignored when the profile already has a
    /// good zone; otherwise it is kept, so the runs that read it say why the default zone applied.
    public static func learnedZone(from event: Event, current: String?) -> String? {
        let given = [event.contextTimeZone, event.traits["time_zone"]?.stringValue, event.traits["timezone"]?.stringValue]
            .compactMap { $0 }.filter { !$0.isEmpty }
        if let good = given.first(where: ZoneName.isValid) { return good }
        guard let bad = given.first, bad != current else { return nil }
        return current.map(ZoneName.isValid) == true ? nil : bad
    }
}
