@testable import FlintCore
import FlintPluginAPI
import FlintTesting
import Foundation
import Testing

/// The dispatcher's pure parts, each with time as a parameter: no sockets, no sleeps.
@Suite("Dispatch parts: Budget, PauseAndProbe, Batcher, OutcomeTable")
struct DispatchPartsTests {
    static let t0 = Timestamp.parse("2026-11-29T18:00:00Z")!

    // MARK: Budget

    @Test("a budget of 3 requests per hour lets 3 go, then says when the next token refills")
    func budgetBucket() {
        var budget = Budget([RateBucket(name: "requests_per_hour", capacity: 3, period: 3600)], now: Self.t0)
        var verdicts: [Budget.Verdict] = []
        for _ in 0..<4 {
            let v = budget.take(body: [:], now: Self.t0)
            verdicts.append(v)
            if v == .go { budget.release(facts: nil, now: Self.t0) }
        }
        #expect(verdicts.prefix(3).allSatisfy { $0 == .go })
        #expect(verdicts[3] == .wait(until: Self.t0.addingTimeInterval(1200)))
        #expect(budget.take(body: [:], now: Self.t0.addingTimeInterval(1200)) == .go)
    }

    @Test("until the first answer one request goes alone; Remaining 0 waits until Reset; answers without facts lift the limit")
    func budgetFacts() {
        var budget = Budget([RateBucket(name: "requests_per_hour", capacity: 1000, period: 3600)], now: Self.t0)
        #expect(budget.take(body: [:], now: Self.t0) == .go)
        #expect(budget.take(body: [:], now: Self.t0) == .afterAnswer)
        let reset = Self.t0.addingTimeInterval(600)
        budget.release(facts: BudgetFacts(limit: 1000, remaining: 2, reset: reset), now: Self.t0)
        #expect(budget.take(body: [:], now: Self.t0) == .go)
        #expect(budget.take(body: [:], now: Self.t0) == .go)
        #expect(budget.take(body: [:], now: Self.t0) == .wait(until: reset), "never more in flight than were left")
        budget.release(facts: BudgetFacts(remaining: 0, reset: reset), now: Self.t0)
        budget.release(facts: BudgetFacts(remaining: 0, reset: reset), now: Self.t0)
        #expect(budget.take(body: [:], now: Self.t0.addingTimeInterval(10)) == .wait(until: reset))
        #expect(budget.take(body: [:], now: reset) == .go, "a new window")

        var silent = Budget([RateBucket(name: "requests_per_hour", capacity: 1000, period: 3600)], now: Self.t0)
        #expect(silent.take(body: [:], now: Self.t0) == .go)
        silent.release(facts: nil, now: Self.t0)
        #expect(silent.take(body: [:], now: Self.t0) == .go)
        #expect(silent.take(body: [:], now: Self.t0) == .go, "no facts to learn: no need to go one at a time")
    }

