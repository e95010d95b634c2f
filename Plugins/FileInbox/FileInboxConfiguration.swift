/// Settings of the watched folder (docs/architecture.md, The watched folder).
public struct FileInboxConfiguration: Sendable, Hashable {
    /// The folder to watch; `processed/` and `failed/` are created inside it.
    public var folder: String
    /// How often the folder is listed as a backstop to inotify (lost events, hard links, overflow).
    public var rescanInterval: Duration
    /// Files larger than this are not read: they move to `failed/` with the reason.
    public var maxFileBytes: Int
    /// Events per `submit` call; a larger file is submitted in several batches.
    public var batchSize: Int
    /// A file found by a rescan is read only when it has not been modified for this long, so a slow
    /// writer is not read half-way (files announced by inotify's close-after-write are read at once).
    public var settleTime: Duration

    public init(
        folder: String = "inbox",
        rescanInterval: Duration = .seconds(5),
        maxFileBytes: Int = 256 << 20,
        batchSize: Int = 1000,
        settleTime: Duration = .seconds(1)
    ) {
        self.folder = folder
        self.rescanInterval = rescanInterval
        self.maxFileBytes = maxFileBytes
        self.batchSize = max(1, batchSize)
        self.settleTime = settleTime
    }
}
