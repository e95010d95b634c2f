import FlintPluginAPI
import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A real `flint sandbox` in its own process, so it outlives the `flint serve` a test kills.
final class SandboxProcess: @unchecked Sendable {
    let process = Process()
    let output = Pipe()
    private(set) var port = 0
    var base: String { "http://127.0.0.1:\(port)" }

    init(arguments: [String] = []) throws {
        let probe = try ServeHarness.freePort()
        process.executableURL = CLIHarness.binary
        process.arguments = ["sandbox", "--listen", "127.0.0.1:\(probe)"] + arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        var text = ""
        while Date() < deadline, !text.contains("Braze emulator on") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard text.contains("Braze emulator on") else { throw ServeHarness.HarnessError(message: "flint sandbox did not start: \(text)") }
        port = probe
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func get(_ path: String) async throws -> JSONValue {
        let (data, _) = try await URLSession.shared.data(from: URL(string: base + path)!)
        return try JSONParser.parse([UInt8](data))
    }

    func post(_ path: String, _ body: String) async throws {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(body.utf8)
        _ = try await URLSession.shared.data(for: request)
    }

    /// Create calls that created a schedule, per external_user_id (or alias name).
    func createdPerRecipient() async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for call in try await get("/_sandbox/calls?path=/campaigns/trigger/schedule/create").arrayValue ?? [] where call["created"] == true {
            for r in call["body"]?["recipients"]?.arrayValue ?? [] {
                let id = r["external_user_id"]?.stringValue ?? r["user_alias"]?["alias_name"]?.stringValue ?? "?"
                counts[id, default: 0] += 1
            }
        }
        return counts
    }
}

extension ServeHarness {
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

@Suite("Dispatch to Braze end to end: flint serve, the sandbox, AsyncHTTPClient", .serialized)
struct DispatchE2ETests {
    static let rules: [String: String] = [
        "local.yaml": """
            id: local
            when: { event: Trial Ending Soon }
            send: { campaign_id: camp-local, send_id: trial, trigger_properties: { plan: "{{ properties.plan | upcase }}", seats: "{{ properties.seats }}" } }
            schedule: { at: "10:00", in_local_time: true }
            """,
        "optimal.yaml": """
            id: optimal
            when: { event: Digest Ready }
            send: { campaign_id: camp-digest, trigger_properties: { items: "{{ properties.items }}", vip: "{{ properties.vip }}" } }
            schedule: { after: 3d, at_optimal_time: true }
            """,
        "alias.yaml": """
            id: alias
            when: { event: App Installed }
            send: { campaign_id: camp-alias, recipient: { user_alias: { alias_name: "{{ anonymousId }}", alias_label: anon } } }
            schedule: { after: 10m }
            """,
        "single.yaml": """
            id: single
            when: { event: Order Shipped }
            send: { campaign_id: camp-ship, trigger_properties: { order: "{{ properties.order }}" } }
            schedule: { after: 1h }
            cancel_on: [{ event: Order Delivered }]
            """,
    ]

    func serve(_ sandbox: SandboxProcess, config: String = "braze:\n  timeout: 500ms\n  coalesce_window: 50ms\n", database: String? = nil, dir: URL? = nil) async throws -> ServeHarness {
        let configFile = FileManager.default.temporaryDirectory.appendingPathComponent("flint-\(UUID().uuidString).yaml")
        try config.write(to: configFile, atomically: true, encoding: .utf8)
        return try await ServeHarness(
            rules: Self.rules,
            environment: ["BRAZE_REST_ENDPOINT": sandbox.base, "BRAZE_API_KEY": "sandbox-key", "FLINT_CONFIG": configFile.path],
            reuse: dir)
    }

    func runs(_ serve: ServeHarness, _ extra: [String] = []) async throws -> [JSONValue] {
        let r = try await CLIHarness.run(["runs", "--json", "--limit", "100000"] + serve.ledgerArgs + extra, cwd: serve.dir)
        return (try? JSONParser.parse(r.stdout).arrayValue ?? []) ?? []
    }