    @Test("answers of one window arriving out of order never raise what is left (a stale answer led to a 429)")
    func outOfOrderAnswers() {
        // A bucket that refills fast (1,000 a second), so only the window's facts hold requests back.
        var budget = Budget([RateBucket(name: "requests_per_hour", capacity: 3_600_000, period: 3600)], now: Self.t0)
        let reset = Self.t0.addingTimeInterval(2)
        #expect(budget.take(body: [:], now: Self.t0) == .go)
        budget.release(facts: BudgetFacts(limit: 5, remaining: 4, reset: reset), now: Self.t0)
        for _ in 0..<4 { #expect(budget.take(body: [:], now: Self.t0) == .go) }
        // The third request answers first (2 left before the fourth and fifth counted), then the
        // second, whose answer was written earlier and says 3 were left.
        budget.release(facts: BudgetFacts(limit: 5, remaining: 2, reset: reset), now: Self.t0)
        budget.release(facts: BudgetFacts(limit: 5, remaining: 3, reset: reset), now: Self.t0)
        #expect(budget.take(body: [:], now: Self.t0) == .wait(until: reset), "the window is spent: all 5 went")
        // A new window's answer replaces the old count.
        budget.release(facts: BudgetFacts(limit: 5, remaining: 4, reset: reset.addingTimeInterval(2)), now: reset)
        #expect(budget.take(body: [:], now: reset) == .go)
    }

    @Test("a bucket that applies to some requests only (audience) holds those alone; a rate limit blocks until its reset")
    func budgetAudienceAndBlock() {
        var budget = Budget(
            [
                RateBucket(name: "requests_per_hour", capacity: 1000, period: 3600),
                RateBucket(name: "audience_requests_per_minute", capacity: 1, period: 60, applies: { $0["audience"] != nil }),
            ], now: Self.t0)
        #expect(budget.take(body: ["audience": [:]], now: Self.t0) == .go)
        budget.release(facts: nil, now: Self.t0)
        #expect(budget.take(body: ["audience": [:]], now: Self.t0) == .wait(until: Self.t0.addingTimeInterval(60)))
        #expect(budget.take(body: [:], now: Self.t0) == .go)
        budget.release(facts: nil, now: Self.t0)
        budget.block(until: Self.t0.addingTimeInterval(30))
        #expect(budget.take(body: [:], now: Self.t0.addingTimeInterval(5)) == .wait(until: Self.t0.addingTimeInterval(30)))
        #expect(Budget([], now: Self.t0).isBudgeted == false)
    }

    // MARK: PauseAndProbe

    @Test("refused credentials pause that action only; the probe is due every interval or at once on reload; success resumes")
    func pauseAndProbe() {
        var p = PauseAndProbe(interval: 60)
        p.refused("braze", reason: "401", now: Self.t0)
        #expect(p.pause(of: "braze")?.reason == "401")
        #expect(p.pause(of: "slack") == nil)
        #expect(!p.probeDue("braze", now: Self.t0.addingTimeInterval(59)))
        #expect(p.probeDue("braze", now: Self.t0.addingTimeInterval(60)))
        p.probing("braze", now: Self.t0.addingTimeInterval(60))
        p.refused("braze", reason: "401 again", now: Self.t0.addingTimeInterval(61))
        #expect(p.pause(of: "braze")?.since == Self.t0, "a refused probe keeps the start")
        #expect(p.nextProbe == Self.t0.addingTimeInterval(121))
        p.reload()
        #expect(p.probeDue("braze", now: Self.t0.addingTimeInterval(62)))
        let resumed = p.succeeded("braze")
        #expect(resumed)
        #expect(p.first == nil)
        let again = p.succeeded("braze")
        #expect(!again)
    }

    @Test("a success of a request sent before the refusal (in flight when the pause began) does not resume; one sent since does")
    func pauseOutlivesOlderSuccesses() {
        var p = PauseAndProbe(interval: 60)
        p.refused("braze", reason: "401", now: Self.t0.addingTimeInterval(10))
        let early = p.succeeded("braze", sentAt: Self.t0.addingTimeInterval(9))
        #expect(!early)
        let same = p.succeeded("braze", sentAt: Self.t0.addingTimeInterval(10))
        #expect(!same, "sent at the instant of the refusal: in flight then")
        #expect(p.pause(of: "braze") != nil)
        let probe = p.succeeded("braze", sentAt: Self.t0.addingTimeInterval(70))
        #expect(probe)
        #expect(p.pause(of: "braze") == nil)
    }

    // MARK: Batcher

    static func item(_ id: Int64, user: String, campaign: String = "c", attempts: Int = 0, created: Date = t0, rule: String = "r", properties: JSONValue? = nil) -> OutboxItem {
        var recipient: [String: JSONValue] = ["external_user_id": .string(user)]
        if let properties { recipient["trigger_properties"] = properties }
        return OutboxItem(
            id: id, runId: id, key: "k-\(id)", action: "braze", body: ["campaign_id": .string(campaign), "recipients": [.object(recipient)]], sendAt: nil,
            state: .pending, attempts: attempts, nextAttemptAt: nil, lastError: nil, createdAt: created, updatedAt: created, ruleId: rule, ruleVersion: "v",
            user: user, eventTime: created, zone: nil, schedule: ["time": "2026-11-30T10:00:00"])
    }

    static let coalescing = RecordingAction.brazeLike.coalescing!

    @Test("due sends group by the action's key into requests of at most its size, never two of the same recipient")
    func batcherGroups() {
        var items = (1...120).map { Self.item(Int64($0), user: "u-\($0)") }
        items.append(Self.item(121, user: "u-1"))  // the same user again
        items.append(Self.item(122, user: "u-x", campaign: "other"))
        let (requests, held) = Batcher(window: 0).batch(items, coalescing: Self.coalescing, alone: { _ in false }, now: Self.t0)
        #expect(held == nil)
        #expect(requests.map(\.items.count) == [50, 50, 21, 1])
        #expect(requests.allSatisfy { Set($0.items.map(\.user)).count == $0.items.count })
        #expect(requests[0].request.body["recipients"]?.arrayValue?.count == 50)
        #expect(requests[0].request.body["schedule"] == ["time": "2026-11-30T10:00:00"], "the action merged in the planned schedule")
        #expect(requests[2].items.contains { $0.id == 121 })
    }

    @Test("fresh sends wait for the window; retries and rows that must go alone do not; no declaration means one per request")
    func batcherWindowAndAlone() {
        let fresh = Self.item(1, user: "a", created: Self.t0)
        let retry = Self.item(2, user: "b", attempts: 1, created: Self.t0)
        let cancellable = Self.item(3, user: "c", created: Self.t0, rule: "cancel")
        let batcher = Batcher(window: 0.25)
        let (requests, held) = batcher.batch([fresh, retry, cancellable], coalescing: Self.coalescing, alone: { $0.ruleId == "cancel" }, now: Self.t0)
        #expect(held == Self.t0.addingTimeInterval(0.25))
        #expect(requests.map { $0.items.map(\.id) } == [[2], [3]])
        let (plain, _) = batcher.batch([fresh, retry], coalescing: nil, alone: { _ in false }, now: Self.t0)
        #expect(plain.map(\.items.count) == [1, 1])
    }

    @Test("a size cap splits a group by the bytes each send adds")
    func batcherSizeCap() {
        let capped = SendCoalescing(
            key: Self.coalescing.key, identity: Self.coalescing.identity, maxSends: 50, maxBytes: 100,
            size: { $0.body["recipients"]?.arrayValue?.first?["trigger_properties"]?.compactUTF8Count ?? 0 }, merge: Self.coalescing.merge)
        let props: JSONValue = ["p": .string(String(repeating: "x", count: 40))]  // 48 bytes
        let items = (1...5).map { Self.item(Int64($0), user: "u-\($0)", properties: props) }
        let (requests, _) = Batcher(window: 0).batch(items, coalescing: capped, alone: { _ in false }, now: Self.t0)
        #expect(requests.map(\.items.count) == [2, 2, 1])
    }

    // MARK: OutcomeTable

    @Test("outcomes: scheduled, retried with backoff and jitter, dead after max attempts, unknown, failed, held")
    func outcomeTable() {
        let table = OutcomeTable(maxAttempts: 3)
        let sent = SendRequest(id: "k", body: ["campaign_id": "c"], schedule: ["time": "t"])
        func v(_ o: ActionOutcome, attempts: Int = 0, jitter: Double = 0.5) -> OutcomeTable.Verdict {
            table.verdict(for: o, attempts: attempts, outboxId: 7, action: "braze", sent: sent, sendAt: nil, now: Self.t0, jitter: jitter)
        }
        let ok = v(.success(details: ["schedule_id": "s-1", "dispatch_id": "d-1"]))
        #expect(ok.row.state == .sent && ok.row.attempts == 1)
        #expect(ok.run.status == .scheduled && ok.run.scheduleId == "s-1" && ok.run.request == sent.body && ok.run.reason == "scheduled: schedule_id s-1")

        let retry = v(.failure(message: "503", retryable: true))
        #expect(retry.row.state == .pending && retry.row.nextAttemptAt == Self.t0.addingTimeInterval(1))
        #expect(retry.run.reason.hasPrefix("retrying after: 503 (attempt 1 of 3"))
        #expect(v(.failure(message: "503", retryable: true), attempts: 1, jitter: 0).row.nextAttemptAt == Self.t0.addingTimeInterval(1.6), "2 s less 20%")
        let later = v(.retryLater(message: "429", after: Self.t0.addingTimeInterval(900)))
        #expect(later.row.nextAttemptAt == Self.t0.addingTimeInterval(900.5), "after the reset, plus jitter")

        let dead = v(.failure(message: "500", retryable: true), attempts: 2)
        #expect(dead.row.state == .dead && dead.run.status == .failed && dead.run.reason == "dead after 3 attempts: 500")
        let failed = v(.failure(message: "400: bad", retryable: false))
        #expect(failed.row.state == .dead && failed.run.reason == "400: bad")

        let unknown = v(.unknown(message: "timeout"))
        #expect(unknown.row.state == .unknown && unknown.run.status == .unknown && unknown.run.reason.contains("flint outbox retry 7"))

        let held = v(.credentialsRefused(message: "401"), attempts: 2)
        #expect(held.row.state == .pending && held.row.attempts == 2 && held.run.reason == "held: dispatching is paused: 401")
    }
}
