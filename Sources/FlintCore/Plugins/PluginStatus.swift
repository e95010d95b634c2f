import FlintPluginAPI
import Foundation
import Synchronization

/// What `flint plugins`, `/readyz` and the metrics say about one plugin.
public struct PluginStatus: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case source
        case action
    }

    public enum Origin: String, Sendable, Hashable {
        /// A Swift module in `Plugins/`, running inside `flint serve`.
        case builtIn = "built-in"
        /// A child process declared under `plugins:` in flint.yaml.
        case exec
    }

    public enum State: String, Sendable, Hashable {
        /// Started, waiting for the plugin's hello.
        case starting
        /// Said hello; taking events or requests.
        case running
        /// Exited or broke the protocol; waiting `nextStartAt` before the next start.
        case backoff
        /// Not running because `flint serve` stopped (or has not started it yet).
        case stopped
        /// Running, but its sends are held: it refused its credentials (401/403) and dispatching
        /// to it is paused until a probe succeeds.
        case paused
    }

    public var name: String
    public var kind: Kind
    public var origin: Origin
    /// The command line of an exec plugin (never its environment, which may hold secrets).
    public var command: String?
    public var state: State
    public var pid: Int?
    /// Starts after the first one.
    public var restarts: Int
    /// Lines on stdout that were not protocol messages.
    public var garbageLines: Int
    /// Events committed (a source) or requests answered (an action).
    public var handled: Int
    /// Requests that failed, timed out or were lost (an action).
    public var failures: Int
    public var lastError: String?
    public var lastErrorAt: Date?
    public var startedAt: Date?
    public var nextStartAt: Date?
    public var updatedAt: Date

    public init(
        name: String, kind: Kind, origin: Origin, command: String? = nil, state: State = .stopped, pid: Int? = nil, restarts: Int = 0,
        garbageLines: Int = 0, handled: Int = 0, failures: Int = 0, lastError: String? = nil, lastErrorAt: Date? = nil,
        startedAt: Date? = nil, nextStartAt: Date? = nil, updatedAt: Date = Date()
    ) {
        self.name = name
        self.kind = kind
        self.origin = origin
        self.command = command
        self.state = state
        self.pid = pid
        self.restarts = restarts
        self.garbageLines = garbageLines
        self.handled = handled
        self.failures = failures
        self.lastError = lastError
        self.lastErrorAt = lastErrorAt
        self.startedAt = startedAt
        self.nextStartAt = nextStartAt
        self.updatedAt = updatedAt
    }

    /// Whether the plugin is doing its job right now.
    public var isHealthy: Bool { state == .running }
}

/// The live status of every plugin `flint serve` hosts: written by the hosts, read by `/readyz`,
/// and saved to the store for `flint plugins`.
public final class PluginBoard: Sendable {
    private struct Contents: Sendable {
        var order: [String] = []
        var statuses: [String: PluginStatus] = [:]
        var changes = 0
    }

    private let contents = Mutex(Contents())

    public init() {}

    public func register(_ status: PluginStatus) {
        contents.withLock { c in
            if c.statuses[status.name] == nil { c.order.append(status.name) }
            c.statuses[status.name] = status
            c.changes += 1
        }
    }

    /// Changes one plugin's status; `updatedAt` is set to `at`.
    public func update(_ name: String, at: Date = Date(), _ body: (inout PluginStatus) -> Void) {
        contents.withLock { c in
            guard var status = c.statuses[name] else { return }
            body(&status)
            status.updatedAt = at
            c.statuses[name] = status
            c.changes += 1
        }
    }

    public func status(_ name: String) -> PluginStatus? {
        contents.withLock { $0.statuses[name] }
    }

    /// Every plugin, in registration order.
    public var statuses: [PluginStatus] {
        contents.withLock { c in c.order.compactMap { c.statuses[$0] } }
    }

    /// Grows with every change: lets a recorder skip writes when nothing changed.
    public var changeCount: Int { contents.withLock { $0.changes } }
}

extension PluginStatus {
    /// This status with a dispatch pause shown on it: state `paused`, and the refusal as its last error.
    public func showing(_ pause: DispatchPause?) -> PluginStatus {
        guard let pause, pause.action == name, state == .running || state == .paused else { return self }
        var s = self
        s.state = .paused
        s.lastError = "sends held since \(Timestamp.formatUTC(pause.since)): \(pause.reason); next try \(Timestamp.formatUTC(pause.nextProbe))"
        s.lastErrorAt = pause.since
        return s
    }
}
