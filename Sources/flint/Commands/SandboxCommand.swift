import ArgumentParser
import BrazeSandbox
import FlintRules
import Foundation
import ServiceLifecycle

struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run the local Braze emulator (schedule create/update/delete, send), strict per Braze's rules, with fault injection.",
        discussion: """
            Key: Authorization: Bearer \(BrazeSandboxConfiguration.defaultKey). Inspect: GET /_sandbox/calls, GET /_sandbox/schedules. \
            Inject faults: POST /_sandbox/faults. Point flint serve at it with BRAZE_REST_ENDPOINT=http://HOST:PORT \
            BRAZE_API_KEY=\(BrazeSandboxConfiguration.defaultKey).

            Examples:
              flint sandbox
              flint sandbox --listen 127.0.0.1:4011 --company-zone America/New_York
              flint sandbox --requests-per-window 10 --window 2s
            """
    )

    @Option(help: "host:port") var listen = "127.0.0.1:4010"
    @Option(help: "Braze's company time zone (local-time schedules already passed there are refused).") var companyZone = "UTC"
    @Option(help: "Requests allowed per rate-limit window (Braze: 250,000 an hour).") var requestsPerWindow = 250_000
    @Option(help: "The rate-limit window (e.g. 1h, 2s).") var window = "1h"

    func run() async throws {
        guard let (host, port) = ServeCommand.parseListen(listen) else { throw ValidationError("--listen must be host:port") }
        if let problem = ServeCommand.cannotListen(host: host, port: port) {
            Terminal.err("error: cannot listen on \(ServeCommand.address(host, port)): \(problem); choose another with flint sandbox --listen HOST:PORT")
            throw ExitCode(1)
        }
        guard let zone = ZoneName.resolve(companyZone) else { throw ValidationError("--company-zone: " + ZoneName.problem(companyZone)) }
        let logger = ServeCommand.bootstrapLogging()
        guard let windowMs = DurationText.milliseconds(window), windowMs > 0 else { throw ValidationError("--window '\(window)' is not a duration") }
        let sandbox = BrazeSandbox(
            configuration: BrazeSandboxConfiguration(companyTimeZone: zone, requestsPerWindow: requestsPerWindow, window: .milliseconds(windowMs)),
            logger: logger)
        let app = sandbox.makeApplication(host: host, port: port, logger: logger) { bound in
            Terminal.out("flint sandbox: Braze emulator on http://\(host):\(bound) (key \(BrazeSandboxConfiguration.defaultKey)); calls: GET /_sandbox/calls", flush: true)
        }
        let group = ServiceGroup(configuration: .init(services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
