@testable import BrazeSandbox
import FlintPluginAPI
import Foundation
import HummingbirdTesting
import Testing

@Suite("Rate limits: X-RateLimit-* on every answer, 429 past the budget, a fresh budget after the window")
struct BrazeSandboxRateLimitTests {
    @Test("5 requests per 2 s: the sixth is 429 with Retry-After, and the next window lets requests through")
    func generalBudget() async throws {
        let clock = TestClock()
        let configuration = BrazeSandboxConfiguration(requestsPerWindow: 5, window: .seconds(2), now: clock.closure)
        try await withSandbox(configuration) { client, sandbox in
            let reset = String(Int(testNow.timeIntervalSince1970) + 2)
            for remaining in [4, 3, 2, 1, 0] {
                let response = try await client.create()
                #expect(response.status == .created)
                #expect(response.header("X-RateLimit-Limit") == "5")
                #expect(response.header("X-RateLimit-Remaining") == String(remaining))
                #expect(response.header("X-RateLimit-Reset") == reset)
                #expect(response.header("Retry-After") == nil)
            }
            clock.advance(by: 0.5)
            let refused = try await client.create()
            #expect(refused.status == .tooManyRequests)
            #expect(refused.header("X-RateLimit-Remaining") == "0")
            #expect(refused.header("X-RateLimit-Reset") == reset)
            #expect(refused.header("Retry-After") == "2")
            #expect(refused.message?.hasPrefix("API rate limit exceeded") == true)
            #expect(sandbox.schedules().count == 5)
            #expect(sandbox.calls().last?.status == 429)

            clock.advance(by: 1.5)
            let next = try await client.create()
            #expect(next.status == .created)
            #expect(next.header("X-RateLimit-Remaining") == "4")
            #expect(next.header("X-RateLimit-Reset") == String(Int(testNow.timeIntervalSince1970) + 4))
        }
    }

    @Test("requests with an audience have their own, lower budget")
    func audienceBudget() async throws {
        let clock = TestClock()
        let configuration = BrazeSandboxConfiguration(audienceRequestsPerWindow: 2, audienceWindow: .seconds(60), now: clock.closure)
        let withAudience = createBody {
            $0["recipients"] = nil
            $0["audience"] = ["push_subscription_status": ["comparison": "is", "value": "opted_in"]]
        }
        try await withSandbox(configuration) { client, _ in
            let first = try await client.create(withAudience)
            #expect(first.status == .created)
            #expect(first.header("X-RateLimit-Limit") == "2")
            #expect(first.header("X-RateLimit-Remaining") == "1")
            #expect(try await client.create(withAudience).status == .created)
            let refused = try await client.create(withAudience)
            #expect(refused.status == .tooManyRequests)
            #expect(refused.header("X-RateLimit-Reset") == String(Int(testNow.timeIntervalSince1970) + 60))
            // Requests without an audience still pass, on the general budget.
            let plain = try await client.create()
            #expect(plain.status == .created)
            #expect(plain.header("X-RateLimit-Limit") == "250000")
            #expect(plain.header("X-RateLimit-Remaining") == "249997")
            clock.advance(by: 60)
            #expect(try await client.create(withAudience).status == .created)
        }
    }

    @Test("windows are aligned on their length: an hourly window resets on the hour")
    func alignedWindows() {
        var limiter = SandboxRateLimiter(configuration: BrazeSandboxConfiguration())
        let quarterPast = testNow.addingTimeInterval(15 * 60)
        let state = limiter.admit(audience: false, now: quarterPast)
        #expect(state.reset == Int(testNow.timeIntervalSince1970) + 3600)
        #expect(state.remaining == 249_999)
        #expect(limiter.peek(now: quarterPast).remaining == 249_999)
        let nextHour = limiter.admit(audience: false, now: testNow.addingTimeInterval(3600))
        #expect(nextHour.remaining == 249_999)
        #expect(nextHour.reset == Int(testNow.timeIntervalSince1970) + 7200)
    }
}
