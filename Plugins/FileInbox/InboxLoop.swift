import FlintPluginAPI
import Foundation
import Logging

/// The state of one `run`: the queue of files to read and what the last listing saw.
struct InboxLoop {
    enum Outcome {
        /// Moved, or gone, or left for the next rescan after a warning: off the queue.
        case done
        /// The sink threw: keep the file queued and wait before trying again.
        case sinkFailed(retryIn: Duration)
        /// Cancelled before the file was finished: left in place.
        case stopped
    }

    let configuration: FileInboxConfiguration
    let folder: InboxFolder
    let sink: any EventSink
    let sourceName: String
    let logger: Logger
    let signals = InboxSignals()
    let clock = ContinuousClock()

    var watcher: InotifyWatcher?
    var watchTrouble = false
    var queue: [String] = []
    var queued: Set<String> = []
    var lastLook: [String: InboxFolder.Stamp] = [:]
    var unreadable: [String: InboxFolder.Stamp] = [:]
    /// Files the inbox never reads (`notes.txt`) already reported in the log: once each while they stay.
    var reportedOthers: Set<String> = []
    var nextRescan: ContinuousClock.Instant
    var sinkFailures = 0
    var pausedUntil: ContinuousClock.Instant?

    init(configuration: FileInboxConfiguration, sink: any EventSink, sourceName: String, logger: Logger) {
        self.configuration = configuration
        self.folder = InboxFolder(path: configuration.folder)
        self.sink = sink
        self.sourceName = sourceName
        self.logger = logger
        self.nextRescan = clock.now
    }

    /// Creates the folders, adds the watch, then lists the folder: files present at start are
    /// queued first, and anything written from now on is announced by inotify.
    mutating func start() throws {
        try folder.prepare()
        watcher = try InotifyWatcher(folder: folder.path) { [signals] in signals.post($0) }
        logger.info("watching inbox folder", metadata: ["inbox.folder": "\(folder.path)"])
        rescan()
    }

    mutating func run() async {
        defer { watcher?.stop() }
        while !Task.isCancelled {
            let news = signals.take()
            if news.folderGone {
                logger.warning("inbox folder was removed or moved; creating and watching it again", metadata: ["inbox.folder": "\(folder.path)"])
                watcher?.stop()
                watcher = nil
            }
            for name in news.written {
                if InboxFile.format(ofName: name) != nil {
                    unreadable[name] = nil
                    enqueue(name)
                } else if InboxFile.isNotEvents(name), folder.stamp(of: name)?.isRegularFile == true {
                    reportNotEvents(name)
                }
            }
            if watcher == nil {
                rewatch()
            } else if news.overflow {
                logger.notice("inotify queue overflowed; listing the inbox folder")
                rescan()
            } else if clock.now >= nextRescan {
                rescan()
            }
            await drain()
            var wake = nextRescan
            if let pausedUntil, !queue.isEmpty { wake = min(wake, pausedUntil) }
            await signals.wait(until: wake)
        }
    }

    private mutating func rewatch() {
        do {
            try folder.prepare()
            watcher = try InotifyWatcher(folder: folder.path) { [signals] in signals.post($0) }
            watchTrouble = false
            logger.info("watching inbox folder again", metadata: ["inbox.folder": "\(folder.path)"])
        } catch {
            if !watchTrouble {
                logger.warning("cannot watch the inbox folder; trying again at each rescan", metadata: ["inbox.folder": "\(folder.path)", "error": "\(error)"])
            }
            watchTrouble = true
            nextRescan = clock.now + configuration.rescanInterval
            return
        }
        rescan()
    }

    private mutating func enqueue(_ name: String) {
        if queued.insert(name).inserted { queue.append(name) }
    }

    /// Lists the folder and queues every file that has settled: not modified for `settleTime`, and
    /// the same size and time as at the previous listing (a slow writer is not read half-way; its
    /// close-after-write event queues the file when it is done).
    private mutating func rescan() {
        nextRescan = clock.now + configuration.rescanInterval
        let listing: [(name: String, stamp: InboxFolder.Stamp)]
        do {
            let all = try folder.listAll()
            listing = all.events
            reportedOthers.formIntersection(all.others)
            for name in all.others { reportNotEvents(name) }
        } catch {
            logger.warning("cannot list the inbox folder", metadata: ["inbox.folder": "\(folder.path)", "error": "\(error)"])
            return
        }
        let settledBefore = Date().addingTimeInterval(-configuration.settleTime.seconds)
        var looks: [String: InboxFolder.Stamp] = [:]
        for (name, stamp) in listing {
            looks[name] = stamp
            guard stamp.isRegularFile, unreadable[name] != stamp else { continue }
            let unchanged = lastLook[name].map { $0 == stamp } ?? true
            if stamp.modified <= settledBefore, unchanged { enqueue(name) }
        }
        lastLook = looks
        unreadable = unreadable.filter { looks[$0.key] != nil }
    }

