import Braze
import FlintPluginAPI
import Foundation
import Testing

/// The client against a scripted Braze through real sockets on loopback.
@Suite("Braze client over real sockets")
struct BrazeClientTests {
    @Test("a 201 answer gives its ids, and the server saw the exact request")
    func successAndExactRequest() async throws {
        try await withBrazeServer(reply: { _ in .json(201, successBody) }) { port, recorder in
            try await withClient(port: port) { client in
                let response = await client.createSchedule(createBody)
                #expect(response.disposition == .success)
                #expect(response.status == 201)
                #expect(response.scheduleId == "sched-456")
                #expect(response.dispatchId == "disp-123")
                #expect(response.message == "success")
            }
            let request = try #require(recorder.all.first)
            #expect(recorder.all.count == 1)
            #expect(request.method == "POST")
            #expect(request.path == "/campaigns/trigger/schedule/create")
            #expect(request.header("Authorization") == "Bearer \(testAPIKey)")
            #expect(request.header("Content-Type") == "application/json")
            #expect(request.bodyText == createBody.compactJSON)
            #expect(request.header("Content-Length") == "\(createBody.compactUTF8Count)")
        }
    }

    @Test("a 201 with minor errors is a success that keeps them")
    func successWithMinorErrors() async throws {
        let body = #"{"dispatch_id":"d-1","schedule_id":"s-1","message":"success","errors":["user u-9 not found"]}"#
        try await withBrazeServer(reply: { _ in .json(201, body) }) { port, _ in
            try await withClient(port: port) { client in
                let action = BrazeAction(client: client)
                let response = await action.performDetailed(SendRequest(id: "o-1", body: createBody, schedule: nil))
                #expect(response.disposition == .success)
                #expect(response.errors == ["user u-9 not found"])
                let outcome = await action.perform(SendRequest(id: "o-1", body: createBody, schedule: nil), context: context)
                guard case .success(let details) = outcome else { Issue.record("not a success: \(outcome)"); return }
                #expect(details["errors"] == ["user u-9 not found"])
                #expect(details["schedule_id"] == "s-1")
            }
        }
    }

