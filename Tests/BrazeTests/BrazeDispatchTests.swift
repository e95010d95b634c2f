@testable import Braze
import FlintPluginAPI
import Foundation
import Testing

/// What the Braze action declares to the dispatcher (docs/braze.md; docs/architecture.md, Dispatch).
@Suite("Braze's dispatch declaration: coalescing, cancelling, budgets")
struct BrazeDispatchTests {
    static func send(_ user: String, campaign: String = "c-1", schedule: JSONValue = ["time": "2026-11-30T10:00:00"], properties: JSONValue? = nil) -> SendRequest {
        var recipient: [String: JSONValue] = ["external_user_id": .string(user)]
        if let properties { recipient["trigger_properties"] = properties }
        return SendRequest(id: "k-\(user)", body: ["campaign_id": .string(campaign), "recipients": [.object(recipient)], "broadcast": false], schedule: schedule)
    }

    @Test("sends share a key when campaign, send_id, schedule, audience and broadcast agree; a broadcast goes alone")
    func key() {
        let c = BrazeAction.coalescing
        #expect(c.key(Self.send("a")) == c.key(Self.send("b")))
        #expect(c.key(Self.send("a")) != c.key(Self.send("b", campaign: "c-2")))
        #expect(c.key(Self.send("a")) != c.key(Self.send("b", schedule: ["time": "2026-11-30T11:00:00"])), "the planned schedule counts, not the body's")
        #expect(c.key(SendRequest(id: "x", body: ["campaign_id": "c-1", "broadcast": true], schedule: nil)) == nil)
        #expect(c.maxSends == 50)
        #expect(c.maxBytes == 51_200)
        #expect(c.identity(Self.send("a")) == "e:a")
    }

    @Test("merge keeps the first body, puts the planned schedule in, and lists every recipient in order")
    func merge() {
        let merged = BrazeAction.merge([Self.send("a"), Self.send("b")])
        #expect(merged.body["recipients"]?.arrayValue?.compactMap { $0["external_user_id"]?.stringValue } == ["a", "b"])
        #expect(merged.body["schedule"] == ["time": "2026-11-30T10:00:00"])
        #expect(BrazeAction.coalescing.size(Self.send("a", properties: ["plan": "pro"])) == 14)
    }

    @Test("a send is withdrawn by its campaign_id and schedule_id through schedule/delete")
    func cancellation() {
        let c = BrazeAction.cancellation
        let handle = c.handle(["campaign_id": "c-1"], ["schedule_id": "s-9"])
        #expect(handle == CancelHandle(scope: "c-1", id: "s-9"))
        #expect(c.handle(["campaign_id": "c-1"], [:]) == nil, "no schedule_id: nothing to delete")
        #expect(c.request(handle!) == ["campaign_id": "c-1", "schedule_id": "s-9"])
        #expect(c.done(handle!) == "deleted from Braze (schedule_id s-9)")
    }

    @Test("the budgets are braze.requests_per_hour for every request and the audience budget for requests with an audience; headers become budget facts")
    func budget() {
        let buckets = BrazeAction.budget(requestsPerHour: 1000, audienceRequestsPerMinute: 5)
        #expect(buckets.map(\.capacity) == [1000, 5])
        #expect(buckets.map(\.period) == [3600, 60])
        #expect(buckets[0].applies == nil)
        #expect(buckets[1].applies?(["audience": [:]]) == true)
        #expect(buckets[1].applies?(["recipients": []]) == false)
        #expect(BrazeAction.budgetFacts(BrazeRateLimit()) == nil)
        let reset = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(BrazeAction.budgetFacts(BrazeRateLimit(limit: 10, remaining: 3, reset: reset)) == BudgetFacts(limit: 10, remaining: 3, reset: reset))
    }
}
