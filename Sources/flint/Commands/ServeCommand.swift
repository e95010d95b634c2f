import ArgumentParser
import Braze
import BrazeSandbox
import FileInbox
import FlintConsole
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
import Synchronization
import UnixSignals
import Webhook

#if canImport(Glibc)
    import Glibc
#endif

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run Flint: the HTTP listener, the watched folder, the plugins of flint.yaml, rule reloads, the engine.",
        discussion: """
            Stops on SIGTERM or SIGINT after finishing in-flight requests and commits; SIGHUP reloads the rules. \
            While it runs, it tells flint status every few seconds that it is up, and whether dispatching is paused.

            Examples:
              flint serve
              flint serve --listen 0.0.0.0:8080 --rules rules/   # FLINT_WEBHOOK_TOKEN must be set off loopback
              BRAZE_API_KEY=... BRAZE_REST_ENDPOINT=https://rest.iad-01.braze.com flint serve
              flint status --check   # from cron: exit 1 when serve is down or something needs a person
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "host:port to listen on (default: FLINT_LISTEN, else the configuration's, else 127.0.0.1:8080).") var listen: String?
    @Option(help: "The watched folder (default: FLINT_INBOX, else the configuration's, else ./inbox).") var inbox: String?
    @Option(help: "host:port for the console (/ui/) and its JSON API (/api/v1/), or off (default: FLINT_CONSOLE_LISTEN, else console.listen in the configuration, else 127.0.0.1:8081).")
    var consoleListen: String?

    func run() async throws {
        #if canImport(Glibc)
            // glibc gives each thread that allocates concurrently an arena of its own, up to 8 per core,
            // and keeps their freed memory: two are enough for two cores and keep peak RSS lower under
            // load (BENCHMARKS.md). MALLOC_ARENA_MAX in the environment still wins.
            if ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil { Self.limitMallocArenas(2) }
        #endif
        var config = try global.configuration(plugins: .refuse)
        if let listen { config.listen = listen }
        if let inbox { config.inbox = inbox }
        if let consoleListen { config.consoleListen = consoleListen }
        let logger = Self.bootstrapLogging()
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(5),
        ]
        MetricsSystem.bootstrap(factory)

        // Rules first: a folder with errors stops the start, with every problem listed.
        let loaded = try RuleDirectory.loadValid(config.rules, refusing: "fix them and start flint serve again", given: .configured(command: "flint serve"))
        guard let (host, port) = Self.parseListen(config.listen) else {
            Terminal.err("error: listen '\(config.listen)' is not host:port (e.g. 127.0.0.1:8080); \(Self.listenHint)")
            throw ExitCode(2)
        }
        let startedAt = Date()

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
        // Before anything starts: an address in use is one clean message, not a failed start's noise.
        if let problem = Self.cannotListen(host: bindHost, port: port) {
            Terminal.err("error: cannot listen on \(Self.address(bindHost, port)): \(problem); \(Self.listenHint)")
            throw ExitCode(1)
        }
        let requestedConsole = try Self.consoleAddress(config)
        let consoleTokens = config.webhook.tokens.contains { !$0.isEmpty }

        let store = try StoreAccess.openForWriting(config)
        let pruned = try await store.prune(config.retention, now: Date())
        // The console reads the SQLite store's indexes; on PostgreSQL it is not served yet
        // (docs/architecture.md, Planned changes).
        let consoleStore = store as? SQLiteStateStore
        let consoleAddress = consoleStore == nil ? nil : requestedConsole

        // Braze: the configured instance, or the sandbox on loopback when no key is set.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        let brazeNote: String
        let brazeConfig: BrazeConfiguration
        if let key = config.braze.apiKey {
            let endpoint = config.braze.restEndpoint ?? "https://rest.iad-01.braze.com"
            brazeConfig = BrazeConfiguration(restEndpoint: endpoint, apiKey: key, timeout: .milliseconds(Int64(config.braze.timeout * 1000)))
            brazeNote = "\(endpoint) (BRAZE_API_KEY set)"
        } else {
            let port = try Self.freePort()
            let sandbox = BrazeSandbox(
                configuration: BrazeSandboxConfiguration(companyTimeZone: config.engineSettings.companyZone ?? config.engineSettings.defaultZone),
                logger: logger)
            services.append(
                .init(
                    service: ListeningService(
                        inner: sandbox.makeApplication(host: "127.0.0.1", port: port, logger: logger), address: "127.0.0.1:\(port)",
                        what: "the Braze sandbox", hint: "start flint serve again (its port is chosen free at start), or set BRAZE_API_KEY to use Braze")))
            brazeConfig = BrazeConfiguration(
                restEndpoint: "http://127.0.0.1:\(port)", apiKey: BrazeSandboxConfiguration.defaultKey, timeout: .milliseconds(Int64(config.braze.timeout * 1000)))
            brazeNote = "the Braze sandbox at http://127.0.0.1:\(port) (no BRAZE_API_KEY: nothing leaves this machine; its calls: GET /_sandbox/calls)"
        }
        let brazeClient = BrazeClient(configuration: brazeConfig, logger: logger)

        // The plugin registry, built here and nowhere else: built-ins first, then flint.yaml's exec plugins.
        let inboxSource = FileInboxSource(configuration: FileInboxConfiguration(folder: config.inbox))
        // The webhook is a source like the others; its listener also serves the health routes,
        // which are built below (they need the dispatcher) and added when it starts.
        let boundHost = bindHost
        let serveState = ServeState(listen: Self.address(bindHost, port))
        let hostRoutes = HostRoutes()
        let bannerBox = BannerBox()
        let webhookSource = WebhookSource(
            configuration: webhookConfig, host: boundHost, port: port, extraRoutes: { hostRoutes.add(to: $0) },
            onListening: { address in
                serveState.listen = address
                bannerBox.print(address: address)
            })
        var plugins = PluginRegistry()
        do {
            try plugins.add(source: webhookSource)
            try plugins.add(source: inboxSource)
            try plugins.add(action: BrazeAction(client: brazeClient, requestsPerHour: config.braze.requestsPerHour, audienceRequestsPerMinute: config.braze.audienceRequestsPerMinute))
            try plugins.add(exec: config.execPlugins, logger: logger)
        } catch {
            Terminal.err("error: \(error)")
            try? await brazeClient.shutdown()
            throw ExitCode(1)
        }
        for rule in loaded.ruleSet.rules where plugins.actions[rule.send.action] == nil {
            logger.warning(
                "a rule names an action no plugin provides; its runs will fail until flint.yaml declares it",
                metadata: ["rule.id": "\(rule.id)", "send.action": "\(rule.send.action)", "actions": "\(plugins.actionNames.joined(separator: ", "))"])
        }

        let ruleBook = RuleBook()
        let dispatcher = Dispatcher(
            store: store, actions: plugins.actions, ruleBook: ruleBook, engineSettings: config.engineSettings,
            settings: DispatchSettings(
                coalesceWindow: config.braze.coalesceWindow, maxAttempts: config.braze.maxAttempts),
            logger: logger)
        // The accept bounds (flint.yaml accept:, FLINT_MAX_UNDECIDED; docs/cli.md).
        let engine = Engine(
            store: store, ruleBook: ruleBook, settings: config.engineSettings, logger: logger, limits: config.accept, onCommit: { dispatcher.nudge() })
        try await engine.install(loaded.ruleSet)
        let rulesFolder = config.rules
        let reloader = RuleReloader(engine: engine, folder: rulesFolder, logger: logger) {
            try RuleDirectory.files(at: rulesFolder, given: .configured(command: "flint serve")).filter { !RuleDirectory.isTestFile($0) }.map(RuleDirectory.read)
        }
        await reloader.reload(force: true)


        let health = HealthRoutes(store: store, reloader: reloader, dispatcher: dispatcher, plugins: plugins.board, registry: registry)
        hostRoutes.set(health)
        bannerBox.set(
            Banner(
                database: config.databaseShown, rules: rulesFolder, ruleCount: loaded.ruleSet.rules.count, inbox: config.inbox, bindNote: bindNote,
                braze: brazeNote, plugins: config.execPlugins.map { "\($0.name) (\($0.kind.rawValue))" }, pruned: pruned,
                console: consoleAddress.map { "http://\(Self.address($0.host, $0.port))/ui/ (API under /api/v1/; " + (consoleTokens ? "a webhook token required)" : "no token configured, so loopback only)") }
                    ?? (consoleStore == nil
                        ? "off: not served on PostgreSQL yet; the CLI answers the same questions"
                        : "off (--console-listen HOST:PORT, FLINT_CONSOLE_LISTEN or console.listen in flint.yaml turns it on)")))
        if let consoleAddress, let consoleStore {
            let console = Console(
                store: consoleStore,
                settings: ConsoleSettings(
                    host: consoleAddress.host, port: consoleAddress.port, tokens: config.webhook.tokens,
                    companyZone: config.braze.companyTimeZone ?? config.defaultTimeZone),
                providers: Self.consoleProviders(config: config, store: consoleStore))
            let consoleLogger = logger
            services.append(
                .init(
                    service: ListeningService(
                        inner: console.makeApplication(
                            logger: logger,
                            onListening: { address in consoleLogger.info("console listening", metadata: ["url": "http://\(address)/ui/"]) }),
                        address: Self.address(consoleAddress.host, consoleAddress.port), what: "the console", hint: Self.consoleHint)))
        }

        let sourceServices = plugins.sources.map { source -> ServiceGroupConfiguration.ServiceConfiguration in
            var sourceLogger = logger
            sourceLogger[metadataKey: "plugin.name"] = "\(source.name)"
            let service = SourceService(source: source, sink: engine, context: PluginContext(name: source.name, logger: sourceLogger))
            // A listener that cannot bind says which address and how to choose another.
            if source is WebhookSource {
                return .init(service: ListeningService(inner: service, address: Self.address(bindHost, port), what: "flint serve", hint: Self.listenHint))
            }
            return .init(service: service)
        }

        // Dependency order; shutdown runs in reverse: the listener and the sources stop taking events
        // first, the dispatcher finishes what is in flight, then the action plugins stop, the plugin
        // statuses are saved as stopped, and the sandbox goes last.
        let pid = Int(ProcessInfo.processInfo.processIdentifier)
        let hostName = ProcessInfo.processInfo.hostName
        services.append(
            .init(
                service: PluginStatusRecorder(board: plugins.board, store: store, logger: logger) {
                    let rules = reloader.current
                    return ServeHeartbeat(
                        pid: pid, host: hostName, listen: serveState.listen, startedAt: startedAt, lastSeen: Date(), pause: dispatcher.status.pause,
                        rulesLoaded: rules.rulesLoaded, ruleErrors: rules.errors, ruleErrorsSince: rules.errorsSince)
                }))
        services += plugins.execActions.map { .init(service: $0) }
        services += [
            .init(service: reloader),
            .init(service: ReloadOnHangup(reloader: reloader, dispatcher: dispatcher)),
            .init(service: WakeOnUser1(dispatcher: dispatcher)),
            .init(service: dispatcher),
        ]
        // The decider starts before the sources and stops after them: on shutdown it finishes the
        // batch it is deciding; what is left is decided at the next start. FLINT_DECIDE=off keeps it
        // from starting (a debugging aid: events are accepted and wait in the log, docs/cli.md).
        if ProcessInfo.processInfo.environment["FLINT_DECIDE"] == "off" {
            logger.warning("FLINT_DECIDE=off: events are accepted but not decided until flint serve starts without it")
        } else {
            services.append(.init(service: engine.decider))
        }
        services += sourceServices
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch let error as ListenError {
            // Another program took the address between the check and the bind.
            Terminal.err("error: \(error)")
            try? await brazeClient.shutdown()
            throw ExitCode(1)
        } catch {
            // The HTTP client must be shut down before it is released, whatever stopped the group.
            try? await brazeClient.shutdown()
            throw error
        }
        try? await brazeClient.shutdown()
        logger.info("flint serve stopped")
    }

    /// `mallopt(M_ARENA_MAX, n)`: malloc.h is not part of Swift's Glibc module, so it is looked up.
    static func limitMallocArenas(_ count: Int32) {
        #if canImport(Glibc)
            typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
            let mArenaMax: Int32 = -8  // glibc's M_ARENA_MAX
            guard let symbol = dlsym(nil, "mallopt") else { return }
            _ = unsafeBitCast(symbol, to: Mallopt.self)(mArenaMax, count)
        #endif
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

    /// How a user chooses another address for flint serve.
    static let listenHint = "choose another with --listen HOST:PORT, FLINT_LISTEN=HOST:PORT, or listen: HOST:PORT in flint.yaml"

    static func address(_ host: String, _ port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Why `host:port` cannot be listened on (in use, not an address of this machine), or nil when it
    /// can. Binds a socket the way the listener will (SO_REUSEADDR), then closes it.
    static func cannotListen(host: String, port: Int) -> String? {
        guard port != 0 else { return nil }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &list)
        guard resolved == 0, let first = list else {
            return "cannot resolve the host '\(host)' (\(String(cString: gai_strerror(resolved))))"
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 else { return nil }
        switch errno {
        case EADDRINUSE: return "the address is already in use (another flint serve, or another program, listens there)"
        case EADDRNOTAVAIL: return "'\(host)' is not an address of this machine"
        case EACCES: return "permission denied (ports below 1024 need privileges)"
        default: return String(cString: strerror(errno))
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// A free TCP port on loopback (bind to port 0, read it, close).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ExitCode(1) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw ExitCode(1) }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// What `flint serve` says when it is up: where it listens, where the database is, which rules.
struct Banner: Sendable {
    var database: String
    var rules: String
    var ruleCount: Int
    var inbox: String
    var bindNote: String
    var braze: String
    var plugins: [String]
    var pruned: PruneResult
    var console: String

    func print(address: String) {
        var lines = [
            "flint serve: listening on http://\(address) (\(bindNote))",
            "  database  \(database)",
            "  rules     \(ruleCount) from \(rules)/ (reloaded on change and on SIGHUP)",
            "  inbox     \(inbox)/ (read files go to \(inbox)/processed; files with bad lines go to \(inbox)/failed/ with NAME.errors.json, their good lines are ingested)",
            "  braze     \(braze)",
            "  plugins   \(plugins.isEmpty ? "none declared (flint.yaml plugins:)" : plugins.joined(separator: ", ") + " (flint plugins)")",
            "  console   \(console)",
            "  endpoints POST /v1/events /v1/track /v1/identify /v1/batch; GET /healthz /readyz /metrics",
        ]
        if pruned.events + pruned.runs + pruned.rejected > 0 {
            lines.append("  retention pruned \(pruned.events) events, \(pruned.runs) runs, \(pruned.rejected) rejected")
        }
        Terminal.out(lines.joined(separator: "\n"), flush: true)
    }
}

/// The routes `flint serve` adds to the webhook's listener, known once the dispatcher is built.
final class HostRoutes: Sendable {
    private let health = Mutex<HealthRoutes?>(nil)

    func set(_ routes: HealthRoutes) { health.withLock { $0 = routes } }

    func add(to router: Router<BasicRequestContext>) {
        health.withLock { $0 }?.addRoutes(to: router)
    }
}

/// The banner, printed when the listener is up.
final class BannerBox: Sendable {
    private let banner = Mutex<Banner?>(nil)

    func set(_ value: Banner) { banner.withLock { $0 = value } }

    func print(address: String) {
        banner.withLock { $0 }?.print(address: address)
    }
}

/// SIGHUP reloads the rules at once, and lets a paused dispatcher try again (a key may have changed).
struct ReloadOnHangup: Service {
    let reloader: RuleReloader
    let dispatcher: Dispatcher

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            reloader.reloadSoon()
            dispatcher.resumeNow()
        }
    }
}

/// `/healthz`, `/readyz` and `/metrics`.
struct HealthRoutes: Sendable {
    let store: any StateStore
    let reloader: RuleReloader
    let dispatcher: Dispatcher
    let plugins: PluginBoard
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
            let dispatch = dispatcher.status
            if let paused = dispatch.pausedReason {
                ready = false
                let when = dispatch.pause.map { " (since \(Timestamp.formatUTC($0.since)), next try \(Timestamp.formatUTC($0.nextProbe)))" } ?? ""
                checks["dispatcher"] = .string("paused: \(paused)\(when); the held send is tried again every 60 s or on SIGHUP")
            } else {
                checks["dispatcher"] = "ok"
            }
            // Plugins: reported, but a plugin in trouble does not make Flint unready (it keeps taking
            // events over HTTP; sends for a stopped action wait in the outbox).
            var pluginChecks: [String: JSONValue] = [:]
            let now = Date()
            for p in plugins.statuses.map({ $0.showing(dispatch.pause) }) {
                switch p.state {
                case .running:
                    pluginChecks[p.name] = p.garbageLines > 0 ? .string("running; \(p.garbageLines) garbage lines ignored") : "running"
                case .starting where p.restarts > 0:
                    // Between two starts of a plugin that keeps failing: say why it restarted.
                    pluginChecks[p.name] = .string("starting again after \(p.restarts) restarts: \(p.lastError ?? "stopped")")
                case .starting:
                    pluginChecks[p.name] = "starting: waiting for its hello"
                case .backoff:
                    let wait = p.nextStartAt.map { max(0, Int($0.timeIntervalSince(now).rounded(.up))) } ?? 0
                    pluginChecks[p.name] = .string("restarting in \(wait)s after \(p.restarts) restarts: \(p.lastError ?? "stopped")")
                case .stopped:
                    pluginChecks[p.name] = "stopped"
                case .paused:
                    pluginChecks[p.name] = .string("paused: \(p.lastError ?? "credentials refused")")
                }
            }
            checks["plugins"] = .object(pluginChecks)
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

/// What serve knows about itself that others set late: the address the listener really bound.
final class ServeState: Sendable {
    private let address: Mutex<String>

    init(listen: String) { address = Mutex(listen) }

    var listen: String {
        get { address.withLock { $0 } }
        set { address.withLock { $0 = newValue } }
    }
}

/// An address taken by another program between the check and the bind.
struct ListenError: Error, CustomStringConvertible {
    var address: String
    var what: String
    var hint: String
    var description: String { "cannot listen on \(address) for \(what): the address is already in use; \(hint)" }
}

/// Runs a listening service, turning "address already in use" into a `ListenError` that names the
/// address and how to choose another.
struct ListeningService: Service {
    let inner: any Service
    let address: String
    let what: String
    let hint: String

    func run() async throws {
        do {
            try await inner.run()
        } catch {
            let text = "\(error)"
            if text.contains("Address already in use") || text.contains("errno: \(EADDRINUSE)") {
                throw ListenError(address: address, what: what, hint: hint)
            }
            throw error
        }
    }
}
