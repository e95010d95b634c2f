import FlintPluginAPI
import Foundation
import Logging

/// The plugins one `flint serve` hosts, by name: the built-in Swift modules of `Plugins/` and the
/// exec plugins of flint.yaml. A value that `flint` builds explicitly (tests build their own), so
/// nothing registers itself behind the composition root's back.
public struct PluginRegistry: Sendable {
    public struct Conflict: Error, Sendable, CustomStringConvertible {
        public var name: String
        public var description: String { "two plugins are named '\(name)'; plugin names must be unique" }
    }

    public private(set) var sources: [any EventSource] = []
    public private(set) var actions: [String: any Action] = [:]
    /// Exec actions run a process of their own: they are services to start before the dispatcher.
    public private(set) var execActions: [ExecAction] = []
    /// Every plugin's live status, for `/readyz`, metrics and `flint plugins`.
    public let board: PluginBoard
    private var names: Set<String> = []

    public init(board: PluginBoard = PluginBoard()) {
        self.board = board
    }

    /// A built-in source that runs as an `EventSource` (the watched folder).
    public mutating func add(source: any EventSource) throws {
        try claim(source.name)
        sources.append(source)
        if !(source is ExecSource) {
            board.register(PluginStatus(name: source.name, kind: .source, origin: .builtIn, state: .running))
        }
    }

    /// A built-in source that is not an `EventSource` of its own (the webhook routes, served by the
    /// shared HTTP listener): listed, so `flint plugins` shows every way events come in.
    public mutating func addListed(source name: String) throws {
        try claim(name)
        board.register(PluginStatus(name: name, kind: .source, origin: .builtIn, state: .running))
    }

    /// An action rules can name in `send.action`.
    public mutating func add(action: any Action) throws {
        try claim(action.name)
        actions[action.name] = action
        if !(action is ExecAction) {
            board.register(PluginStatus(name: action.name, kind: .action, origin: .builtIn, state: .running))
        }
    }

    /// The exec plugins of flint.yaml.
    public mutating func add(exec specs: [ExecPluginSpec], logger: Logger) throws {
        for spec in specs {
            switch spec.kind {
            case .source:
                try add(source: ExecSource(spec: spec, board: board, logger: logger))
            case .action:
                let action = ExecAction(spec: spec, board: board, logger: logger)
                try add(action: action)
                execActions.append(action)
            }
        }
    }

    /// The names of every action, for checking rules' `send.action`.
    public var actionNames: [String] { actions.keys.sorted() }

    private mutating func claim(_ name: String) throws {
        guard names.insert(name).inserted else { throw Conflict(name: name) }
    }
}
