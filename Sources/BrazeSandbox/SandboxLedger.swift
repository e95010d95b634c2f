import FlintPluginAPI
import Foundation

/// The schedules the sandbox holds and what a valid call does to them. Braze offers no way to list
/// API-created schedules; the sandbox does (`GET /_sandbox/schedules`), for tests.
struct SandboxLedger: Sendable {
    /// What a valid call did.
    enum Result: Sendable, Equatable {
        case created(scheduleID: String, dispatchID: String)
        case updated(scheduleID: String)
        case ignored(scheduleID: String)
        case deleted(scheduleID: String)
        case sent(dispatchID: String)
        /// update or delete of a schedule the campaign does not have.
        case notFound
    }

    private(set) var schedules: [String: SandboxSchedule] = [:]
    private var issued = 0

    /// Applies a call whose body the validator accepted.
    mutating func apply(_ endpoint: SandboxEndpoint, body: [String: JSONValue], now: Date) -> Result {
        let campaign = body["campaign_id"]?.stringValue ?? ""
        switch endpoint {
        case .create:
            let scheduleID = nextID("sbx-sched")
            let dispatchID = nextID("sbx-dispatch")
            schedules[scheduleID] = SandboxSchedule(
                scheduleID: scheduleID, dispatchID: dispatchID, campaignID: campaign, sendID: body["send_id"]?.stringValue,
                schedule: body["schedule"] ?? .null, request: .object(body), createdAt: now, updatedAt: now, updates: 0,
                sequence: issued)
            return .created(scheduleID: scheduleID, dispatchID: dispatchID)
        case .update:
            guard let id = body["schedule_id"]?.stringValue, var schedule = schedules[id], schedule.campaignID == campaign else {
                return .notFound
            }
            if schedule.localTimeHasStarted(now: now) { return .ignored(scheduleID: id) }
            schedule.schedule = body["schedule"] ?? .null
            schedule.updatedAt = now
            schedule.updates += 1
            schedules[id] = schedule
            return .updated(scheduleID: id)
        case .delete:
            guard let id = body["schedule_id"]?.stringValue, let schedule = schedules[id], schedule.campaignID == campaign else {
                return .notFound
            }
            schedules[id] = nil
            return .deleted(scheduleID: id)
        case .send:
            return .sent(dispatchID: nextID("sbx-dispatch"))
        }
    }

    /// Live schedules in creation order.
    var listing: [SandboxSchedule] {
        schedules.values.sorted { $0.sequence < $1.sequence }
    }

    mutating func removeAll() {
        schedules.removeAll()
    }

    /// `sbx-sched-7-3f9a0c1e`: a counter that never restarts (not even on reset) and a random part,
    /// so ids never repeat within a process and rarely across runs.
    private mutating func nextID(_ prefix: String) -> String {
        issued += 1
        let random = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return "\(prefix)-\(issued)-\(String(repeating: "0", count: 8 - random.count))\(random)"
    }
}
