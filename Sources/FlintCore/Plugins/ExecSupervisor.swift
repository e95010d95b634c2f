import FlintPluginAPI
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Subprocess
import Synchronization

#if canImport(System)
    import System
#else
    import SystemPackage
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Writing to a plugin that has just exited must be an error (EPIPE), not the end of Flint: SIGPIPE's
/// default action would kill the whole process. Children get default dispositions back at spawn.
private let brokenPipesIgnored: Bool = {
    signal(SIGPIPE, SIG_IGN)
    return true
}()

/// Runs one exec plugin and keeps it running: starts the process with only its declared environment,
/// waits for its hello, hands the connection to the session, and when the process exits, breaks
/// the protocol or hangs, stops it and starts it again after a growing delay. Nothing a plugin
/// does ends Flint: every failure becomes the plugin's state, a log line and a metric.
public final class ExecSupervisor: Sendable {
    public let spec: ExecPluginSpec
    let board: PluginBoard
    let logger: Logger
    private let searchPath: String?
    private let random: @Sendable () -> Double

    /// A session that ran this long after its hello counts as healthy: the next failure starts the
    /// backoff from its minimum again.
    static let healthyAfter: TimeInterval = 30

    public init(
        spec: ExecPluginSpec, board: PluginBoard, logger: Logger, searchPath: String? = ProcessInfo.processInfo.environment["PATH"],
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.spec = spec
        self.board = board
        var logger = logger
        logger[metadataKey: "plugin.name"] = "\(spec.name)"
        self.logger = logger
        self.searchPath = searchPath
        self.random = random
        precondition(brokenPipesIgnored)
        board.register(PluginStatus(name: spec.name, kind: spec.kind, origin: .exec, command: spec.displayCommand, state: .stopped))
    }

