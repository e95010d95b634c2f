import FlintPluginAPI
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// An action in another language: a child process that gets a `send` line for each planned send
/// and answers with a `result` line. Its outcomes go through the same outbox, retries and ledger as
/// Braze's: `ok: true` ends the run `scheduled`; `ok: false, retryable: true` is tried again with
/// backoff; `ok: false` otherwise fails the run.
///
/// A request the plugin received but did not answer within the timeout (or before it exited) may
/// have been done: it ends `unknown` and is never resent by itself. The process is then restarted.
public final class ExecAction: Action, Service, Sendable {
    public var name: String { supervisor.spec.name }
    public let supervisor: ExecSupervisor
    private let live = Mutex<ExecActionSession?>(nil)

    public init(spec: ExecPluginSpec, board: PluginBoard, logger: Logger) {
        precondition(spec.kind == .action, "an ExecAction needs an action spec")
        supervisor = ExecSupervisor(spec: spec, board: board, logger: logger)
    }

    /// Keeps the plugin running (a Service: start it before the dispatcher, so it stops after it).
    public func run() async throws {
        let timeout = supervisor.spec.timeout
        await supervisor.run { [self, name, board = supervisor.board] channel in
            let session = ExecActionSession(channel: channel, name: name, board: board)
            self.live.withLock { $0 = session }
            defer {
                self.live.withLock { $0 = nil }
                session.close(reason: channel.isShuttingDown ? "Flint is shutting down" : "the plugin stopped")
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    while let message = await channel.next() {
                        guard case .result(let id, let ok, let retryable, let error, let details) = message else {
                            throw ExecProtocolViolation("an action plugin sent \(message.typeName); an action answers with results")
                        }
                        session.resolve(id: id, ok: ok, retryable: retryable, error: error, details: details)
                    }
                }
                group.addTask {
                    // The watchdog: a request past its timeout ends unknown and the plugin is restarted
                    // (it is stuck or too slow); during shutdown, the session ends once nothing is in flight.
                    while !Task.isCancelled {
                        if let late = session.expire(now: Date()) {
                            throw ExecProtocolViolation("no result for send \(late) within \(DurationTextShort.format(timeout)); the plugin seems stuck")
                        }
                        if channel.isShuttingDown, session.isIdle { return }
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    /// Exec actions declare the defaults: each send alone, none cancellable, no client budget.
    public var dispatch: ActionDispatch { ActionDispatch() }

    public func perform(_ request: SendRequest, context: PluginContext) async -> ActionOutcome {
        let spec = supervisor.spec
        let deadline = Date().addingTimeInterval(spec.timeout)
        // A plugin that is starting gets until the timeout to say hello, and one that has just said
        // it gets the moment until its session is attached (the board says running a little before);
        // one waiting out its backoff is not waited for (the dispatcher would hold its other sends).
        var session = live.withLock { $0 }
        while session == nil, Date() < deadline, !Task.isCancelled, [.starting, .running].contains(supervisor.board.status(name)?.state) {
            try? await Task.sleep(for: .milliseconds(20))
            session = live.withLock { $0 }
        }
        guard let session, !session.channel.isShuttingDown else {
            let status = supervisor.board.status(name)
            let why = status?.lastError.map { ": \($0)" } ?? ""
            return .retryLater(message: "action plugin '\(name)' is not running\(why)", after: status?.nextStartAt)
        }
        let started = ContinuousClock.now
        let outcome = await session.request(request, timeout: spec.timeout)
        Timer(label: "flint_plugin_request_duration_seconds", dimensions: [("plugin", name)]).recordNanoseconds(
            (ContinuousClock.now - started).nanoseconds)
        return outcome
    }
}
