import ArgumentParser
import FileInbox
import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals
import Webhook

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run Flint: the HTTP listener, the watched folder, rule reloads, the engine.",
        discussion: "Stops on SIGTERM or SIGINT after finishing in-flight requests and commits; SIGHUP reloads the rules."
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "host:port to listen on (default: FLINT_LISTEN, else the configuration's, else 127.0.0.1:8080).") var listen: String?
    @Option(help: "The watched folder (default: FLINT_INBOX, else the configuration's, else ./inbox).") var inbox: String?

    func run() async throws {
        var config = try global.configuration()
        if let listen { config.listen = listen }
        if let inbox { config.inbox = inbox }
        let logger = Self.bootstrapLogging()
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(5),
        ]
        MetricsSystem.bootstrap(factory)

        // Rules first: a folder with errors stops the start, with every problem listed.
        let loaded: RuleLoadResult
        do {
            loaded = try RuleDirectory.load(config.rules)
        } catch {
            Terminal.err("error: \(error)")
            throw ExitCode(1)
        }
        for d in loaded.diagnostics { Terminal.err(d.description) }
        guard loaded.isValid else {
            Terminal.err("flint serve: the rules in \(config.rules) have errors; fix them (flint rules check \(config.rules)) and start again")
            throw ExitCode(1)
        }
        guard let (host, port) = Self.parseListen(config.listen) else {
            Terminal.err("error: listen '\(config.listen)' is not host:port (e.g. 127.0.0.1:8080)")
            throw ExitCode(2)
        }

        let store = try StoreAccess.openForWriting(config)
        let pruned = try await store.prune(config.retention, now: Date())
        let engine = Engine(store: store, ruleBook: RuleBook(), settings: config.engineSettings, logger: logger)
        try await engine.install(loaded.ruleSet)
        let rulesFolder = config.rules
        let reloader = RuleReloader(engine: engine, folder: rulesFolder, logger: logger) {
            try RuleDirectory.files(at: rulesFolder).filter { !RuleDirectory.isTestFile($0) }.map(RuleDirectory.read)
        }
        await reloader.reload(force: true)

        let webhookConfig = WebhookConfiguration(
            tokens: config.webhook.tokens, hmacSecret: config.webhook.hmacSecret, maxBodyBytes: config.webhook.maxBodyBytes)
        var bindHost = host
        var bindNote = "credentials required"
        if !webhookConfig.requiresAuth {
            if !Self.isLoopback(host) {
                logger.warning("no webhook credentials are configured: binding to 127.0.0.1 instead of \(host)", metadata: ["listen": "\(config.listen)"])
                bindHost = "127.0.0.1"
            }
            bindNote = "no credentials configured, so loopback only; set FLINT_WEBHOOK_TOKEN to listen elsewhere"
        }

        let health = HealthRoutes(store: store, reloader: reloader, registry: registry)
        let router = Router()
        WebhookRoutes(sink: engine, configuration: webhookConfig, source: "webhook", logger: logger).addRoutes(to: router)
        health.addRoutes(to: router)

        let boundHost = bindHost
        let banner = Banner(
            database: config.database, rules: rulesFolder, ruleCount: loaded.ruleSet.rules.count, inbox: config.inbox, bindNote: bindNote,
            pruned: pruned)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(boundHost, port: port), serverName: "flint"),
            onServerRunning: { channel in
                let address = channel.localAddress.flatMap { a in a.port.map { "\(a.ipAddress ?? boundHost):\($0)" } } ?? "\(boundHost):\(port)"
                banner.print(address: address)
            },
            logger: logger)

        let inboxSource = FileInboxSource(configuration: FileInboxConfiguration(folder: config.inbox))
        var inboxLogger = logger
        inboxLogger[metadataKey: "plugin.name"] = "inbox"
        let inboxService = SourceService(source: inboxSource, sink: engine, context: PluginContext(name: "inbox", logger: inboxLogger))

        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: reloader),
                    .init(service: ReloadOnHangup(reloader: reloader)),
                    .init(service: inboxService),
                    .init(service: app),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        logger.info("flint serve stopped")
    }

    static func bootstrapLogging() -> Logger {
        let level = ProcessInfo.processInfo.environment["FLINT_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "flint")
    }

    static func parseListen(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// What `flint serve` says when it is up: where it listens, where the database is, which rules.
struct Banner: Sendable {
    var database: String
    var rules: String
    var ruleCount: Int
    var inbox: String
    var bindNote: String
    var pruned: PruneResult

    func print(address: String) {
        var lines = [
            "flint serve: listening on http://\(address) (\(bindNote))",
            "  database  \(database)",
            "  rules     \(ruleCount) from \(rules)/ (reloaded on change and on SIGHUP)",
            "  inbox     \(inbox)/ (processed files go to \(inbox)/processed, bad lines to \(inbox)/failed)",
            "  endpoints POST /v1/events /v1/track /v1/identify /v1/batch; GET /healthz /readyz /metrics",
        ]
        if pruned.events + pruned.runs + pruned.rejected > 0 {
            lines.append("  retention pruned \(pruned.events) events, \(pruned.runs) runs, \(pruned.rejected) rejected")
        }
        Terminal.out(lines.joined(separator: "\n"), flush: true)
    }
}

/// SIGHUP reloads the rules at once.
struct ReloadOnHangup: Service {
    let reloader: RuleReloader

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            reloader.reloadSoon()
        }
    }
}

/// `/healthz`, `/readyz` and `/metrics`.
struct HealthRoutes: Sendable {
    let store: SQLiteStateStore
    let reloader: RuleReloader
    let registry: PrometheusCollectorRegistry

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
        router.get("/readyz") { _, _ in
            let rules = reloader.current
            var checks: [String: JSONValue] = [:]
            var ready = true
            do {
                _ = try await store.ledger.event(id: "0")
                checks["store"] = "ok"
            } catch {
                ready = false
                checks["store"] = .string("unavailable: \(error)")
            }
            checks["rules"] = rules.loadedAt == nil ? "not loaded" : .string("\(rules.rulesLoaded) loaded")
            if rules.loadedAt == nil { ready = false }
            if !rules.errors.isEmpty {
                // The last good set keeps running: still ready, but the refused change is reported.
                checks["rules_reload"] = .object([
                    "status": "refused: the folder has errors; the last good set is running",
                    "errors": .array(rules.errors.prefix(20).map { .string($0) }),
                ])
            }
            let body: JSONValue = ["ready": .bool(ready), "checks": .object(checks)]
            return Response(
                status: ready ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: body.compactJSON)))
        }
        router.get("/metrics") { _, _ in
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
    }
}
