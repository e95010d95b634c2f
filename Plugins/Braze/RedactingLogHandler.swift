import Logging

/// Forwards to another handler after removing a secret from the message, the metadata and the error.
///
/// The client hands AsyncHTTPClient a logger wrapped in this: at trace level AsyncHTTPClient logs
/// every response part it reads, so a server (or proxy) that echoes the `Authorization` header would
/// otherwise put the key in the log.
struct RedactingLogHandler: LogHandler {
    var base: any LogHandler
    let redact: @Sendable (String) -> String

    var logLevel: Logger.Level {
        get { base.logLevel }
        set { base.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { base.metadataProvider }
        set { base.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        event.message = "\(redact(event.message.description))"
        event.metadata = event.metadata.map { $0.mapValues(redacted) }
        if let error = event.error, redact(String(describing: error)) != String(describing: error) {
            event.error = nil
            event.metadata = (event.metadata ?? [:]).merging(["error": "\(redact(String(describing: error)))"]) { $1 }
        }
        base.log(event: event)
    }

    private func redacted(_ value: Logger.MetadataValue) -> Logger.MetadataValue {
        switch value {
        case .string(let text): .string(redact(text))
        case .stringConvertible(let value): .string(redact(value.description))
        case .dictionary(let metadata): .dictionary(metadata.mapValues(redacted))
        case .array(let values): .array(values.map(redacted))
        }
    }
}

extension Logger {
    /// This logger, with `redact` applied to everything it emits.
    func redacting(_ redact: @escaping @Sendable (String) -> String) -> Logger {
        let base = handler
        return Logger(label: label) { _ in RedactingLogHandler(base: base, redact: redact) }
    }
}
