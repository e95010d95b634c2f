import FileInbox
import FlintPluginAPI
import FlintTesting
import Foundation
import Glibc
import Logging
import Synchronization
import Testing

/// A temporary inbox folder with helpers to drop files into it the ways writers do.
struct Inbox {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("flint-inbox-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// Writes a file in place: open, write, close (inotify reports IN_CLOSE_WRITE).
    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path + "/" + name))
    }

    /// Writes `NAME.tmp`, then renames it (inotify reports IN_MOVED_TO).
    func writeAndRename(_ name: String, _ text: String) throws {
        try write(name + ".tmp", text)
        try FileManager.default.moveItem(atPath: path + "/" + name + ".tmp", toPath: path + "/" + name)
    }

    /// Makes a file look as if it had been there for a while (present before start).
    func age(_ name: String) throws {
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -60)], ofItemAtPath: path + "/" + name)
    }

    func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: path + "/" + relative) }
    func contents(_ relative: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path + "/" + relative))) }
    func names(in relative: String = "") -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path + "/" + relative)) ?? []).sorted()
    }
}

/// One `FileInboxSource.run` in a task, stopped by cancellation.
final class RunningSource: Sendable {
    let log = LogCapture()
    private let task: Task<Void, any Error>
    private let finished = Flag()

    init(_ inbox: Inbox, sink: RecordingSink, rescanInterval: Duration = .seconds(5)) {
        let source = FileInboxSource(configuration: FileInboxConfiguration(folder: inbox.path, rescanInterval: rescanInterval))
        let context = PluginContext(name: "inbox", logger: log.logger)
        let finished = finished
        task = Task {
            defer { finished.set() }
            try await source.run(sink: sink, context: context)
        }
    }

    /// Waits until the watch is in place (the source logs it after adding the watch and listing the folder).
    func waitUntilWatching() async throws {
        try await eventually("the source watches the folder") { self.log.all.contains { $0.message == "watching inbox folder" } }
    }

    /// Cancels the task and requires that it returns promptly.
    func stop(within limit: Duration = .seconds(10)) async throws {
        task.cancel()
        try await eventually("the source returns after cancellation", within: limit) { self.finished.isSet }
        try await task.value
    }
}

final class Flag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

struct Timeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting until \(what)" }
}

/// Polls `condition` every 10 ms until it holds, or fails after `limit`.
func eventually(_ what: String, within limit: Duration = .seconds(10), _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while try !condition() {
        guard ContinuousClock.now < deadline else { throw Timeout(what: what) }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// One track event a line, `count` lines, each distinct.
func ndjson(_ prefix: String, count: Int) -> String {
    (1...count).map { #"{"event":"\#(prefix)-\#($0)","userId":"u-\#($0)"}"# }.joined(separator: "\n") + "\n"
}
