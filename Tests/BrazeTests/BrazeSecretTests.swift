import Braze
import FlintPluginAPI
import FlintTesting
import Foundation
import Testing

/// The API key is a secret (docs/braze.md, Schedules): it goes out in the Authorization header and nowhere else.
@Suite("The Braze API key never leaks")
struct BrazeSecretTests {
    /// Every string an outcome carries.
    func texts(_ outcome: ActionOutcome) -> [String] {
        switch outcome {
        case .success(let details): [details.compactJSON]
        case .failure(let message, _): [message]
        case .unknown(let message): [message]
        case .retryLater(let message, _): [message]
        case .credentialsRefused(let message): [message]
        }
    }

    func texts(_ response: BrazeResponse) -> [String] {
        var all = [response.summary, "\(response)", String(reflecting: response)]
        all += [response.message, response.scheduleId, response.dispatchId].compactMap { $0 }
        all += response.errors
        if let failure = response.transportError { all += [failure.description, failure.detail] }
        switch response.disposition {
        case .fail(let m), .authFailure(let m), .unknown(let m): all.append(m)
        default: break
        }
        return all
    }

    @Test("not in logs, responses or outcomes, whatever happens, even when the server echoes it")
    func neverLeaks() async throws {
        let logs = LogCapture()
        let collected = TextBox()
        let gate = Gate()
        // A hostile server: echoes the Authorization header in every message and header it can.
        try await withBrazeServer(reply: { request in
            let auth = request.header("Authorization") ?? ""
            switch request.bodyText {
            case let b where b.contains("slow"):
                await gate.wait()
                return .json(201, successBody)
            case let b where b.contains("401"):
                return .json(401, #"{"message":"bad key \#(auth)"}"#)
            case let b where b.contains("400"):
                return .json(400, #"{"message":"\#(auth)","errors":["\#(auth)"]}"#)
            case let b where b.contains("302"):
                return Reply(status: 302, headers: [("Location", "https://x/\(auth.replacingOccurrences(of: " ", with: ""))")])
            default:
                return .json(201, #"{"schedule_id":"s","dispatch_id":"d","message":"success","errors":["\#(auth)"]}"#,
                    headers: [("X-RateLimit-Limit", auth)])
            }
        }) { port, recorder in
            try await withClient(port: port, timeout: .milliseconds(300), logs: logs) { client in
                let action = BrazeAction(client: client)
                for marker in ["ok", "401", "400", "302", "slow"] {
                    let request = SendRequest(id: marker, body: ["campaign_id": .string(marker)], schedule: nil)
                    collected.append(texts(await action.performDetailed(request, context: .init(name: "braze", logger: logs.logger))))
                    collected.append(texts(await action.perform(request, context: .init(name: "braze", logger: logs.logger))))
                }
                gate.open()
                collected.append(texts(await client.deleteSchedule(campaignId: "401", scheduleId: "s")))
                collected.append(["\(client.configuration)"])
            }
            #expect(recorder.all.allSatisfy { $0.header("Authorization") == "Bearer \(testAPIKey)" })
        }
        gate.open()

        // Nothing listening, and an endpoint that is not a URL.
        try await withRefusingPort { port in
            try await withClient(port: port, timeout: .seconds(1), connectTimeout: .milliseconds(100), logs: logs) { client in
                let outcome = await BrazeAction(client: client).perform(
                    SendRequest(id: "r", body: createBody, schedule: nil), context: .init(name: "braze", logger: logs.logger))
                collected.append(texts(outcome))
            }
        }
        let broken = BrazeClient(
            configuration: .init(restEndpoint: "not a url \(testAPIKey)", apiKey: testAPIKey), logger: logs.logger)
        collected.append(texts(await broken.createSchedule(createBody)))
        try await broken.shutdown()

        #expect(logs.all.count >= 10)
        #expect(collected.all.count >= 30)
        for text in logs.texts + collected.all {
            #expect(!text.contains(testAPIKey), "leaked in: \(text)")
        }
    }

    @Test("a key that cannot be sent in a header is refused without quoting it")
    func unusableKey() async throws {
        let logs = LogCapture()
        let key = "abc\ndef-SECRET"
        let client = BrazeClient(
            configuration: .init(restEndpoint: "http://127.0.0.1:9", apiKey: key), logger: logs.logger)
        let response = await client.createSchedule(createBody)
        try await client.shutdown()
        #expect(response.disposition.failMessage?.contains("cannot be sent in an HTTP header") == true)
        for text in logs.texts + [response.summary] {
            #expect(!text.contains("SECRET"))
        }
    }
}
