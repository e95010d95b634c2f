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
    private let live = Mutex<ActionSession?>(nil)

    public init(spec: ExecPluginSpec, board: PluginBoard, logger: Logger) {
        precondition(spec.kind == .action, "an ExecAction needs an action spec")
        supervisor = ExecSupervisor(spec: spec, board: board, logger: logger)
    }

    /// Keeps the plugin running (a Service: start it before the dispatcher, so it stops after it).
    public func run() async throws {
        let timeout = supervisor.spec.timeout
        await supervisor.run { [self, name, board = supervisor.board] channel in
            let session = ActionSession(channel: channel, name: name, board: board)
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

    public func perform(_ request: SendRequest, context: PluginContext) async -> ActionOutcome {
        let spec = supervisor.spec
        let deadline = Date().addingTimeInterval(spec.timeout)
        // A plugin that is starting gets until the timeout to say hello; one waiting out its backoff
        // is not waited for (the dispatcher would hold its other sends meanwhile).
        var session = live.withLock { $0 }
        while session == nil, Date() < deadline, !Task.isCancelled, supervisor.board.status(name)?.state == .starting {
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

/// The requests in flight to one process of an action plugin.
final class ActionSession: Sendable {
    private struct Pending: Sendable {
        var continuation: CheckedContinuation<ActionOutcome, Never>
        var deadline: Date
        /// The line reached the plugin's stdin: from then on, the plugin may have done it.
        var written = false
    }

    private struct State: Sendable {
        var pending: [String: Pending] = [:]
        var closed: String?
    }

    let channel: ExecChannel
    let name: String
    let board: PluginBoard
    private let state = Mutex(State())

    init(channel: ExecChannel, name: String, board: PluginBoard) {
        self.channel = channel
        self.name = name
        self.board = board
    }

    var isIdle: Bool { state.withLock { $0.pending.isEmpty } }

    func request(_ request: SendRequest, timeout: TimeInterval) async -> ActionOutcome {
        let id = request.id
        return await withCheckedContinuation { (c: CheckedContinuation<ActionOutcome, Never>) in
            let refusal: ActionOutcome? = state.withLock { s in
                if let closed = s.closed { return .failure(message: "action plugin '\(name)' stopped (\(closed)) before the send was handed over", retryable: true) }
                if s.pending[id] != nil { return .failure(message: "send \(id) is already in flight to '\(name)'", retryable: true) }
                s.pending[id] = Pending(continuation: c, deadline: Date().addingTimeInterval(timeout))
                return nil
            }
            if let refusal {
                c.resume(returning: refusal)
                return
            }
            channel.send(ExecProtocol.send(request)) { [weak self] written in
                guard let self else { return }
                if written {
                    self.state.withLock { $0.pending[id]?.written = true }
                } else {
                    self.finish(id: id, .failure(message: "could not hand the send to action plugin '\(self.name)'", retryable: true))
                }
            }
        }
    }

    func resolve(id: String, ok: Bool, retryable: Bool, error: String?, details: JSONValue?) {
        let outcome: ActionOutcome =
            ok
            ? .success(details: details ?? .object([:]))
            : .failure(message: error.map { "\(name): \($0)" } ?? "\(name) reported a failure without an error message", retryable: retryable)
        if !finish(id: id, outcome) {
            channel.garbageResult(id: id)
        }
    }

    /// Ends every request past its deadline as unknown; returns one of their ids, if any.
    func expire(now: Date) -> String? {
        let expired = state.withLock { s -> [(String, Pending)] in
            let late = s.pending.filter { $0.value.deadline <= now }
            for (id, _) in late { s.pending[id] = nil }
            return Array(late)
        }
        for (_, p) in expired {
            let outcome: ActionOutcome =
                p.written
                ? .unknown(message: "action plugin '\(name)' did not answer within the timeout; it may have done it")
                : .failure(message: "action plugin '\(name)' did not read the send within the timeout", retryable: true)
            count(outcome)
            p.continuation.resume(returning: outcome)
        }
        return expired.first?.0
    }

    /// Ends what is still in flight when the process stops.
    func close(reason: String) {
        let pending = state.withLock { s -> [String: Pending] in
            s.closed = reason
            defer { s.pending = [:] }
            return s.pending
        }
        for p in pending.values {
            let outcome: ActionOutcome =
                p.written
                ? .unknown(message: "action plugin '\(name)' stopped before answering (\(reason)); it may have done it")
                : .failure(message: "action plugin '\(name)' stopped (\(reason)) before the send was handed over", retryable: true)
            count(outcome)
            p.continuation.resume(returning: outcome)
        }
    }

    @discardableResult
    private func finish(id: String, _ outcome: ActionOutcome) -> Bool {
        guard let p = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return false }
        count(outcome)
        p.continuation.resume(returning: outcome)
        return true
    }

    private func count(_ outcome: ActionOutcome) {
        let label: String
        switch outcome {
        case .success: label = "success"
        case .failure(_, let retryable): label = retryable ? "retryable" : "failed"
        case .unknown: label = "unknown"
        case .retryLater: label = "retry_later"
        case .credentialsRefused: label = "credentials_refused"
        }
        board.update(name) { s in
            s.handled += 1
            switch outcome {
            case .success: break
            case .failure(let m, _), .unknown(let m), .retryLater(let m, _), .credentialsRefused(let m):
                s.failures += 1
                s.lastError = m
                s.lastErrorAt = Date()
            }
        }
        Counter(label: "flint_plugin_results_total", dimensions: [("plugin", name), ("outcome", label)]).increment()
    }
}
