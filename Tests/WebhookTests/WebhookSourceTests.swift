import FlintPluginAPI
import Foundation
import Hummingbird
import Logging
import Synchronization
import Testing
import Webhook

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The webhook as an `EventSource`: started like any source, on a real socket, with the host's routes.
@Suite("Webhook as an event source")
struct WebhookSourceTests {
    final class Address: Sendable {
        let value = Mutex<String?>(nil)
    }

    @Test("it listens, commits into the sink it is run with, serves the host's routes, and stops when cancelled")
    func runsAsSource() async throws {
        let sink = RecordingSink()
        let address = Address()
        let source = WebhookSource(
            configuration: WebhookConfiguration(), host: "127.0.0.1", port: 0,
            extraRoutes: { router in router.get("/healthz") { _, _ in "ok" } },
            onListening: { bound in address.value.withLock { $0 = bound } })
        #expect(source.name == "webhook")
        #expect(source.handlesGracefulShutdown)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await source.run(sink: sink, context: PluginContext(name: source.name, logger: Logger(label: "test"))) }
            let deadline = ContinuousClock.now + .seconds(30)
            while address.value.withLock({ $0 }) == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            let base = try #require(address.value.withLock { $0 })

            var request = URLRequest(url: URL(string: "http://\(base)/v1/events")!)
            request.httpMethod = "POST"
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(trackJSON("s-1").utf8)
            let (_, response) = try await URLSession.shared.data(for: request)
            #expect((response as? HTTPURLResponse)?.statusCode == 202)
            #expect(await sink.committedIds == ["s-1"])

            let (body, health) = try await URLSession.shared.data(from: URL(string: "http://\(base)/healthz")!)
            #expect((health as? HTTPURLResponse)?.statusCode == 200)
            #expect(String(decoding: body, as: UTF8.self) == "ok")
            group.cancelAll()
        }
    }
}
