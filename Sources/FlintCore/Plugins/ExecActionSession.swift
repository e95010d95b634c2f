import FlintPluginAPI
import Foundation
import Metrics
import Synchronization

/// The requests in flight to one process of an action plugin.
final class ExecActionSession: Sendable {
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
