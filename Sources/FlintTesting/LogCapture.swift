import Logging
import Synchronization

/// Every log line a logger produced, metadata included: give a plugin `capture.logger` and assert on
/// what it said (and on what it must never say, such as a secret).
public final class LogCapture: Sendable {
    public struct Entry: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
    }

    private let entries = Mutex<[Entry]>([])

    public init() {}

    public var all: [Entry] { entries.withLock { $0 } }

    public func append(_ entry: Entry) { entries.withLock { $0.append(entry) } }

    /// Every text of every entry: message, metadata keys and values.
    public var texts: [String] {
        all.flatMap { entry in [entry.message] + entry.metadata.flatMap { [$0.key, $0.value] } }
    }

    /// A logger at trace level that records here.
    public var logger: Logger {
        var logger = Logger(label: "flint.testing.capture") { _ in CapturingLogHandler(capture: self) }
        logger.logLevel = .trace
        return logger
    }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        capture.append(.init(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
    }
}