    @Test("the action's success details: schedule_id, dispatch_id, status, rate_limit")
    func actionSuccessDetails() async throws {
        let headers = [("X-RateLimit-Limit", "250000"), ("X-RateLimit-Remaining", "249999"), ("X-RateLimit-Reset", "1800003600")]
        try await withBrazeServer(reply: { _ in .json(201, successBody, headers: headers) }) { port, _ in
            try await withClient(port: port) { client in
                let outcome = await BrazeAction(client: client).perform(
                    SendRequest(id: "o-1", body: createBody, schedule: nil), context: context)
                #expect(
                    outcome
                        == .success(details: [
                            "schedule_id": "sched-456", "dispatch_id": "disp-123", "status": 201, "message": "success",
                            "rate_limit": ["limit": 250000, "remaining": 249999, "reset": "2027-01-15T09:00:00Z"],
                        ]))
            }
        }
    }

    @Test("400 and 404 fail with Braze's message", arguments: [400, 404])
    func clientErrors(status: Int) async throws {
        let body = #"{"message":"Invalid campaign_id","errors":["campaign camp-1 is not API-triggered"]}"#
        try await withBrazeServer(reply: { _ in .json(status, body) }) { port, _ in
            try await withClient(port: port) { client in
                let response = await client.createSchedule(createBody)
                #expect(response.status == status)
                #expect(response.disposition == .fail("Invalid campaign_id (errors: campaign camp-1 is not API-triggered)"))
                let outcome = await BrazeAction(client: client).perform(
                    SendRequest(id: "o", body: createBody, schedule: nil), context: context)
                #expect(
                    outcome
                        == .failure(
                            message: "braze: HTTP \(status): Invalid campaign_id (errors: campaign camp-1 is not API-triggered)",
                            retryable: false))
            }
        }
    }

    @Test("401 and 403 are authentication failures", arguments: [401, 403])
    func authFailures(status: Int) async throws {
        try await withBrazeServer(reply: { _ in .json(status, #"{"message":"Invalid API key"}"#) }) { port, _ in
            try await withClient(port: port) { client in
                let action = BrazeAction(client: client)
                let response = await action.performDetailed(SendRequest(id: "o", body: createBody, schedule: nil))
                #expect(response.disposition == .authFailure("Invalid API key"))
                let outcome = await action.perform(SendRequest(id: "o", body: createBody, schedule: nil), context: context)
                guard case .credentialsRefused(let message) = outcome else { Issue.record("\(outcome)"); return }
                #expect(message.hasPrefix(BrazeAction.authFailurePrefix))
            }
        }
    }

    @Test("429 retries after X-RateLimit-Reset")
    func rateLimited() async throws {
        let headers = [("X-RateLimit-Limit", "250000"), ("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "1800003600")]
        try await withBrazeServer(reply: { _ in .json(429, #"{"message":"Rate limit exceeded"}"#, headers: headers) }) { port, _ in
            try await withClient(port: port) { client in
                let response = await client.createSchedule(createBody)
                #expect(response.disposition == .retryAfter(Date(timeIntervalSince1970: 1_800_003_600)))
                #expect(response.rateLimit.remaining == 0)
                let outcome = await BrazeAction(client: client).perform(
                    SendRequest(id: "o", body: createBody, schedule: nil), context: context)
                #expect(
                    outcome
                        == .retryLater(
                            message: "braze: HTTP 429: Rate limit exceeded; retry after 2027-01-15T09:00:00Z",
                            after: Date(timeIntervalSince1970: 1_800_003_600)))
            }
        }
    }

    @Test("500, 502 and 503 are retried", arguments: [500, 502, 503])
    func serverErrors(status: Int) async throws {
        try await withBrazeServer(reply: { _ in .json(status, #"{"message":"Internal Server Error"}"#) }) { port, _ in
            try await withClient(port: port) { client in
                #expect(await client.createSchedule(createBody).disposition == .retry)
                let outcome = await BrazeAction(client: client).perform(
                    SendRequest(id: "o", body: createBody, schedule: nil), context: context)
                #expect(outcome == .failure(message: "braze: HTTP \(status): Internal Server Error", retryable: true))
            }
        }
    }

    @Test("504 is unknown")
    func gatewayTimeout() async throws {
        try await withBrazeServer(reply: { _ in Reply(status: 504, body: "upstream timed out") }) { port, _ in
            try await withClient(port: port) { client in
                let response = await client.createSchedule(createBody)
                #expect(response.disposition.unknownMessage != nil)
                let outcome = await BrazeAction(client: client).perform(
                    SendRequest(id: "o", body: createBody, schedule: nil), context: context)
                guard case .unknown = outcome else { Issue.record("\(outcome)"); return }
            }
        }
    }

    @Test("rate-limit headers are parsed, and empty ones are tolerated")
    func rateLimitHeaders() async throws {
        let empty = [("X-RateLimit-Limit", ""), ("X-RateLimit-Remaining", ""), ("X-RateLimit-Reset", "")]
        try await withBrazeServer(reply: { request in
            request.bodyText.contains("empty")
                ? .json(500, #"{"message":"oops"}"#, headers: empty)
                : .json(201, successBody, headers: [("x-ratelimit-limit", "250000"), ("X-RATELIMIT-REMAINING", "12")])
        }) { port, _ in
            try await withClient(port: port) { client in
                let full = await client.createSchedule(createBody)
                #expect(full.rateLimit == BrazeRateLimit(limit: 250_000, remaining: 12, reset: nil))
                let blank = await client.createSchedule(["campaign_id": "empty"])
                #expect(blank.disposition == .retry)
                #expect(blank.rateLimit.isEmpty)
            }
        }
    }

    @Test("a server slower than the timeout gives unknown: the request was written")
    func timeoutAfterWrite() async throws {
        let gate = Gate()
        try await withBrazeServer(reply: { _ in
            await gate.wait()
            return .json(201, successBody)
        }) { port, recorder in
            // 2 s: long enough for the connect and the write on a loaded machine (300 ms was not).
            try await withClient(port: port, timeout: .seconds(2)) { client in
                let response = await client.createSchedule(createBody)
                gate.open()
                #expect(response.status == nil)
                #expect(response.disposition.unknownMessage != nil)
                let failure = try #require(response.transportError)
                #expect(failure == .timeout)
                #expect(failure.phase == .afterRequestWritten)
                #expect(!failure.isRetryable)
            }
            // The request was written before the timeout; the server may read it a moment later on a busy machine.
            let deadline = ContinuousClock.now + .seconds(10)
            while recorder.all.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(recorder.all.count == 1)
        }
        gate.open()
    }

    @Test("connection refused is retryable: nothing was written")
    func connectionRefused() async throws {
        try await withRefusingPort { port in
            try await withClient(port: port, timeout: .seconds(2), connectTimeout: .milliseconds(200)) { client in
                let response = await client.createSchedule(createBody)
                #expect(response.disposition == .retry)
                let failure = try #require(response.transportError)
                #expect(failure.phase == .beforeRequestWritten)
                #expect(failure == .connectFailed, "\(failure)")
                let outcome = await BrazeAction(client: client).perform(
                    SendRequest(id: "o", body: createBody, schedule: nil), context: context)
                guard case .failure(_, true) = outcome else { Issue.record("\(outcome)"); return }
            }
        }
    }

    @Test("a server that closes after reading the request gives unknown")
    func closedAfterRequest() async throws {
        try await withRawServer(.closeAfterRequest) { port in
            try await withClient(port: port) { client in
                let response = await client.createSchedule(createBody)
                #expect(response.disposition.unknownMessage != nil, "\(response.disposition)")
                let failure = try #require(response.transportError)
                #expect(failure == .connectionLost, "\(failure)")
                #expect(failure.phase == .afterRequestWritten)
                let outcome = await BrazeAction(client: client).perform(
                    SendRequest(id: "o", body: createBody, schedule: nil), context: context)
                guard case .unknown = outcome else { Issue.record("\(outcome)"); return }
            }
        }
    }

    @Test("a connection reset while the body is being written is retryable")
    func resetWhileWriting() async throws {
        // 24 MB: more than the loopback send and receive buffers can absorb, so the reset lands
        // before the last byte is written.
        let big: JSONValue = ["campaign_id": "camp-1", "trigger_properties": ["blob": .string(String(repeating: "x", count: 24 << 20))]]
        try await withRawServer(.resetOnFirstRead) { port in
            try await withClient(port: port) { client in
                let response = await client.createSchedule(big)
                #expect(response.disposition == .retry, "\(response.disposition)")
                let failure = try #require(response.transportError)
                #expect(failure.phase == .beforeRequestWritten)
                #expect(failure == .connectionLost, "\(failure)")
            }
        }
    }

    @Test("delete and update post their bodies to their endpoints")
    func deleteAndUpdate() async throws {
        try await withBrazeServer(reply: { _ in .json(201, #"{"message":"success"}"#) }) { port, recorder in
            try await withClient(port: port) { client in
                let deleted = await client.deleteSchedule(campaignId: "camp-1", scheduleId: "s-1")
                #expect(deleted.disposition == .success)
                let schedule: JSONValue = ["time": "2026-12-01T10:00:00Z", "in_local_time": false, "at_optimal_time": false]
                let updated = await client.updateSchedule(campaignId: "camp-1", scheduleId: "s-1", schedule: schedule)
                #expect(updated.disposition == .success)
            }
            let requests = recorder.all
            #expect(requests.map(\.path) == ["/campaigns/trigger/schedule/delete", "/campaigns/trigger/schedule/update"])
            #expect(requests.first?.bodyText == #"{"campaign_id":"camp-1","schedule_id":"s-1"}"#)
            #expect(
                requests.last?.bodyText
                    == #"{"campaign_id":"camp-1","schedule":{"at_optimal_time":false,"in_local_time":false,"time":"2026-12-01T10:00:00Z"},"schedule_id":"s-1"}"#
            )
        }
    }

    @Test("the planner's schedule is what the server receives")
    func plannedSchedule() async throws {
        try await withBrazeServer(reply: { _ in .json(201, successBody) }) { port, recorder in
            try await withClient(port: port) { client in
                let planned: JSONValue = ["time": "2026-12-01T10:00:00", "in_local_time": true, "at_optimal_time": false]
                _ = await BrazeAction(client: client).perform(
                    SendRequest(id: "o", body: createBody, schedule: planned), context: context)
            }
            let body = try JSONParser.parse(try #require(recorder.all.first).body)
            #expect(body["schedule"]?["time"] == "2026-12-01T10:00:00")
        }
    }
}
