import BrazeSandbox
import FlintPluginAPI
import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

@Suite("The sandbox on a router it shares with other routes")
struct BrazeSandboxSharedRouterTests {
    /// Runs `test` with the sandbox's routes beside a `/healthz` on a plain `BasicRequestContext` router.
    func withSharedRouter(_ test: @Sendable (any TestClientProtocol, BrazeSandbox) async throws -> Void) async throws {
        let sandbox = BrazeSandbox(configuration: BrazeSandboxConfiguration(now: { testNow }), logger: quietLogger)
        let router = Router()
        router.get("/healthz") { _, _ in "ok" }
        sandbox.addRoutes(to: router)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: quietLogger)
        try await app.test(.live) { client in try await test(client, sandbox) }
    }

    @Test("the Braze endpoints and the other routes answer on one listener")
    func shared() async throws {
        try await withSharedRouter { client, sandbox in
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.text == "ok")
            let created = try await client.create()
            #expect(created.status == .created)
            #expect(sandbox.schedules().count == 1)
        }
    }

    @Test("a dropped connection still gives the client no usable answer without the channel")
    func dropWithoutChannel() async throws {
        try await withSharedRouter { client, sandbox in
            sandbox.inject(.drop())
            let port = try #require(client.port)
            let outcome = await sendAlone(port: port, timeout: .seconds(10))
            if case .answered(let response) = outcome {
                Issue.record("expected no answer, got \(response.head.status)")
            }
            #expect(sandbox.calls().first?.outcome == .dropped)
            #expect(try await client.create().status == .created)
        }
    }

    @Test("makeApplication tells the bound port once listening")
    func reportsPort() async throws {
        final class Reported: Sendable { let port = Mutex<Int?>(nil) }
        let reported = Reported()
        let sandbox = BrazeSandbox(logger: quietLogger)
        let app = sandbox.makeApplication(port: 0, logger: quietLogger) { port in reported.port.withLock { $0 = port } }
        try await app.test(.live) { client in
            #expect(reported.port.withLock { $0 } == client.port)
        }
    }
}