    func settled(_ serve: ServeHarness, count: Int, seconds: Double = 30) async throws -> [JSONValue] {
        var last: [JSONValue] = []
        _ = try await ServeHarness.eventually(seconds) {
            last = try await runs(serve)
            return last.count >= count && last.allSatisfy { $0["status"] != "pending" }
        }
        return last
    }

    @Test("events over HTTP produce exactly the expected Braze bodies: local and optimal schedules, user_alias, typed properties")
    func exactBodies() async throws {
        let sandbox = try SandboxProcess()
        let serve = try await serve(sandbox)
        defer { serve.remove() }
        let now = Date()
        let ts = Timestamp.formatUTC(now)
        for body in [
            #"{"event":"Trial Ending Soon","userId":"u-1","timestamp":"\#(ts)","properties":{"plan":"pro","seats":5},"context":{"timezone":"Asia/Tokyo"}}"#,
            #"{"event":"Digest Ready","userId":"u-2","timestamp":"\#(ts)","properties":{"items":["a","b"],"vip":true},"context":{"timezone":"Europe/Paris"}}"#,
            #"{"event":"App Installed","anonymousId":"anon-7","timestamp":"\#(ts)"}"#,
        ] {
            #expect(try await serve.request("POST", "/v1/events", body: body).status == 202)
        }
        let settledRuns = try await settled(serve, count: 3)
        #expect(settledRuns.allSatisfy { $0["status"] == "scheduled" }, "\(settledRuns.map { $0["reason"] ?? .null })")
        let calls = try await sandbox.get("/_sandbox/calls?path=/campaigns/trigger/schedule/create").arrayValue ?? []
        #expect(calls.count == 3)
        func body(_ campaign: String) -> JSONValue? { calls.first { $0["body"]?["campaign_id"] == .string(campaign) }?["body"] }
        func run(_ rule: String) -> JSONValue? { settledRuns.first { $0["rule_id"] == .string(rule) } }
        // Each body is exactly what the planner and the templates decided, as the ledger recorded it.
        for rule in ["local", "optimal", "alias"] {
            let r = try #require(run(rule))
            #expect(body(r["request"]?["campaign_id"]?.stringValue ?? "") == r["request"], "\(rule)")
        }
        let local = try #require(body("camp-local"))
        #expect(local == [
            "campaign_id": "camp-local", "send_id": "trial", "broadcast": false,
            "recipients": [["external_user_id": "u-1", "trigger_properties": ["plan": "PRO", "seats": 5]]],
            "schedule": try #require(run("local")?["schedule"]),
        ])
        #expect(local["schedule"]?["in_local_time"] == true)
        #expect(local["schedule"]?["time"]?.stringValue?.hasSuffix("T10:00:00") == true)
        let optimal = try #require(body("camp-digest"))
        #expect(optimal["recipients"] == [["external_user_id": "u-2", "trigger_properties": ["items": ["a", "b"], "vip": true]]])
        #expect(optimal["schedule"]?["at_optimal_time"] == true)
        #expect(optimal["schedule"]?["time"]?.stringValue?.hasSuffix("T00:00:00") == true)
        let alias = try #require(body("camp-alias"))
        #expect(alias["recipients"] == [["user_alias": ["alias_name": "anon-7", "alias_label": "anon"]]])
        #expect(alias["schedule"]?["time"] == .string(Timestamp.formatUTC(Timestamp.parse(ts)!.addingTimeInterval(600))))
        await #expect(serve.stop() == 0)
    }

    @Test("faults: 5xx bursts, 429 with a reset, a hang past the timeout, a dropped connection, 400, a 401 period: each send scheduled exactly once, or unknown")
    func faults() async throws {
        let sandbox = try SandboxProcess()
        let serve = try await serve(sandbox)
        defer { serve.remove() }
        try await sandbox.post("/_sandbox/faults", """
            [{"kind":"status","status":500,"count":2,"path":"/campaigns/trigger/schedule/create"},
             {"kind":"status","status":502,"count":1,"path":"/campaigns/trigger/schedule/create"},
             {"kind":"status","status":503,"count":1,"path":"/campaigns/trigger/schedule/create"},
             {"kind":"status","status":429,"count":1,"reset_after_seconds":1,"path":"/campaigns/trigger/schedule/create"},
             {"kind":"hang","count":1,"create_before_fault":true,"path":"/campaigns/trigger/schedule/create"},
             {"kind":"drop","count":1,"create_before_fault":false,"path":"/campaigns/trigger/schedule/create"},
             {"kind":"status","status":400,"count":1,"message":"injected bad request","path":"/campaigns/trigger/schedule/create"},
             {"kind":"status","status":401,"count":2,"path":"/campaigns/trigger/schedule/create"}]
            """)
        let users = 20
        for i in 0..<users {
            _ = try await serve.request("POST", "/v1/events", body: #"{"event":"Order Shipped","userId":"s-\#(i)","properties":{"order":"o-\#(i)"}}"#)
        }
        // The 401 pauses dispatching; a configuration reload (SIGHUP) tries the held send at once.
        var final: [JSONValue] = []
        let done = try await ServeHarness.eventually(60) {
            if try await serve.request("GET", "/readyz").status == 503 { kill(serve.process.processIdentifier, SIGHUP) }
            final = try await runs(serve)
            return final.count == users && final.allSatisfy { ["scheduled", "unknown", "failed"].contains($0["status"]?.stringValue ?? "") }
        }
        #expect(done, "runs still pending: \(final.filter { $0["status"] == "pending" }.map { $0["reason"] ?? .null })")
        let created = try await sandbox.createdPerRecipient()
        let calls = try await sandbox.get("/_sandbox/calls?path=/campaigns/trigger/schedule/create").arrayValue ?? []
        for run in final {
            let user = run["user"]?.stringValue ?? ""
            switch run["status"]?.stringValue {
            case "scheduled": #expect(created[user] == 1, "\(user) scheduled \(created[user] ?? 0) times")
            case "unknown": #expect((created[user] ?? 0) <= 1, "\(user) unknown but created \(created[user] ?? 0) times")
            case "failed":
                #expect(run["reason"]?.stringValue?.contains("injected bad request") == true)
                let tries = calls.filter { $0["body"]?["recipients"]?.arrayValue?.first?["external_user_id"] == .string(user) }
                #expect(tries.last?["status"] == 400, "a 400 is never retried: \(tries.count) calls for \(user), the last answered \(tries.last?["status"] ?? .null)")
                #expect(tries.filter { $0["status"] == 400 }.count == 1)
            default: Issue.record("unexpected \(run["status"] ?? .null)")
            }
        }
        #expect(final.filter { $0["status"] == "unknown" }.count == 2, "the hang and the drop")
        #expect(final.filter { $0["status"] == "failed" }.count == 1)
        let outbox = try await CLIHarness.run(["outbox", "--unknown", "--json"] + serve.ledgerArgs, cwd: serve.dir)
        #expect((try JSONParser.parse(outbox.stdout).arrayValue ?? []).count == 2)
        await #expect(serve.stop() == 0)
    }

    @Test("SIGKILL during dispatch, then a restart: no send scheduled twice, none lost", arguments: [11, 12, 13] as [UInt64])
    func killDuringDispatch(seed: UInt64) async throws {
        var rng = CrashSafetyTests.SplitMix(state: seed)
        let sandbox = try SandboxProcess()
        try await sandbox.post("/_sandbox/faults", #"{"kind":"latency","ms":15,"count":"always"}"#)
        let first = try await serve(sandbox)
        defer { first.remove() }
        let users = 150
        let lines = (0..<users).map { #"{"event":"Order Shipped","messageId":"k-\#($0)","userId":"k-\#($0)","properties":{"order":"o-\#($0)"}}"# }
        let ingest = try await CLIHarness.run(["ingest", "-"] + first.ledgerArgs, stdin: lines.joined(separator: "\n"), cwd: first.dir)
        #expect(ingest.status == 0, "\(ingest.stderr)")
        // Kill once some, not all, sends went out.
        let killAt = Int.random(in: 5...100, using: &rng)
        _ = try await ServeHarness.eventually(30) { (try await sandbox.createdPerRecipient().count) >= killAt }
        kill(first.process.processIdentifier, SIGKILL)
        await first.process.exited()
        // Restart on the same database.
        let second = try await serve(sandbox, dir: first.dir)
        var final: [JSONValue] = []
        let done = try await ServeHarness.eventually(60) {
            final = try await runs(second)
            return final.count == users && final.allSatisfy { $0["status"] == "scheduled" || $0["status"] == "unknown" }
        }
        #expect(done, "seed \(seed): \(final.filter { $0["status"] == "pending" }.count) still pending")
        let created = try await sandbox.createdPerRecipient()
        #expect(created.values.allSatisfy { $0 == 1 }, "seed \(seed): a schedule created twice: \(created.filter { $0.value > 1 })")
        for run in final where run["status"] == "scheduled" {
            #expect(created[run["user"]?.stringValue ?? ""] == 1, "seed \(seed): scheduled but not in Braze")
        }
        await #expect(second.stop() == 0)
    }

    @Test("10,000 users planned for the same local 10:00 go out in at most 200 requests; a cancel_on rule never shares one")
    func coalescing() async throws {
        let sandbox = try SandboxProcess()
        let serve = try await serve(sandbox, config: "braze:\n  coalesce_window: 250ms\n")
        defer { serve.remove() }
        let now = Timestamp.formatUTC(Date())
        var lines = (0..<10_000).map { #"{"event":"Trial Ending Soon","messageId":"c-\#($0)","userId":"c-\#($0)","timestamp":"\#(now)","properties":{"plan":"team","seats":3},"context":{"timezone":"Europe/Paris"}}"# }
        lines += (0..<20).map { #"{"event":"Order Shipped","messageId":"x-\#($0)","userId":"x-\#($0)","properties":{"order":"same"}}"# }
        let ingest = try await CLIHarness.run(["ingest", "-", "--batch", "2000"] + serve.ledgerArgs, stdin: lines.joined(separator: "\n"), cwd: serve.dir)
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let done = try await ServeHarness.eventually(120) {
            let status = try JSONParser.parse(try await CLIHarness.run(["status", "--json"] + serve.ledgerArgs, cwd: serve.dir).stdout)
            return status["runs"]?["scheduled"] == 10020
        }
        #expect(done)
        let calls = try await sandbox.get("/_sandbox/calls?path=/campaigns/trigger/schedule/create").arrayValue ?? []
        let local = calls.filter { $0["body"]?["campaign_id"] == "camp-local" }
        let ship = calls.filter { $0["body"]?["campaign_id"] == "camp-ship" }
        #expect(local.count <= 200, "\(local.count) requests for 10,000 users")
        #expect(local.allSatisfy { ($0["body"]?["recipients"]?.arrayValue?.count ?? 0) <= 50 })
        #expect(ship.count == 20)
        #expect(ship.allSatisfy { $0["body"]?["recipients"]?.arrayValue?.count == 1 })
        await #expect(serve.stop() == 0)
    }

    @Test("with the sandbox's budget set low, the dispatcher never receives a 429 in steady state")
    func budget() async throws {
        let sandbox = try SandboxProcess(arguments: ["--requests-per-window", "5", "--window", "2s"])
        let serve = try await serve(sandbox)
        defer { serve.remove() }
        for i in 0..<14 {
            _ = try await serve.request("POST", "/v1/events", body: #"{"event":"Order Shipped","userId":"b-\#(i)","properties":{"order":"o"}}"#)
        }
        let final = try await settled(serve, count: 14, seconds: 30)
        #expect(final.allSatisfy { $0["status"] == "scheduled" })
        let calls = try await sandbox.get("/_sandbox/calls").arrayValue ?? []
        #expect(calls.filter { $0["status"] == 429 }.isEmpty, "429s: \(calls.filter { $0["status"] == 429 }.count)")
        await #expect(serve.stop() == 0)
    }
}

extension Date {
    func rounded() -> Date { Date(timeIntervalSince1970: timeIntervalSince1970.rounded(.up)) }
}
