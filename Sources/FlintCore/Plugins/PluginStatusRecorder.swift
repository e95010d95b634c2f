import Foundation
import Logging
import ServiceLifecycle

/// Saves the plugin board to the store when it changes (and every few seconds as a heartbeat), so
/// `flint plugins`, another process, can show what `flint serve` knows. On shutdown it saves every
/// plugin as stopped.
public struct PluginStatusRecorder: Service {
    let board: PluginBoard
    let store: any StateStore
    let logger: Logger
    let heartbeat: TimeInterval

    public init(board: PluginBoard, store: any StateStore, logger: Logger, heartbeat: TimeInterval = 5) {
        self.board = board
        self.store = store
        self.logger = logger
        self.heartbeat = heartbeat
    }

    public func run() async throws {
        var saved = -1
        var savedAt = Date.distantPast
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let changes = board.changeCount
            if changes != saved || Date().timeIntervalSince(savedAt) >= heartbeat {
                let now = Date()
                let statuses = board.statuses.map { s -> PluginStatus in
                    var s = s
                    s.updatedAt = now
                    return s
                }
                do {
                    try await store.write { t in try t.replacePluginStatuses(statuses) }
                    saved = changes
                    savedAt = now
                } catch {
                    logger.warning("cannot save the plugin statuses; flint plugins may show old ones", metadata: ["error": "\(error)"])
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
        try? await store.write { t in try t.replacePluginStatuses(stopped) }
    }
}