    /// Warns, once while the file stays, about a file the inbox will never read: it is neither
    /// ingested nor moved, and a person should know why.
    private mutating func reportNotEvents(_ name: String) {
        guard reportedOthers.insert(name).inserted else { return }
        logger.warning(
            "inbox file is not read: the inbox reads only \(InboxFile.readExtensions); rename it to one of those, or move it out of the folder",
            metadata: ["file.path": "\(folder.path)/\(name)", "inbox.folder": "\(folder.path)"])
    }

    /// Reads queued files in order until the queue is empty, the sink fails or the task is cancelled.
    private mutating func drain() async {
        while let name = queue.first, !Task.isCancelled {
            if let pausedUntil, clock.now < pausedUntil { return }
            pausedUntil = nil
            switch await ingest(name) {
            case .done:
                queue.removeFirst()
                queued.remove(name)
            case .sinkFailed(let delay):
                pausedUntil = clock.now + delay
                return
            case .stopped:
                return
            }
        }
    }

    /// Reads one file, submits its items batch by batch, then moves it.
    private mutating func ingest(_ name: String) async -> Outcome {
        guard let format = InboxFile.format(ofName: name) else { return .done }
        let bytes: [UInt8]
        do {
            switch try folder.read(name, limit: configuration.maxFileBytes) {
            case .missing:
                return .done
            case .tooLarge(let size):
                let reason = "file is \(size) bytes; the limit is \(configuration.maxFileBytes) bytes"
                finish(name, accepted: 0, duplicates: 0, rejected: [(.wholeFile, [reason])])
                return .done
            case .bytes(let read):
                bytes = read
            }
        } catch {
            logger.warning("cannot read inbox file; skipping it until it changes", metadata: ["file.name": "\(name)", "error": "\(error)"])
            unreadable[name] = folder.stamp(of: name)
            return .done
        }

        let file = InboxFile(bytes: bytes, format: format, file: folder.path + "/" + name)
        var accepted = 0
        var duplicates = 0
        var rejected: [(item: Int, errors: [String])] = []
        let batchSize = max(1, configuration.batchSize)
        for start in stride(from: 0, to: file.items.count, by: batchSize) {
            // Stopping between batches is safe: what was committed comes back as duplicates.
            if Task.isCancelled { return .stopped }
            let batch = file.items[start..<min(start + batchSize, file.items.count)]
            let receipt: SubmitReceipt
            do {
                receipt = try await sink.submit(batch.map(\.event), source: sourceName)
            } catch {
                if Task.isCancelled { return .stopped }
                sinkFailures += 1
                let delay = Self.retryDelay(after: error, failures: sinkFailures)
                logger.warning(
                    "engine did not take inbox file; leaving it in place",
                    metadata: ["file.name": "\(name)", "error": "\(error)", "retry.in": "\(delay)"])
                return .sinkFailed(retryIn: delay)
            }
            accepted += receipt.accepted
            duplicates += receipt.duplicates
            for rejection in receipt.rejected where batch.indices.contains(start + rejection.index) {
                rejected.append((start + rejection.index, rejection.errors))
            }
        }
        sinkFailures = 0
        let report = rejected.sorted { $0.item < $1.item }.map { (file.items[$0.item].position, $0.errors) }
        finish(name, accepted: accepted, duplicates: duplicates, rejected: report)
        return .done
    }

    /// Moves a committed file and logs its one line. A file that cannot be moved stays and is read
    /// again at the next rescan, where its events are duplicates.
    private func finish(_ name: String, accepted: Int, duplicates: Int, rejected: [(position: InboxFile.Position, errors: [String])]) {
        var metadata: Logger.Metadata = [
            "file.name": "\(name)", "events.accepted": "\(accepted)", "events.duplicates": "\(duplicates)",
            "events.rejected": "\(rejected.count)",
        ]
        do {
            if rejected.isEmpty {
                metadata["file.moved_to"] = "\(try folder.moveToProcessed(name))"
                logger.info("inbox file ingested", metadata: metadata)
            } else {
                let movedTo = try folder.moveToFailed(name, report: InboxFile.errorReport(rejected))
                metadata["file.moved_to"] = "\(movedTo)"
                metadata["file.errors"] = "\(movedTo).errors.json"
                logger.warning(
                    accepted + duplicates == 0
                        ? "inbox file not ingested: nothing in it could be read as an event; the file is in failed/ with the reasons in NAME.errors.json"
                        : "inbox file had bad lines: its good lines are ingested; the file is in failed/ with the bad lines in NAME.errors.json",
                    metadata: metadata)
            }
        } catch {
            metadata["error"] = "\(error)"
            logger.warning("inbox file committed but not moved; it will be read again", metadata: metadata)
        }
    }

    /// Backoff after the sink threw: doubling from 250 ms up to 30 s, but never sooner than the sink asked.
    static func retryDelay(after error: any Error, failures: Int) -> Duration {
        let backoff = Duration.milliseconds(250) * (1 << min(max(failures - 1, 0), 7))
        let asked = (error as? SinkUnavailable).map { Duration.seconds($0.retryAfterSeconds) } ?? .zero
        return max(min(backoff, .seconds(30)), asked)
    }
}

extension Duration {
    fileprivate var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
