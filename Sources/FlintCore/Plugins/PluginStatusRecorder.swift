import Foundation
import Logging
import ServiceLifecycle

/// Saves the plugin board to the store when it changes (and every few seconds as a heartbeat), so
/// `flint plugins`, another process, can show what `flint serve` knows. With `serve`, it saves what
/// serve says about itself in the same transaction (`flint status`: up since when, a dispatch pause,
/// refused rules), and a paused action's row shows the pause. On shutdown it saves every plugin as
/// stopped, and serve as stopped.
public struct PluginStatusRecorder: Service {
    let board: PluginBoard
    let store: any StateStore
    let logger: Logger
    let heartbeat: TimeInterval
    let serve: (@Sendable () -> ServeHeartbeat)?

    public init(
        board: PluginBoard, store: any StateStore, logger: Logger, heartbeat: TimeInterval = 5, serve: (@Sendable () -> ServeHeartbeat)? = nil
    ) {
        self.board = board
        self.store = store
        self.logger = logger
        self.heartbeat = heartbeat
        self.serve = serve
    }

    public func run() async throws {
        var saved = -1
        var savedServe: ServeHeartbeat?
        var savedAt = Date.distantPast
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let changes = board.changeCount
            let now = Date()
            var current = serve?()
            current?.lastSeen = now
            // What changed, not when it was seen: the heartbeat alone does not force a write.
            let serveChanged = current.map { s in savedServe.map { var old = $0; old.lastSeen = now; return old != s } ?? true } ?? false
            if changes != saved || serveChanged || now.timeIntervalSince(savedAt) >= heartbeat {
                let statuses = board.statuses.map { s -> PluginStatus in
                    var s = s.showing(current?.pause)
                    s.updatedAt = now
                    return s
                }
                let heartbeat = current
                do {
                    try await store.write { t in
                        try t.replacePluginStatuses(statuses)
                        if let heartbeat { try t.saveServeHeartbeat(heartbeat) }
                    }
                    saved = changes
                    savedServe = current
                    savedAt = now
                } catch {
                    logger.warning("cannot save the plugin statuses; flint plugins and flint status may show old ones", metadata: ["error": "\(error)"])
                }
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
        let now = Date()
        let stopped = board.statuses.map { s -> PluginStatus in
            var s = s
            s.state = .stopped
            s.pid = nil
            s.nextStartAt = nil
            s.updatedAt = now
            return s
        }
        var stopping = serve?()
        stopping?.lastSeen = now
        stopping?.stoppedAt = now
        let last = stopping
        try? await store.write { t in
            try t.replacePluginStatuses(stopped)
            if let last { try t.saveServeHeartbeat(last) }
        }
    }
}