    /// Runs until graceful shutdown or cancellation. `session` is called for each process once its
    /// hello is accepted, and runs as long as the plugin is to run: return to stop the process
    /// gracefully (stdin closed), throw `ExecProtocolViolation` to kill it.
    public func run(session: @escaping @Sendable (ExecChannel) async throws -> Void) async {
        var failures = 0
        var starts = 0
        Gauge(label: "flint_plugin_up", dimensions: [("plugin", spec.name)]).record(0)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if starts > 0 {
                board.update(spec.name) { $0.restarts += 1 }
                Counter(label: "flint_plugin_restarts_total", dimensions: [("plugin", spec.name)]).increment()
            }
            starts += 1
            let end = await runOnce(session: session)
            Gauge(label: "flint_plugin_up", dimensions: [("plugin", spec.name)]).record(0)
            if Task.isCancelled || Task.isShuttingDownGracefully {
                board.update(spec.name) { s in
                    s.state = .stopped
                    s.pid = nil
                    s.nextStartAt = nil
                }
                logger.info("plugin stopped", metadata: ["plugin.exit": "\(end.reason)"])
                break
            }
            failures = end.healthy ? 1 : failures + 1
            let delay = backoff(failures: failures)
            let next = Date().addingTimeInterval(delay)
            board.update(spec.name) { s in
                s.state = .backoff
                s.pid = nil
                s.lastError = end.reason
                s.lastErrorAt = Date()
                s.nextStartAt = next
            }
            logger.warning(
                "plugin stopped; starting it again after the backoff",
                metadata: ["plugin.error": "\(end.reason)", "plugin.restart_in": "\(String(format: "%.1f", delay))s"])
            await sleepUnlessShuttingDown(delay)
        }
        board.update(spec.name) { s in
            s.state = .stopped
            s.pid = nil
            s.nextStartAt = nil
        }
    }

    /// The delay before start number `failures + 1`: doubling from the minimum, capped, with up to
    /// 20% jitter so plugins that failed together do not restart together.
    public func backoff(failures: Int) -> TimeInterval {
        let base = spec.minimumBackoff * pow(2, Double(max(0, failures - 1)))
        return min(spec.maximumBackoff, base) * (0.8 + 0.2 * random())
    }

    private func sleepUnlessShuttingDown(_ seconds: TimeInterval) async {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
        // Short steps, so a graceful shutdown during a long backoff ends it promptly.
        while clock.now < deadline, !Task.isCancelled, !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: min(.milliseconds(100), deadline - clock.now))
        }
    }

    struct End: Sendable {
        var reason: String
        /// The session ran long enough after its hello to reset the backoff.
        var healthy: Bool
    }

    private enum Happening: Sendable {
        case stdoutClosed
        case writerDone(String?)
        case sessionEnded(String?, healthyAt: Date?)
        case shutdown
        case deadline
        case ignored
    }

    /// One process, from start to exit.
    private func runOnce(session: @escaping @Sendable (ExecChannel) async throws -> Void) async -> End {
        guard let program = spec.resolvedProgram(searchPath: searchPath) else {
            let what = spec.command.first ?? ""
            let reason =
                what.contains("/")
                ? "cannot start: '\(what)' is not an executable file (relative paths are taken from \(spec.directory))"
                : "cannot start: '\(what)' was not found on Flint's PATH"
            return End(reason: reason, healthy: false)
        }
        var options = PlatformOptions()
        // Its own process group: a Ctrl-C in Flint's terminal reaches Flint, which stops plugins in order.
        options.processGroupID = 0
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(2))]
        let spec = self.spec
        let board = self.board
        let logger = self.logger
        let garbageCount = Mutex(0)
        let channel = ExecChannel(pluginName: spec.name) { reason, line in
            let count = garbageCount.withLock { n -> Int in
                n += 1
                return n
            }
            board.update(spec.name) { $0.garbageLines += 1 }
            Counter(label: "flint_plugin_garbage_lines_total", dimensions: [("plugin", spec.name)]).increment()
            // The first ones in full, then one in a hundred, so a chatty plugin cannot flood the log.
            if count <= 20 || count % 100 == 0 {
                logger.warning(
                    "plugin wrote a line that is not a protocol message; ignored (write logs to stderr)",
                    metadata: ["plugin.garbage": "\(line)", "plugin.reason": "\(reason)", "plugin.garbage_lines": "\(count)"])
            }
        }
        do {
            let result = try await Subprocess.run(
                .path(FilePath(program)), arguments: Arguments(Array(spec.command.dropFirst())), environment: .custom(Self.environment(spec.environment)),
                workingDirectory: FilePath(spec.directory), platformOptions: options, input: .inputWriter, output: .sequence, error: .sequence
            ) { execution -> (String?, Date?) in
                let pid = Int(execution.processIdentifier.value)
                var sessionLogger = logger
                sessionLogger[metadataKey: "plugin.pid"] = "\(pid)"
                let log = sessionLogger
                board.update(spec.name) { s in
                    s.state = .starting
                    s.pid = pid
                    s.startedAt = Date()
                    s.nextStartAt = nil
                }
                log.info("plugin started", metadata: ["plugin.command": "\(spec.displayCommand)"])
                return await withTaskGroup(of: Happening.self) { group -> (String?, Date?) in
                    group.addTask {
                        await Self.readMessages(execution.standardOutput, channel: channel, logger: log)
                        return .stdoutClosed
                    }
                    group.addTask {
                        await Self.readStderr(execution.standardError, logger: log)
                        return .ignored
                    }
                    group.addTask {
                        let writer = execution.standardInputWriter
                        var failure: String?
                        for await line in channel.outgoing {
                            defer { channel.wrote() }
                            if failure != nil {
                                line.onWritten?(false)
                                continue
                            }
                            do {
                                _ = try await writer.write(line.bytes)
                                line.onWritten?(true)
                            } catch {
                                failure = "writing to its stdin failed: \(error)"
                                line.onWritten?(false)
                            }
                        }
                        if failure == nil { try? await writer.finish() }
                        return .writerDone(failure)
                    }
                    group.addTask {
                        await Self.runSession(channel: channel, spec: spec, board: board, logger: log, session: session)
                    }
                    group.addTask {
                        // Graceful shutdown: a source stops taking events; an action finishes what is in flight.
                        do {
                            try await gracefulShutdown()
                            channel.beginShutdown()
                            return .shutdown
                        } catch {
                            return .ignored
                        }
                    }

                    // Whatever ends first ends the process.
                    var reason: String?
                    var healthyAt: Date?
                    var stdoutClosed = false
                    var sessionOver = false
                    var kill = false
                    waiting: while let happening = await group.next() {
                        switch happening {
                        case .stdoutClosed:
                            stdoutClosed = true
                            channel.markClosed()
                            break waiting
                        case .writerDone(let failure?):
                            reason = failure
                            kill = true
                            break waiting
                        case .sessionEnded(let violation, let helloAt):
                            sessionOver = true
                            healthyAt = helloAt
                            if let violation {
                                reason = violation
                                kill = true
                            }
                            break waiting
                        case .shutdown, .writerDone(nil), .ignored, .deadline:
                            continue
                        }
                    }
                    if kill {
                        log.warning("stopping the plugin: it broke the protocol", metadata: ["plugin.error": "\(reason ?? "")"])
                        try? execution.send(signal: .kill, toProcessGroup: true)
                    }
                    // Let the session finish what it holds (acks of a committed batch), then close stdin
                    // and give the plugin a moment to exit by itself.
                    channel.markClosed()
                    if !sessionOver {
                        group.addTask {
                            try? await Task.sleep(for: .seconds(2))
                            return .deadline
                        }
                        finishing: while let happening = await group.next() {
                            switch happening {
                            case .sessionEnded(_, let helloAt):
                                healthyAt = helloAt
                                break finishing
                            case .deadline: break finishing
                            case .stdoutClosed: stdoutClosed = true
                            default: continue
                            }
                        }
                    }
                    channel.finishOutgoing()
                    if !stdoutClosed {
                        group.addTask {
                            try? await Task.sleep(for: .seconds(3))
                            return .deadline
                        }
                        var signalled = false
                        exiting: while let happening = await group.next() {
                            switch happening {
                            case .stdoutClosed: break exiting
                            case .deadline:
                                if signalled { break exiting }
                                // Still running with stdin closed: ask, then insist.
                                try? execution.send(signal: .terminate, toProcessGroup: true)
                                signalled = true
                                group.addTask {
                                    try? await Task.sleep(for: .seconds(2))
                                    return .deadline
                                }
                            default: continue
                            }
                        }
                        if signalled { try? execution.send(signal: .kill, toProcessGroup: true) }
                    }
                    group.cancelAll()
                    return (reason, healthyAt)
                }
            }
            let (violation, helloAt) = result.closureResult
            let exit: String
            switch result.terminationStatus {
            case .exited(let code): exit = "exited with status \(code)"
            case .signaled(let signal): exit = "killed by signal \(signal)"
            }
            let healthy = helloAt.map { Date().timeIntervalSince($0) >= Self.healthyAfter } ?? false
            if let violation { return End(reason: "\(violation) (\(exit))", healthy: healthy) }
            return End(reason: helloAt == nil ? "\(exit) before saying hello" : exit, healthy: healthy)
        } catch {
            return End(reason: "cannot start: \(error)", healthy: false)
        }
    }

    /// Only what is declared, so a plugin never sees Flint's secrets by accident.
    static func environment(_ declared: [String: String]) -> [Environment.Key: String] {
        var env: [Environment.Key: String] = [:]
        for (k, v) in declared {
            if let key = Environment.Key(rawValue: k) { env[key] = v }
        }
        return env
    }

    /// Waits for the hello, checks it, then runs the session. Returns why the session ended when the
    /// plugin broke the protocol, and when it said hello.
    private static func runSession(
        channel: ExecChannel, spec: ExecPluginSpec, board: PluginBoard, logger: Logger, session: @escaping @Sendable (ExecChannel) async throws -> Void
    ) async -> Happening {
        let hello = await withTaskGroup(of: ExecProtocol.Message??.self) { group in
            group.addTask { .some(await channel.next()) }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int64(spec.timeout * 1000)))
                return .none
            }
            group.addTask {
                // Shutting down before the hello: end quietly.
                do {
                    try await gracefulShutdown()
                    return .some(nil)
                } catch {
                    return .some(nil)
                }
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let hello else {
            return .sessionEnded("no hello within \(DurationTextShort.format(spec.timeout)) of starting", healthyAt: nil)
        }
        guard let message = hello else { return .sessionEnded(nil, healthyAt: nil) }
        guard case .hello(let version, let name, let kind) = message else {
            return .sessionEnded("its first message must be a hello, got \(message.typeName)", healthyAt: nil)
        }
        guard let version else { return .sessionEnded("its hello has no \"protocol\" (Flint speaks \(ExecProtocol.version))", healthyAt: nil) }
        guard version == ExecProtocol.version else {
            return .sessionEnded("its hello asks for protocol \(version); Flint speaks \(ExecProtocol.version)", healthyAt: nil)
        }
        if let kind, kind != spec.kind.rawValue {
            return .sessionEnded("its hello says kind \(kind) but flint.yaml declares it a \(spec.kind.rawValue)", healthyAt: nil)
        }
        if let name, name != spec.name {
            logger.debug("the plugin calls itself by another name; flint.yaml's name is used", metadata: ["plugin.hello_name": "\(name)"])
        }
        let helloAt = Date()
        board.update(spec.name) { $0.state = .running }
        Gauge(label: "flint_plugin_up", dimensions: [("plugin", spec.name)]).record(1)
        logger.info("plugin said hello", metadata: ["plugin.kind": "\(spec.kind.rawValue)"])
        do {
            try await session(channel)
            return .sessionEnded(nil, healthyAt: helloAt)
        } catch {
            return .sessionEnded("\(error)", healthyAt: helloAt)
        }
    }

    /// Splits stdout into lines (on `\n` only: JSON strings may hold U+2028), parses each, and passes
    /// messages on; everything else is counted and logged as garbage.
    private static func readMessages(_ output: SubprocessOutputSequence, channel: ExecChannel, logger: Logger) async {
        var pending: [UInt8] = []
        var skipping = false
        func garbageLine(_ reason: String, _ line: ArraySlice<UInt8>) {
            channel.reportGarbage(reason, line: String(decoding: line.prefix(300), as: UTF8.self))
        }
        func handle(_ line: ArraySlice<UInt8>) {
            var line = line
            if line.last == 0x0D { line = line.dropLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
            switch ExecProtocol.parse(line) {
            case .success(let message): channel.deliver(message)
            case .failure(let why): garbageLine(why.reason, line)
            }
        }
        do {
            for try await buffer in output {
                // Backpressure: while the session is behind, stop reading; the plugin's writes block.
                await channel.waitForRoom(limit: ExecProtocol.maxQueuedMessages)
                buffer.withUnsafeBytes { raw in
                    var start = raw.startIndex
                    while let newline = raw[start...].firstIndex(of: 0x0A) {
                        if skipping {
                            skipping = false
                        } else if pending.isEmpty {
                            handle(ArraySlice(raw[start..<newline]))
                        } else {
                            pending.append(contentsOf: raw[start..<newline])
                            handle(pending[...])
                        }
                        pending.removeAll(keepingCapacity: true)
                        start = newline + 1
                    }
                    if !skipping { pending.append(contentsOf: raw[start...]) }
                    if pending.count > ExecProtocol.maxLineBytes {
                        garbageLine("a line longer than \(ExecProtocol.maxLineBytes) bytes", pending.prefix(300))
                        pending.removeAll()
                        skipping = true
                    }
                }
            }
        } catch {
            logger.debug("reading the plugin's stdout ended", metadata: ["error": "\(error)"])
        }
        if !pending.isEmpty, !skipping { handle(pending[...]) }
    }

    /// Each line of stderr goes to Flint's log with the plugin's name.
    private static func readStderr(_ output: SubprocessOutputSequence, logger: Logger) async {
        var pending: [UInt8] = []
        func emit(_ bytes: ArraySlice<UInt8>) {
            var bytes = bytes
            if bytes.last == 0x0D { bytes = bytes.dropLast() }
            guard !bytes.isEmpty else { return }
            logger.notice("\(String(decoding: bytes.prefix(2000), as: UTF8.self))", metadata: ["plugin.stream": "stderr"])
        }
        do {
            for try await buffer in output {
                buffer.withUnsafeBytes { raw in
                    var start = raw.startIndex
                    while let newline = raw[start...].firstIndex(of: 0x0A) {
                        pending.append(contentsOf: raw[start..<newline])
                        emit(pending[...])
                        pending.removeAll(keepingCapacity: true)
                        start = newline + 1
                    }
                    pending.append(contentsOf: raw[start...])
                    if pending.count > 64 * 1024 {
                        emit(pending[...])
                        pending.removeAll()
                    }
                }
            }
        } catch {}
        if !pending.isEmpty { emit(pending[...]) }
    }
}
