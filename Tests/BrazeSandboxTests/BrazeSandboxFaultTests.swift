@testable import BrazeSandbox
import FlintPluginAPI
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite("Faults: statuses, latency, hung requests, dropped connections, and schedules created before the fault")
struct BrazeSandboxFaultTests {
    @Test("a status fault answers that status with a Braze-like body and rate-limit headers, once", arguments: [500, 502, 503, 504, 400, 401, 403])
    func status(_ code: Int) async throws {
        try await withSandbox { client, sandbox in
            sandbox.inject(.status(code))
            let failed = try await client.create()
            #expect(failed.status.code == code)
            #expect(failed.message == SandboxFault.defaultMessage(for: code))
            #expect(failed.header("X-RateLimit-Remaining") == "249999")
            #expect(sandbox.schedules().isEmpty)
            #expect(sandbox.calls().first?.fault == "status \(code)")
            #expect(sandbox.calls().first?.effect == SandboxCall.Effect.none)
            let next = try await client.create()
            #expect(next.status == .created)
            #expect(sandbox.faults().isEmpty)
        }
    }

    @Test("a 429 fault says when to come back")
    func tooManyRequests() async throws {
        try await withSandbox { client, sandbox in
            sandbox.inject(.status(429, resetAfterSeconds: 7))
            let response = try await client.create()
            #expect(response.status == .tooManyRequests)
            #expect(response.header("X-RateLimit-Remaining") == "0")
            #expect(response.header("X-RateLimit-Reset") == String(Int(testNow.timeIntervalSince1970) + 7))
            #expect(response.header("Retry-After") == "7")
        }
    }

    @Test("a 504 after creating: the schedule exists although the client saw a failure")
    func createdThen504() async throws {
        try await withSandbox { client, sandbox in
            sandbox.inject(.status(504, createBeforeFault: true))
            let response = try await client.create()
            #expect(response.status == .gatewayTimeout)
            let schedule = try #require(sandbox.schedules().first)
            let call = try #require(sandbox.calls().first)
            #expect(call.status == 504)
            #expect(call.effect == .created)
            #expect(call.scheduleID == schedule.scheduleID)
        }
    }

    @Test("a fault applies to its endpoint only, for its count")
    func endpointAndCount() async throws {
        try await withSandbox { client, sandbox in
            sandbox.inject(.status(503, endpoint: .delete, count: 2))
            #expect(try await client.create().status == .created)
            let scheduleID = try #require(sandbox.schedules().first?.scheduleID)
            let body: JSONValue = ["campaign_id": "camp-1", "schedule_id": .string(scheduleID)]
            #expect(try await client.post(SandboxEndpoint.delete.path, body).status == .serviceUnavailable)
            #expect(try await client.post(SandboxEndpoint.delete.path, body).status == .serviceUnavailable)
            #expect(try await client.post(SandboxEndpoint.delete.path, body).status == .created)
        }
    }

    @Test("a latency fault delays a normal answer")
    func latency() async throws {
        try await withSandbox { client, sandbox in
            sandbox.inject(.latency(milliseconds: 200))
            let start = ContinuousClock.now
            let response = try await client.create()
            #expect(ContinuousClock.now - start >= .milliseconds(200))
            #expect(response.status == .created)
            #expect(sandbox.calls().first?.fault == "latency 200ms")
            #expect(sandbox.schedules().count == 1)
        }
    }

    /// The first recorded call, waiting for it with a deadline (the sandbox records a held request
    /// as it takes it; on a loaded machine that can come a moment after the client sent it).
    static func firstCall(_ sandbox: BrazeSandbox) async -> SandboxCall? {
        let deadline = ContinuousClock.now + .seconds(10)
        while sandbox.calls().isEmpty, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        return sandbox.calls().first
    }

    @Test("a hung request times the client out; with createBeforeFault the schedule exists")
    func hang() async throws {
        try await withSandbox { client, sandbox in
            sandbox.inject(.hang(createBeforeFault: true))
            let port = try #require(client.port)
            // 2 s: on a loaded machine the request must reach the sandbox before the client gives up.
            let outcome = await sendAlone(port: port, timeout: .seconds(2))
            guard case .timedOut = outcome else {
                Issue.record("expected the client to time out, got \(outcome)")
                return
            }
            let call = try #require(await Self.firstCall(sandbox))
            #expect(call.outcome == .hung)
            #expect(call.status == nil)
            #expect(call.effect == .created)
            #expect(sandbox.schedules().first?.scheduleID == call.scheduleID)
            sandbox.clearFaults()  // releases the held request
            #expect(try await client.create().status == .created)
        }
    }

