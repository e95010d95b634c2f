import ArgumentParser
import FlintPluginAPI
import Hummingbird
import Logging

/// `flint bench http-baseline`: a bare Hummingbird endpoint that decodes the body and answers 202,
/// the ceiling `scripts/bench-http.sh` compares `flint serve` with.
struct BenchHTTPBaseline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http-baseline", abstract: "A bare HTTP endpoint that decodes JSON and answers 202 (the comparison point for flint serve).",
        discussion: """
            Examples:
              flint bench http-baseline
              flint bench http-baseline --listen 127.0.0.1:9000
            """)

    @Option(help: "host:port") var listen = "127.0.0.1:18091"

    func run() async throws {
        guard let (host, port) = ServeCommand.parseListen(listen) else { throw ValidationError("--listen must be host:port") }
        let router = Router()
        // Flint's endpoints, so a workload meant for flint serve gets 202s here too (not 404s).
        for path in ["/v1/events", "/v1/track", "/v1/identify", "/v1/batch"] {
            router.post(RouterPath(path)) { request, _ -> Response in
                let body = try await request.body.collect(upTo: 4 << 20)
                let ok = (try? JSONParser.parse(body.readableBytesView)) != nil
                return Response(status: ok ? .accepted : .badRequest, body: .init(byteBuffer: ByteBuffer(string: #"{"accepted":1,"duplicates":0,"rejected":[]}"#)))
            }
        }
        var logger = Logger(label: "flint.bench")
        logger.logLevel = .warning
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port)), logger: logger)
        try await app.runService()
    }
}
