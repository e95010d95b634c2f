import BrazeSandbox
import FlintPluginAPI
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite("The sandbox over real sockets: keys, create, update, delete, send, recording")
struct BrazeSandboxHTTPTests {
    @Test("a missing, malformed or unknown key is 401 and a forbidden key is 403, in Braze's error shape")
    func authentication() async throws {
        let configuration = BrazeSandboxConfiguration(keys: ["sandbox-key", "limited-key"], forbiddenKeys: ["limited-key"], now: { testNow })
        try await withSandbox(configuration) { client, sandbox in
            let missing = try await client.create(headers: [:])
            #expect(missing.status == .unauthorized)
            #expect(missing.message?.contains("Authorization: Bearer") == true)
            let basic = try await client.create(headers: [.authorization: "Basic c2FuZGJveC1rZXk6"])
            #expect(basic.status == .unauthorized)
            let wrong = try await client.create(headers: [.authorization: "Bearer guessed-key-123"])
            #expect(wrong.status == .unauthorized)
            #expect(wrong.text == #"{"message":"Invalid API key"}"#)
            #expect(wrong.header("X-RateLimit-Limit") == "250000")
            let forbidden = try await client.create(headers: [.authorization: "Bearer limited-key"])
            #expect(forbidden.status == .forbidden)
            #expect(forbidden.json?["message"]?.stringValue != nil)
            #expect(sandbox.schedules().isEmpty)

            let calls = sandbox.calls()
            #expect(calls.map(\.status) == [401, 401, 401, 403])
            #expect(calls.map { $0.headers["authorization"] } == [nil, "Basic [REDACTED]", "Bearer [REDACTED]", "Bearer [REDACTED]"])
            let listing = try await client.execute(uri: BrazeSandbox.callsPath, method: .get)
            #expect(!listing.text.contains("guessed-key-123"))
            #expect(!listing.text.contains("limited-key"))
            #expect(!listing.text.contains("c2FuZGJveC1rZXk6"))
        }
    }

    @Test("create answers 201 with fresh ids and is recorded with the key redacted")
    func create() async throws {
        try await withSandbox { client, sandbox in
            let response = try await client.create()
            #expect(response.status == .created)
            let body = try #require(response.json)
            let scheduleID = try #require(body["schedule_id"]?.stringValue)
            let dispatchID = try #require(body["dispatch_id"]?.stringValue)
            #expect(body["message"] == "success")
            #expect(response.text == #"{"dispatch_id":"\#(dispatchID)","schedule_id":"\#(scheduleID)","message":"success"}"#)
            #expect(scheduleID.hasPrefix("sbx-sched-"))
            #expect(response.header("X-RateLimit-Limit") == "250000")
            #expect(response.header("X-RateLimit-Remaining") == "249999")
            // The hourly window ends on the hour after 12:00:00Z.
            #expect(response.header("X-RateLimit-Reset") == String(Int(testNow.timeIntervalSince1970) + 3600))

            let second = try await client.create()
            #expect(second.json?["schedule_id"]?.stringValue != scheduleID)
            #expect(second.json?["dispatch_id"]?.stringValue != dispatchID)

            let call = try #require(sandbox.calls().first)
            #expect(call.method == "POST")
            #expect(call.path == SandboxEndpoint.create.path)
            #expect(call.status == 201)
            #expect(call.effect == .created)
            #expect(call.scheduleID == scheduleID)
            #expect(call.dispatchID == dispatchID)
            #expect(call.headers["authorization"] == "Bearer [REDACTED]")
            #expect(call.headers["content-type"] == "application/json")
            #expect(call.body == createBody())
            #expect(call.at == testNow)

            let listing = try await client.execute(uri: BrazeSandbox.callsPath, method: .get)
            #expect(listing.status == .ok)
            #expect(!listing.text.contains("sandbox-key"))
            let recorded = try #require(listing.json?.arrayValue)
            #expect(recorded.count == 2)
            #expect(recorded.first?["schedule_id"]?.stringValue == scheduleID)
            #expect(recorded.first?["created"] == true)
            #expect(recorded.first?["headers"]?["authorization"] == "Bearer [REDACTED]")

            let schedules = try await client.execute(uri: BrazeSandbox.schedulesPath, method: .get)
            #expect(schedules.json?.arrayValue?.compactMap { $0["schedule_id"]?.stringValue }.first == scheduleID)
            #expect(sandbox.schedules().count == 2)
        }
    }

    @Test("an invalid create is 400 with message and errors, recorded, and creates nothing")
    func invalidCreate() async throws {
        try await withSandbox { client, sandbox in
            let twoIDs = createBody { $0["recipients"] = [["external_user_id": "u", "email": "a@example.com", "prioritization": ["identified"]]] }
            let response = try await client.create(twoIDs)
            #expect(response.status == .badRequest)
            #expect(response.message == "recipients[0] must carry exactly one of external_user_id, user_alias, email (found external_user_id, email)")
            #expect(response.json?["errors"]?.arrayValue?.count == 1)
            #expect(response.header("X-RateLimit-Remaining") == "249999")
            let broken = try await client.post(SandboxEndpoint.create.path, text: "{\"campaign_id\":")
            #expect(broken.status == .badRequest)
            #expect(broken.message?.hasPrefix("invalid JSON") == true)
            #expect(sandbox.schedules().isEmpty)
            #expect(sandbox.calls().map(\.status) == [400, 400])
            #expect(sandbox.calls().last?.bodyText == "{\"campaign_id\":")
            #expect(sandbox.calls().first?.errors.count == 1)
        }
    }

