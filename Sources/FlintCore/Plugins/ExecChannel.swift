import FlintPluginAPI
import Foundation
import Synchronization

/// The two directions of one running exec plugin, as its session sees them: messages read from the
/// plugin's stdout (garbage already filtered out), and lines to write to its stdin.
///
/// Valid for one process: when the process is stopped, reads return nil and writes are dropped.
public final class ExecChannel: Sendable {
    struct Outgoing: Sendable {
        var bytes: [UInt8]
        /// Told whether the line reached the plugin's stdin (the pipe) or not.
        var onWritten: (@Sendable (Bool) -> Void)?
    }

    private struct State: Sendable {
        var queue: [ExecProtocol.Message] = []
        var head = 0
        /// stdout reached its end (the plugin closed it or exited).
        var closed = false
        /// Graceful shutdown began: a source takes no more events.
        var shuttingDown = false
        var generation = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
        /// Lines handed to `send` and not yet written to the plugin's stdin.
        var unwritten = 0

        var queued: Int { queue.count - head }

        mutating func compact() {
            if head > 1024, head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
        }
    }

    public let pluginName: String
    private let state = Mutex(State())
    private let onGarbage: @Sendable (_ reason: String, _ line: String) -> Void
    let outgoing: AsyncStream<Outgoing>
    private let outgoingContinuation: AsyncStream<Outgoing>.Continuation

    init(pluginName: String, onGarbage: @escaping @Sendable (_ reason: String, _ line: String) -> Void = { _, _ in }) {
        self.pluginName = pluginName
        self.onGarbage = onGarbage
        (outgoing, outgoingContinuation) = AsyncStream.makeStream(of: Outgoing.self)
    }

    // MARK: What the session uses

    /// Writes one message to the plugin's stdin (queued; never blocks, even when the plugin does not read).
    public func send(_ message: JSONValue, onWritten: (@Sendable (Bool) -> Void)? = nil) {
        state.withLock { $0.unwritten += 1 }
        if case .terminated = outgoingContinuation.yield(Outgoing(bytes: message.compactUTF8 + [0x0A], onWritten: onWritten)) {
            wrote()
            onWritten?(false)
        }
    }

    /// Lines waiting to be written to the plugin's stdin: grows when the plugin does not read it.
    public var unwrittenLines: Int { state.withLock { $0.unwritten } }

    /// Messages read from the plugin and not yet taken by the session.
    public var queuedMessages: Int { state.withLock { $0.queued } }

    /// The next message, waiting for one; nil when the plugin's stdout ended. Keeps delivering
    /// during graceful shutdown (an action still reads the results of requests in flight).
    public func next() async -> ExecProtocol.Message? {
        while true {
            let (message, generation, done): (ExecProtocol.Message?, Int, Bool) = state.withLock { s in
                if s.head < s.queue.count {
                    let m = s.queue[s.head]
                    s.head += 1
                    s.compact()
                    s.generation += 1
                    return (m, s.generation, false)
                }
                return (nil, s.generation, s.closed)
            }
            if let message {
                resumeWaiters()
                return message
            }
            if done || Task.isCancelled { return nil }
            await waitForChange(after: generation)
        }
    }

    /// Up to `max` messages, waiting for at least one; nil when stdout ended or graceful shutdown
    /// began (what is still queued is dropped: unacknowledged, so the plugin sends it again later).
    public func nextBatch(max: Int) async -> [ExecProtocol.Message]? {
        while true {
            let (batch, generation, done): ([ExecProtocol.Message], Int, Bool) = state.withLock { s in
                if s.shuttingDown { return ([], s.generation, true) }
                if s.head < s.queue.count {
                    let end = min(s.queue.count, s.head + max)
                    let batch = Array(s.queue[s.head..<end])
                    s.head = end
                    s.compact()
                    s.generation += 1
                    return (batch, s.generation, false)
                }
                return ([], s.generation, s.closed)
            }
            if !batch.isEmpty {
                resumeWaiters()
                return batch
            }
            if done || Task.isCancelled { return nil }
            await waitForChange(after: generation)
        }
    }

    public var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }

    /// Waits until something changes: a message, the end of stdout, shutdown. Returns at once when
    /// something already changed since `generation`.
    public func waitForChange(after generation: Int) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.generation != generation || s.closed || Task.isCancelled { return true }
                    s.waiters.append(c)
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            self.wake { _ in }
        }
    }

    public var generation: Int { state.withLock { $0.generation } }

    /// Counts and logs a line that is not a valid message here (never fatal).
    public func reportGarbage(_ reason: String, line: String) {
        onGarbage(reason, line)
    }

    /// A result for a send that is not in flight (answered twice, or after its timeout).
    func garbageResult(id: String) {
        onGarbage("a result for send \(id), which is not in flight (answered twice, or after its timeout)", "")
    }

    // MARK: What the supervisor uses

    /// Waits while more than `limit` messages wait for the session: the reader stops reading the
    /// plugin's stdout, its pipe fills, and the plugin's writes block (backpressure, bounded memory).
    func waitForRoom(limit: Int) async {
        while true {
            let (full, generation) = state.withLock { s in (s.queued > limit && !s.closed && !s.shuttingDown, s.generation) }
            if !full || Task.isCancelled { return }
            await waitForChange(after: generation)
        }
    }

    /// One line of `send` was written (or dropped).
    func wrote() {
        state.withLock { $0.unwritten -= 1 }
    }

    private func resumeWaiters() {
        let waiters = state.withLock { s in
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    func deliver(_ message: ExecProtocol.Message) {
        wake { $0.queue.append(message) }
    }

    func markClosed() {
        wake { $0.closed = true }
    }

    func beginShutdown() {
        wake { $0.shuttingDown = true }
    }

    /// Closes the plugin's stdin once what is queued is written.
    func finishOutgoing() {
        outgoingContinuation.finish()
    }

    private func wake(_ change: (inout State) -> Void) {
        let waiters = state.withLock { s in
            change(&s)
            s.generation += 1
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }
}
