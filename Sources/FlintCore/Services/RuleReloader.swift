import FlintRules
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Watches the rules folder and installs a changed set, whole, when it is valid. A set with any error
/// is refused: the last good set keeps running and the errors are kept for `/readyz` and the log
/// (docs/architecture.md, Rules: reload on change).
public final class RuleReloader: Service, Sendable {
    /// What the last reload found.
    public struct State: Sendable {
        public var rulesLoaded: Int
        public var loadedAt: Date?
        /// The errors of the last refused set; empty when the set in force is the folder's.
        public var errors: [String]
        /// When the folder was first refused (kept while later reloads are refused too).
        public var errorsSince: Date?
    }

    private let engine: Engine
    private let folder: String
    private let read: @Sendable () throws -> [RuleFile]
    private let interval: Duration
    private let logger: Logger
    private let state = Mutex(State(rulesLoaded: 0, loadedAt: nil, errors: [], errorsSince: nil))
    private let fingerprint = Mutex<String?>(nil)
    private let nudges: AsyncStream<Void>
    private let nudge: AsyncStream<Void>.Continuation

    /// - Parameter read: reads the folder's rule files (the I/O, injected so tests can feed text).
    public init(engine: Engine, folder: String, interval: Duration = .seconds(1), logger: Logger, read: @escaping @Sendable () throws -> [RuleFile]) {
        self.engine = engine
        self.folder = folder
        self.interval = interval
        self.logger = logger
        self.read = read
        (nudges, nudge) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public var current: State { state.withLock { $0 } }

    /// Asks for a reload now (SIGHUP, a configuration change).
    public func reloadSoon() { nudge.yield() }

    /// Loads the folder once; true when a new set was installed.
    @discardableResult
    public func reload(force: Bool = false) async -> Bool {
        let files: [RuleFile]
        do {
            files = try read()
        } catch {
            record(errors: ["\(error)"])
            logger.error("rules reload failed: cannot read the folder", metadata: ["rules.folder": "\(folder)", "error": "\(error)"])
            return false
        }
        let print = files.map { "\($0.path)\u{0}\($0.text)" }.joined(separator: "\u{1}")
        if !force, fingerprint.withLock({ $0 == print }) { return false }
        fingerprint.withLock { $0 = print }
        let result = RuleLoader.load(files)
        guard result.isValid else {
            let errors = result.errors.map(\.description)
            record(errors: errors)
            Counter(label: "flint_rules_reload_errors_total").increment()
            logger.error(
                "rules reload refused: the set has errors; the last good set keeps running",
                metadata: ["rules.folder": "\(folder)", "rules.errors": "\(errors.count)", "rules.first_error": "\(errors.first ?? "")"])
            return false
        }
        do {
            try await engine.install(result.ruleSet)
        } catch {
            record(errors: ["cannot record the rule versions: \(error)"])
            logger.error("rules reload failed: cannot record the rule versions", metadata: ["error": "\(error)"])
            return false
        }
        let count = result.ruleSet.rules.count
        state.withLock { $0 = State(rulesLoaded: count, loadedAt: Date(), errors: [], errorsSince: nil) }
        Gauge(label: "flint_rules_loaded").record(count)
        logger.info("rules loaded", metadata: ["rules.folder": "\(folder)", "rules.count": "\(count)", "rules.warnings": "\(result.warnings.count)"])
        return true
    }

    private func record(errors: [String]) {
        state.withLock { s in
            if s.errors.isEmpty { s.errorsSince = Date() }
            s.errors = errors
        }
    }

    public func run() async throws {
        // Polling the tree is the backstop that also catches editors' rename-over-writes and new
        // subfolders; a nudge (SIGHUP) reloads at once.
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await _ in self.nudges.cancelOnGracefulShutdown() {
                    await self.reload(force: true)
                }
            }
            group.addTask {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    try? await Task.sleep(for: self.interval)
                    await self.reload()
                }
                self.nudge.finish()
            }
        }
    }
}
