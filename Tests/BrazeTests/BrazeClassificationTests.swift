import AsyncHTTPClient
@testable import Braze
import FlintPluginAPI
import Foundation
import NIOCore
import Testing

/// The pure classification of Braze's answers (docs/braze.md, Errors and retries): no sockets.
@Suite("Braze answers are classified by HTTP status")
struct BrazeClassificationTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func classify(
        _ status: Int, _ body: String = "", headers: [(name: String, value: String)] = [],
        operation: BrazeOperation = .createSchedule
    ) -> BrazeResponse {
        BrazeResponse(operation: operation, status: status, headers: headers, body: Array(body.utf8), receivedAt: now)
    }

    @Test("a 201 success names the schedule and the dispatch")
    func success() {
        let response = classify(201, #"{"dispatch_id":"d-1","schedule_id":"s-1","message":"success"}"#)
        #expect(response.disposition == .success)
        #expect(response.scheduleId == "s-1")
        #expect(response.dispatchId == "d-1")
        #expect(response.message == "success")
        #expect(response.errors.isEmpty)
    }

    @Test("a 2xx with minor errors is still a success that keeps them")
    func successWithMinorErrors() {
        let response = classify(
            201, #"{"dispatch_id":"d","schedule_id":"s","message":"success","errors":["minor one",{"code":7}]}"#)
        #expect(response.disposition == .success)
        #expect(response.errors == ["minor one", #"{"code":7}"#])
    }

    @Test("the legacy 'queued' message is a success, and any 2xx status counts")
    func queued() {
        #expect(classify(200, #"{"message":"queued"}"#).disposition == .success)
        #expect(classify(202, #"{"schedule_id":"s","message":"anything"}"#).disposition == .success)
    }

    @Test("a 2xx body that does not parse is a success when it names a schedule_id")
    func unparseableWithScheduleId() {
        let response = classify(201, #"{"dispatch_id": "d-9", "schedule_id" : "s-9", "message": "succ"#)
        #expect(response.disposition == .success)
        #expect(response.scheduleId == "s-9")
        #expect(response.dispatchId == "d-9")
    }

    @Test("a 2xx create without a schedule_id or success message is unknown, and says why")
    func successWithoutId() throws {
        for body in ["", "<html>ok</html>", #"{"message":"weird"}"#, "{}"] {
            let message = try #require(classify(201, body).disposition.unknownMessage, "body \(body)")
            #expect(message.contains("without a schedule_id"))
        }
    }

    @Test("delete and update need no schedule_id to succeed")
    func deleteAndUpdate() {
        #expect(classify(200, #"{"message":"success"}"#, operation: .deleteSchedule).disposition == .success)
        #expect(classify(201, "", operation: .updateSchedule).disposition == .success)
    }

    @Test("400, 404 and other 4xx fail with Braze's message", arguments: [400, 404, 405, 409, 413, 422])
    func clientErrors(status: Int) throws {
        let response = classify(status, #"{"message":"Invalid campaign_id","errors":["campaign not found"]}"#)
        let message = try #require(response.disposition.failMessage)
        #expect(message == "Invalid campaign_id (errors: campaign not found)")
        #expect(response.summary == "HTTP \(status): Invalid campaign_id (errors: campaign not found)")
    }

    @Test("401 and 403 are authentication failures", arguments: [401, 403])
    func authFailures(status: Int) {
        #expect(classify(status, #"{"message":"Invalid API key"}"#).disposition == .authFailure("Invalid API key"))
    }

    @Test("the classification never reads the message: 'success' on a 400 is still a failure")
    func statusOnly() {
        #expect(classify(400, #"{"message":"success","schedule_id":"s"}"#).disposition == .fail("success"))
        #expect(classify(503, #"{"message":"success"}"#).disposition == .retry)
    }

    @Test("429 retries after X-RateLimit-Reset, or Retry-After when given")
    func rateLimited() {
        let reset = [(name: "x-ratelimit-reset", value: "1800003600")]
        #expect(classify(429, "", headers: reset).disposition == .retryAfter(Date(timeIntervalSince1970: 1_800_003_600)))
        let both = reset + [(name: "Retry-After", value: "30")]
        #expect(classify(429, "", headers: both).disposition == .retryAfter(now.addingTimeInterval(30)))
        #expect(classify(429, "").disposition == .retryAfter(nil))
    }

    @Test("500, 502, 503 and other 5xx but 504 are retried", arguments: [500, 502, 503, 507])
    func serverErrors(status: Int) {
        #expect(classify(status, #"{"message":"Internal error"}"#).disposition == .retry)
    }

    @Test("a 5xx with Retry-After is retried at that instant")
    func serverErrorWithRetryAfter() {
        let response = classify(503, "", headers: [("Retry-After", "Wed, 21 Oct 2026 07:28:00 GMT")])
        #expect(response.disposition == .retryAfter(Timestamp.parse("2026-10-21T07:28:00Z")))
    }

    @Test("504 is unknown: Braze may have created the schedule")
    func gatewayTimeout() throws {
        let message = try #require(classify(504, "<html>Gateway Timeout</html>").disposition.unknownMessage)
        #expect(message.contains("gateway timeout"))
        #expect(message.contains("Gateway Timeout"))
    }

    @Test("a redirect fails: the endpoint is misconfigured")
    func redirect() throws {
        let message = try #require(
            classify(301, "", headers: [("Location", "https://elsewhere/")]).disposition.failMessage)
        #expect(message.contains("https://elsewhere/"))
    }

    @Test("rate-limit headers are read in any case, and empty values are nil")
    func rateLimitHeaders() {
        let full = classify(
            201, "",
            headers: [("X-RATELIMIT-LIMIT", "250000"), ("x-ratelimit-remaining", " 249998 "), ("X-RateLimit-Reset", "1800003600")])
        #expect(full.rateLimit == BrazeRateLimit(limit: 250_000, remaining: 249_998, reset: Date(timeIntervalSince1970: 1_800_003_600)))
        let empty = classify(
            500, "", headers: [("X-RateLimit-Limit", ""), ("X-RateLimit-Remaining", ""), ("X-RateLimit-Reset", "")])
        #expect(empty.rateLimit.isEmpty)
        #expect(classify(500, "", headers: [("X-RateLimit-Remaining", "lots")]).rateLimit.remaining == nil)
    }

    @Test("a non-JSON error body is quoted briefly")
    func htmlBody() throws {
        let message = try #require(classify(400, "<html>\n  <body>Bad   Request</body>\n</html>").disposition.failMessage)
        #expect(message == "unreadable response body (43 bytes): <html> <body>Bad Request</body> </html>")
    }

    @Test("text echoed by the server is redacted")
    func redaction() throws {
        let response = BrazeResponse(
            operation: .createSchedule, status: 401, headers: [],
            body: Array(#"{"message":"bad key sk-123456"}"#.utf8), receivedAt: now,
            redact: { $0.replacingOccurrences(of: "sk-123456", with: "<redacted>") })
        #expect(response.disposition == .authFailure("bad key <redacted>"))
    }
}

@Suite("Transport errors are split at the moment the request was fully written")
struct BrazeTransportErrorTests {
    func classify(_ error: any Error, written: Bool) -> BrazeTransportError {
        BrazeTransportError.classify(error, requestWritten: written, redact: { $0 })
    }

    @Test("connect, DNS and TLS failures happen before the request is written and are retried")
    func beforeWrite() {
        let cases: [(any Error, BrazeTransportError)] = [
            (HTTPClientError.connectTimeout, .connectTimeout),
            (HTTPClientError.getConnectionFromPoolTimeout, .connectTimeout),
            (ChannelError.connectTimeout(.seconds(1)), .connectTimeout),
            (IOError(errnoCode: ECONNREFUSED, reason: "connect"), .connectFailed),
            (HTTPClientError.tlsHandshakeTimeout, .tlsFailed),
        ]
        for (error, expected) in cases {
            let classified = classify(error, written: false)
            #expect(classified == expected, "\(error)")
            #expect(classified.phase == .beforeRequestWritten)
            #expect(classified.isRetryable)
            #expect(!classified.mayHaveReachedBraze)
        }
    }

    @Test("timeouts and lost connections are retried before the write, unknown after it")
    func phaseDecides() {
        let cases: [(any Error, BrazeTransportError)] = [
            (HTTPClientError.deadlineExceeded, .timeout),
            (HTTPClientError.readTimeout, .timeout),
            (HTTPClientError.remoteConnectionClosed, .connectionLost),
            (IOError(errnoCode: ECONNRESET, reason: "write"), .connectionLost),
            (IOError(errnoCode: EPIPE, reason: "write"), .connectionLost),
            (ChannelError.ioOnClosedChannel, .connectionLost),
            (HTTPClientError.cancelled, .cancelled),
        ]
        for (error, expected) in cases {
            let before = classify(error, written: false)
            #expect(before == expected, "\(error)")
            #expect(before.isRetryable, "\(error)")
            let after = classify(error, written: true)
            #expect(after.phase == .afterRequestWritten)
            #expect(!after.isRetryable, "\(error)")
            #expect(after.mayHaveReachedBraze)
            let response = BrazeResponse(operation: .createSchedule, transportError: after, receivedAt: Date())
            #expect(response.disposition.unknownMessage != nil)
        }
    }

    @Test("a request that cannot be built fails without retry")
    func invalidRequest() {
        let classified = classify(HTTPClientError.invalidURL, written: false)
        #expect(classified == .invalidRequest)
        #expect(!classified.isRetryable)
        #expect(BrazeResponse(operation: .createSchedule, transportError: classified, receivedAt: Date()).disposition.failMessage != nil)
    }

    @Test("labels are bounded")
    func labels() {
        #expect(classify(HTTPClientError.readTimeout, written: true).label == "timeout")
        #expect(classify(IOError(errnoCode: ECONNREFUSED, reason: "x"), written: false).label == "connect_failed")
        #expect(classify(CancellationError(), written: false).label == "cancelled")
    }
}

@Suite("Braze configuration")
struct BrazeConfigurationTests {
    @Test("the key never appears in a description, a debug description or a dump")
    func redactsKey() {
        let configuration = BrazeConfiguration(restEndpoint: "https://rest.iad-01.braze.com", apiKey: testAPIKey)
        var dumped = ""
        dump(configuration, to: &dumped)
        for text in ["\(configuration)", String(reflecting: configuration), dumped] {
            #expect(!text.contains(testAPIKey))
            #expect(text.contains("<redacted>"))
        }
    }

    @Test("endpoint URLs are built with or without a trailing slash; other schemes are refused")
    func urls() {
        let a = BrazeConfiguration(restEndpoint: "https://rest.fra-02.braze.eu/", apiKey: "k")
        #expect(a.url(for: .createSchedule)?.absoluteString == "https://rest.fra-02.braze.eu/campaigns/trigger/schedule/create")
        let b = BrazeConfiguration(restEndpoint: URL(string: "http://127.0.0.1:9")!, apiKey: "k")
        #expect(b.url(for: .deleteSchedule)?.absoluteString == "http://127.0.0.1:9/campaigns/trigger/schedule/delete")
        #expect(BrazeConfiguration(restEndpoint: "rest.iad-01.braze.com", apiKey: "k").url(for: .createSchedule) == nil)
        #expect(BrazeConfiguration(restEndpoint: "ftp://x", apiKey: "k").url(for: .createSchedule) == nil)
    }
}

@Suite("The braze action's outcomes")
struct BrazeActionOutcomeTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func response(_ status: Int, _ body: String, headers: [(name: String, value: String)] = []) -> BrazeResponse {
        BrazeResponse(operation: .createSchedule, status: status, headers: headers, body: Array(body.utf8), receivedAt: now)
    }

    @Test("success carries schedule_id, dispatch_id, status and the rate limit")
    func success() {
        let outcome = BrazeAction.outcome(
            for: response(
                201, successBody,
                headers: [("X-RateLimit-Limit", "250000"), ("X-RateLimit-Remaining", "7"), ("X-RateLimit-Reset", "1800003600")]))
        #expect(
            outcome
                == .success(details: [
                    "schedule_id": "sched-456", "dispatch_id": "disp-123", "status": 201, "message": "success",
                    "rate_limit": ["limit": 250000, "remaining": 7, "reset": "2027-01-15T09:00:00Z"],
                ]))
    }

    @Test("a retry names the status, Braze's message and the instant to retry at")
    func retry() {
        guard case .retryLater(let message, let after) = BrazeAction.outcome(
            for: response(429, #"{"message":"Too many"}"#, headers: [("X-RateLimit-Reset", "1800003600")]))
        else { Issue.record("not a retry-later"); return }
        #expect(after == Date(timeIntervalSince1970: 1_800_003_600))
        #expect(message == "braze: HTTP 429: Too many; retry after 2027-01-15T09:00:00Z")
        guard case .failure(let message5xx, true) = BrazeAction.outcome(for: response(502, "")) else {
            Issue.record("502 is not a retryable failure"); return
        }
        #expect(message5xx == "braze: HTTP 502: no message in the response body")
    }

    @Test("fail and auth failure are not retried; auth failures carry a stable prefix")
    func failures() {
        #expect(
            BrazeAction.outcome(for: response(400, #"{"message":"Bad time"}"#))
                == .failure(message: "braze: HTTP 400: Bad time", retryable: false))
        guard case .credentialsRefused(let message) = BrazeAction.outcome(for: response(401, #"{"message":"nope"}"#)) else {
            Issue.record("401 does not refuse the credentials"); return
        }
        #expect(message.hasPrefix(BrazeAction.authFailurePrefix + "HTTP 401: nope"))
        guard case .failure(let other, false) = BrazeAction.outcome(for: response(404, "")) else { return }
        #expect(!other.hasPrefix(BrazeAction.authFailurePrefix))
    }

    @Test("504 is an unknown outcome")
    func unknown() {
        guard case .unknown(let message) = BrazeAction.outcome(for: response(504, "")) else {
            Issue.record("504 is not unknown"); return
        }
        #expect(message.hasPrefix("braze: HTTP 504: gateway timeout"))
    }

    @Test("the planner's schedule replaces the body's")
    func scheduleMerge() {
        let planned: JSONValue = ["time": "2026-12-01T10:00:00", "in_local_time": true, "at_optimal_time": false]
        let request = SendRequest(id: "o-1", body: createBody, schedule: planned)
        #expect(BrazeAction.body(for: request)["schedule"] == planned)
        #expect(BrazeAction.body(for: request)["campaign_id"] == "camp-1")
        #expect(BrazeAction.body(for: SendRequest(id: "o-2", body: createBody, schedule: nil)) == createBody)
    }
}