    @Test("update replaces the schedule object; an unknown schedule_id is 400")
    func update() async throws {
        try await withSandbox { client, sandbox in
            let created = try await client.create()
            let scheduleID = try #require(created.json?["schedule_id"]?.stringValue)
            let moved: JSONValue = ["time": "2026-12-02T09:00:00Z", "in_local_time": false, "at_optimal_time": false]
            let update = try await client.post(
                SandboxEndpoint.update.path, ["campaign_id": "camp-1", "schedule_id": .string(scheduleID), "schedule": moved])
            #expect(update.status == .created)
            #expect(update.text == #"{"message":"success"}"#)
            let schedule = try #require(sandbox.schedules().first)
            #expect(schedule.schedule == moved)
            #expect(schedule.updates == 1)
            #expect(sandbox.calls().last?.effect == .updated)

            let unknown = try await client.post(
                SandboxEndpoint.update.path, ["campaign_id": "camp-1", "schedule_id": "sbx-sched-404", "schedule": moved])
            #expect(unknown.status == .badRequest)
            #expect(unknown.message == "schedule_id not found")
            let otherCampaign = try await client.post(
                SandboxEndpoint.update.path, ["campaign_id": "camp-2", "schedule_id": .string(scheduleID), "schedule": moved])
            #expect(otherCampaign.message == "schedule_id not found")
            let past = try await client.post(
                SandboxEndpoint.update.path,
                ["campaign_id": "camp-1", "schedule_id": .string(scheduleID), "schedule": ["time": "2026-11-01T00:00:00Z"]])
            #expect(past.message == "schedule.time is in the past")
            #expect(sandbox.schedules().first?.schedule == moved)
        }
    }

    @Test("an update of a local-time schedule whose time has come in some zone is accepted and ignored")
    func ignoredUpdate() async throws {
        try await withSandbox { client, sandbox in
            // 01:00 on Nov 30 is still ahead in UTC (the company zone) but came at 11:00Z in UTC+14.
            let created = try await client.create(createBody { $0["schedule"] = ["time": "2026-11-30T01:00:00", "in_local_time": true] })
            let scheduleID = try #require(created.json?["schedule_id"]?.stringValue)
            let update = try await client.post(
                SandboxEndpoint.update.path,
                ["campaign_id": "camp-1", "schedule_id": .string(scheduleID), "schedule": ["time": "2026-12-01T10:00:00", "in_local_time": true]])
            #expect(update.status == .created)
            #expect(sandbox.calls().last?.effect == .ignored)
            #expect(sandbox.schedules().first?.schedule["time"] == "2026-11-30T01:00:00")
        }
    }

    @Test("delete removes the schedule; deleting it again is 400")
    func delete() async throws {
        try await withSandbox { client, sandbox in
            let created = try await client.create()
            let scheduleID = try #require(created.json?["schedule_id"]?.stringValue)
            let body: JSONValue = ["campaign_id": "camp-1", "schedule_id": .string(scheduleID)]
            let first = try await client.post(SandboxEndpoint.delete.path, body)
            #expect(first.status == .created)
            #expect(sandbox.schedules().isEmpty)
            #expect(sandbox.calls().last?.effect == .deleted)
            #expect(sandbox.calls().last?.scheduleID == scheduleID)
            let again = try await client.post(SandboxEndpoint.delete.path, body)
            #expect(again.status == .badRequest)
            #expect(again.message == "schedule_id not found")
        }
    }

    @Test("an immediate send answers a dispatch_id and makes no schedule")
    func send() async throws {
        try await withSandbox { client, sandbox in
            let response = try await client.post(SandboxEndpoint.send.path, createBody { $0["schedule"] = nil })
            #expect(response.status == .created)
            #expect(response.json?["dispatch_id"]?.stringValue?.hasPrefix("sbx-dispatch-") == true)
            #expect(response.json?["schedule_id"] == nil)
            #expect(sandbox.schedules().isEmpty)
            #expect(sandbox.calls().first?.effect == .sent)
            let broadcastWithRecipients = try await client.post(SandboxEndpoint.send.path, createBody { $0["broadcast"] = true })
            #expect(broadcastWithRecipients.status == .badRequest)
        }
    }

    @Test("the calls listing filters by path and can be cleared; reset forgets everything")
    func controlEndpoints() async throws {
        try await withSandbox { client, sandbox in
            _ = try await client.create()
            _ = try await client.post(SandboxEndpoint.send.path, createBody())
            let creates = try await client.execute(uri: BrazeSandbox.callsPath + "?path=/campaigns/trigger/schedule/create", method: .get)
            #expect(creates.json?.arrayValue?.count == 1)
            #expect(sandbox.calls(path: SandboxEndpoint.send.path).count == 1)
            let cleared = try await client.execute(uri: BrazeSandbox.callsPath, method: .delete)
            #expect(cleared.json?["cleared"] == 2)
            #expect(sandbox.calls().isEmpty)
            #expect(sandbox.schedules().count == 1)
            sandbox.reset()
            #expect(sandbox.schedules().isEmpty)
            let after = try await client.create()
            #expect(after.status == .created)
            #expect(after.header("X-RateLimit-Remaining") == "249999")
        }
    }
}