    @Test("a request still held when the server shuts down does not hold the shutdown")
    func hangAtShutdown() async throws {
        try await withSandbox { client, sandbox in
            sandbox.inject(.hang())
            let port = try #require(client.port)
            let outcome = await sendAlone(port: port, timeout: .seconds(2))
            guard case .timedOut = outcome else {
                Issue.record("expected the client to time out, got \(outcome)")
                return
            }
            #expect(await Self.firstCall(sandbox)?.outcome == .hung)
            #expect(sandbox.schedules().isEmpty)
        }
    }

    @Test("a dropped connection gives the client no answer; the call is recorded", arguments: [false, true])
    func drop(createBeforeFault: Bool) async throws {
        try await withSandbox { client, sandbox in
            sandbox.inject(.drop(createBeforeFault: createBeforeFault))
            let port = try #require(client.port)
            let outcome = await sendAlone(port: port, timeout: .seconds(10))
            #expect(outcome.wasClosedByServer, "\(outcome)")
            let call = try #require(sandbox.calls().first)
            #expect(call.outcome == .dropped)
            #expect(call.status == nil)
            #expect(call.effect == (createBeforeFault ? .created : SandboxCall.Effect.none))
            #expect(sandbox.schedules().count == (createBeforeFault ? 1 : 0))
            #expect(try await client.create().status == .created)
        }
    }

    @Test("faults are switched over HTTP: POST adds, GET lists, DELETE clears")
    func overHTTP() async throws {
        try await withSandbox { client, sandbox in
            let added = try await client.post(
                BrazeSandbox.faultsPath,
                text: #"[{"kind":"status","status":503,"count":2,"path":"/campaigns/trigger/schedule/create"},{"kind":"drop","count":"always","path":"/campaigns/trigger/send","createBeforeFault":true}]"#)
            #expect(added.status == .created)
            #expect(added.json?["faults"]?.arrayValue?.count == 2)
            #expect(sandbox.faults() == [.status(503, endpoint: .create, count: 2), .drop(endpoint: .send, count: nil, createBeforeFault: true)])
            #expect(try await client.create().status == .serviceUnavailable)
            let listed = try await client.execute(uri: BrazeSandbox.faultsPath, method: .get)
            #expect(listed.json?["faults"]?.arrayValue?.first?["count"] == 1)

            let bad = try await client.post(BrazeSandbox.faultsPath, text: #"{"kind":"status","status":200}"#)
            #expect(bad.status == .badRequest)
            #expect(bad.message == "faults[0]: a status fault needs \"status\": a number from 400 to 599")
            let typo = try await client.post(BrazeSandbox.faultsPath, text: #"{"kind":"hang","cuont":2}"#)
            #expect(typo.message?.hasPrefix("faults[0]: unknown key \"cuont\"") == true)

            let cleared = try await client.execute(uri: BrazeSandbox.faultsPath, method: .delete)
            #expect(cleared.text == #"{"faults":[]}"#)
            #expect(try await client.create().status == .created)
        }
    }

    @Test("fault descriptions read back as written")
    func faultJSON() throws {
        let latency = try SandboxFault.parse(["kind": "latency", "ms": 250, "count": 3]).get()
        #expect(latency == .latency(milliseconds: 250, count: 3))
        #expect(try SandboxFault.parse(latency.json).get() == latency)
        let status = try SandboxFault.parse(["status": 429, "reset_after_seconds": 5, "message": "slow down"]).get()
        #expect(status == .status(429, message: "slow down", resetAfterSeconds: 5))
        #expect(try SandboxFault.parse(status.json).get() == status)
        #expect(throws: SandboxFaultError.self) { try SandboxFault.parse(["kind": "explode"]).get() }
        #expect(throws: SandboxFaultError.self) { try SandboxFault.parse(["kind": "drop", "count": 0]).get() }
    }
}
