import FlintPluginAPI
import Foundation
import Logging

/// The watched folder (docs/architecture.md, The watched folder): reads `*.json`, `*.ndjson` and `*.jsonl` files
/// dropped into a folder, submits their events, then moves each file to `processed/` or, when some
/// of its items were rejected, to `failed/` beside `NAME.errors.json`.
///
/// inotify announces complete files (closed after writing, or moved in); a periodic listing backs it
/// up. A file moves only after every batch of it was committed; when the engine cannot take events
/// the file stays where it is and is tried again with backoff. Event ids derive from the file's
/// content hash, so a file read twice (a crash between commit and move) yields only duplicates.
public struct FileInboxSource: EventSource {
    public var name: String
    public var configuration: FileInboxConfiguration

    public init(name: String = "inbox", configuration: FileInboxConfiguration) {
        self.name = name
        self.configuration = configuration
    }

    /// Watches until the task is cancelled. Throws only when the folder cannot be created or watched
    /// at start; later trouble is logged and retried.
    public func run(sink: any EventSink, context: PluginContext) async throws {
        var loop = InboxLoop(configuration: configuration, sink: sink, sourceName: name, logger: context.logger)
        try loop.start()
        await loop.run()
    }
}
