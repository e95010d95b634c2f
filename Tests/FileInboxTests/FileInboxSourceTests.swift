import FlintPluginAPI
import FlintTesting
import Foundation
import Glibc
import Testing

@testable import FileInbox

@Suite("Watched folder: what is read, when, and where files go")
struct FileInboxSourceTests {
    @Test("a file written in place slowly is read once, whole, after it is closed")
    func slowWriter() async throws {
        let inbox = try Inbox()
        defer { inbox.remove() }
        let sink = RecordingSink()
        // Rescans every 20 ms, so several happen while the file is half-written.
        let running = RunningSource(inbox, sink: sink, rescanInterval: .milliseconds(20))
        try await running.waitUntilWatching()

        // Given a writer that writes half the lines, keeps writing padding for a while, then the rest.
        let fd = open(inbox.path + "/slow.ndjson", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        #expect(fd >= 0)
        func put(_ text: String) { _ = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) } }
        put(ndjson("first", count: 20))
        let until = ContinuousClock.now + .milliseconds(300)
        while ContinuousClock.now < until { put(" ") }  // a blank line in the making: skipped when read
        put("\n" + ndjson("second", count: 20))
        close(fd)

        // Then it is read once, with every line.
        try await eventually("slow.ndjson is processed") { inbox.exists("processed/slow.ndjson") }
        #expect(sink.submits == 1)
        #expect(sink.accepted.count == 40)
        #expect(sink.duplicates == 0)
        try await running.stop()
    }

    @Test("a .tmp file renamed to .ndjson is read once; hidden and .part files are ignored; a rescan finds a hard link")
    func renamedAndIgnored() async throws {
        let inbox = try Inbox()
        defer { inbox.remove() }
        let sink = RecordingSink()
        let running = RunningSource(inbox, sink: sink, rescanInterval: .milliseconds(20))
        try await running.waitUntilWatching()

        try inbox.write(".hidden.ndjson", ndjson("hidden", count: 1))
        try inbox.write("upload.ndjson.part", ndjson("part", count: 1))
        try inbox.write("export.ndjson.tmp", ndjson("export", count: 3))
        // A hard link gives only IN_CREATE, so only a rescan finds it: once it is processed, a rescan
        // has listed the folder with the other files in it.
        try inbox.write("source.txt", ndjson("linked", count: 1))
        try inbox.age("source.txt")
        #expect(link(inbox.path + "/source.txt", inbox.path + "/linked.ndjson") == 0)
        try await eventually("linked.ndjson is processed") { inbox.exists("processed/linked.ndjson") }
        #expect(sink.acceptedNames == ["linked-1"])

        try FileManager.default.moveItem(atPath: inbox.path + "/export.ndjson.tmp", toPath: inbox.path + "/export.ndjson")
        try await eventually("export.ndjson is processed") { inbox.exists("processed/export.ndjson") }
        #expect(sink.acceptedNames == ["linked-1", "export-1", "export-2", "export-3"])
        #expect(sink.submits == 2)
        #expect(inbox.names() == [".hidden.ndjson", "failed", "processed", "source.txt", "upload.ndjson.part"])
        try await running.stop()
    }

    @Test("a burst of 1,000 small files: every event exactly once, every file in processed/")
    func burst() async throws {
        let inbox = try Inbox()
        defer { inbox.remove() }
        let sink = RecordingSink()
        let running = RunningSource(inbox, sink: sink)
        try await running.waitUntilWatching()

        for n in 0..<1000 {
            let name = String(format: "burst-%04d.ndjson", n)
            let line = #"{"event":"burst","userId":"u-\#(n)"}"# + "\n"
            // Half written in place, half renamed into the folder: both are announced.
            if n.isMultiple(of: 2) { try inbox.write(name, line) } else { try inbox.writeAndRename(name, line) }
        }

        try await eventually("1,000 events are accepted", within: .seconds(20)) { sink.accepted.count >= 1000 }
        try await eventually("1,000 files are in processed/") { inbox.names(in: "processed").count == 1000 }
        #expect(sink.accepted.count == 1000)
        #expect(Set(sink.accepted.compactMap { $0["userId"]?.stringValue }).count == 1000)
        #expect(sink.duplicates == 0)
        #expect(inbox.names() == ["failed", "processed"])
        try await running.stop()
    }

    @Test("bad lines are reported in failed/NAME.errors.json while the good lines are ingested")
    func badLines() async throws {
        let inbox = try Inbox()
        defer { inbox.remove() }
        let sink = RecordingSink()
        let running = RunningSource(inbox, sink: sink)
        try await running.waitUntilWatching()

        try inbox.write("mixed.ndjson", """
            {"event":"good-1","userId":"u-1","properties":{"item":"Socks"}}
            {"event":"broken","userId": }
            {"event":"good-3","userId":"u-3"}
            {"event":"no-user"}

            {"event":"good-6","anonymousId":"a-6"}

            """)

        try await eventually("mixed.ndjson is in failed/") { inbox.exists("failed/mixed.ndjson") }
        #expect(sink.acceptedNames == ["good-1", "good-3", "good-6"])
        let report = try JSONParser.parse(try inbox.contents("failed/mixed.ndjson.errors.json"))
        let entries = try #require(report.arrayValue)
        #expect(entries.count == 2)
        #expect(entries.map { $0["line"] } == [2, 4])
        let invalid = try #require(entries.first?["errors"]?.arrayValue?.first?.stringValue)
        #expect(invalid.hasPrefix("line 2, column 29: invalid JSON:"))
        let missing = try #require(entries.last?["errors"]?.arrayValue?.first?.stringValue)
        #expect(missing.contains("userId"))

        // One log line for the file, with its counts and without any event body.
        let lines = running.log.all.filter { $0.metadata["file.name"] == "mixed.ndjson" }
        #expect(lines.count == 1)
        #expect(lines.first?.metadata["events.accepted"] == "3")
        #expect(lines.first?.metadata["events.rejected"] == "2")
        #expect(lines.first?.metadata["file.moved_to"] == "failed/mixed.ndjson")
        #expect(!running.log.all.contains { line in line.metadata.values.contains { $0.contains("Socks") } })
        try await running.stop()
    }

    @Test("a .json array reports rejected indexes; a .json file that is not JSON is one rejected item")
    func jsonFiles() async throws {
        let inbox = try Inbox()
        defer { inbox.remove() }
        let sink = RecordingSink()
        let running = RunningSource(inbox, sink: sink)
        try await running.waitUntilWatching()

        try inbox.write("array.json", #"[{"event":"a-0","userId":"u"}, {"userId":"u"}, {"event":"a-2","userId":"u"}]"#)
        try inbox.write("garbage.json", "{ not json")
        try inbox.write("one.json", #"{"event":"one","userId":"u"}"#)

        try await eventually("all three files have moved") {
            inbox.exists("failed/array.json") && inbox.exists("failed/garbage.json") && inbox.exists("processed/one.json")
        }
        #expect(Set(sink.acceptedNames) == ["a-0", "a-2", "one"])
        let arrayReport = try JSONParser.parse(try inbox.contents("failed/array.json.errors.json"))
        #expect(arrayReport.arrayValue?.map { $0["index"] } == [1])
        let garbageReport = try JSONParser.parse(try inbox.contents("failed/garbage.json.errors.json"))
        let entry = try #require(garbageReport.arrayValue?.first)
        #expect(garbageReport.arrayValue?.count == 1)
        #expect(entry["line"] == nil && entry["index"] == nil)
        #expect(entry["errors"]?.arrayValue?.first?.stringValue?.contains("invalid JSON") == true)
        try await running.stop()
    }

    @Test("files present before start are ingested before files written afterwards")
    func presentAtStartFirst() async throws {
        let inbox = try Inbox()
        defer { inbox.remove() }
        for n in 1...3 {
            try inbox.write("old-\(n).ndjson", ndjson("old-\(n)", count: 2))
            try inbox.age("old-\(n).ndjson")
        }
        // The first submit waits until a new file has been written, so both compete for the queue.
        let sink = RecordingSink(holdFirstSubmit: true)
        let running = RunningSource(inbox, sink: sink)
        try await eventually("the first old file is submitted") { sink.submits == 1 }
        try inbox.write("a-new.ndjson", ndjson("new", count: 1))
        sink.release()

        try await eventually("all four files are processed") { inbox.names(in: "processed").count == 4 }
        #expect(sink.acceptedNames == ["old-1-1", "old-1-2", "old-2-1", "old-2-2", "old-3-1", "old-3-2", "new-1"])
        try await running.stop()
    }

    @Test("a file read again after a restart between commit and move yields only duplicates")
    func restartBetweenCommitAndMove() async throws {
        let inbox = try Inbox()
        defer { inbox.remove() }
        let sink = RecordingSink()
        let first = RunningSource(inbox, sink: sink)
        try await first.waitUntilWatching()
        try inbox.write("export.ndjson", ndjson("export", count: 5))
        try await eventually("export.ndjson is processed") { inbox.exists("processed/export.ndjson") }
        try await first.stop()

        // Given the same file back in the folder, as if the process died before moving it.
        try FileManager.default.copyItem(atPath: inbox.path + "/processed/export.ndjson", toPath: inbox.path + "/export.ndjson")
        try inbox.age("export.ndjson")
        let second = RunningSource(inbox, sink: sink)
        try await eventually("the copy is processed too") { inbox.exists("processed/export.ndjson.1") }

        #expect(sink.accepted.count == 5)
        #expect(sink.duplicates == 5)
        let line = second.log.all.first { $0.metadata["file.name"] == "export.ndjson" }
        #expect(line?.metadata["events.duplicates"] == "5")
        #expect(line?.metadata["events.accepted"] == "0")
        try await second.stop()
    }

    @Test("while the sink is unavailable the file stays in the folder; it is retried and then processed")
    func sinkUnavailable() async throws {
        let inbox = try Inbox()
        defer { inbox.remove() }
        let sink = RecordingSink(failures: 2)
        let running = RunningSource(inbox, sink: sink)
        try await running.waitUntilWatching()

        try inbox.write("retry.ndjson", ndjson("retry", count: 3))
        try await eventually("the sink has refused once") { sink.submits >= 1 }
        #expect(inbox.exists("retry.ndjson"))
        #expect(!inbox.exists("processed/retry.ndjson"))

        try await eventually("retry.ndjson is processed") { inbox.exists("processed/retry.ndjson") }
        #expect(sink.submits == 3)
        #expect(sink.accepted.count == 3)
        #expect(running.log.all.filter { $0.message.hasPrefix("engine did not take") }.count == 2)
        try await running.stop()
    }

    @Test("a folder removed while watched is created again and watched")
    func folderRemoved() async throws {
        let inbox = try Inbox()
        defer { inbox.remove() }
        let sink = RecordingSink()
        let running = RunningSource(inbox, sink: sink)
        try await running.waitUntilWatching()

        try FileManager.default.removeItem(atPath: inbox.path)
        try await eventually("the folder is watched again") { running.log.all.contains { $0.message == "watching inbox folder again" } }
        #expect(inbox.exists("processed") && inbox.exists("failed"))
        try inbox.write("after.ndjson", ndjson("after", count: 1))
        try await eventually("after.ndjson is processed") { inbox.exists("processed/after.ndjson") }
        #expect(sink.acceptedNames == ["after-1"])
        #expect(running.log.all.filter { $0.message.hasPrefix("inbox folder was removed") }.count == 1)
        try await running.stop()
    }

    @Test("cancellation returns promptly while idle")
    func cancellationWhileIdle() async throws {
        let inbox = try Inbox()
        defer { inbox.remove() }
        // Idle, the source waits for inotify or its next rescan (60 s here): cancellation must end that
        // wait, not sit it out. The bound is loose because the machine may be busy with other tests.
        let running = RunningSource(inbox, sink: RecordingSink(), rescanInterval: .seconds(60))
        try await running.waitUntilWatching()
        let started = ContinuousClock.now
        try await running.stop(within: .seconds(10))
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test("the same bytes give the same event ids; other bytes give others")
    func contentIds() {
        let text = Array(ndjson("same", count: 2).utf8)
        let once = InboxFile(bytes: text, format: .lines).items.map(\.event.fallbackMessageId)
        let again = InboxFile(bytes: text, format: .lines).items.map(\.event.fallbackMessageId)
        let other = InboxFile(bytes: text + Array("\n".utf8), format: .lines).items.map(\.event.fallbackMessageId)
        #expect(once == again)
        #expect(once.first??.hasPrefix("inbox:") == true)
        #expect(once.first??.hasSuffix(":1") == true)
        #expect(once.first??.count == "inbox:".count + 32 + ":1".count)
        #expect(Set(once).isDisjoint(with: other))
    }
}
