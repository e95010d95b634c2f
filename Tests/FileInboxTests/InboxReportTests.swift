import FlintPluginAPI
import FlintTesting
import Foundation
import Glibc
import Testing

@testable import FileInbox

@Suite("Watched folder: what it tells about files it does not read, and where each item came from")
struct InboxReportTests {
    @Test("a file the inbox does not read (notes.txt) is reported once in the log, with its path and what is read")
    func notEventsReportedOnce() async throws {
        let inbox = try Inbox()
        defer { inbox.remove() }
        try inbox.write("present.csv", "a,b\n")
        try inbox.age("present.csv")
        try inbox.write("source.txt", ndjson("linked", count: 1))
        try inbox.age("source.txt")
        let sink = RecordingSink()
        let running = RunningSource(inbox, sink: sink, rescanInterval: .milliseconds(20))
        try await running.waitUntilWatching()
        try inbox.write("notes.txt", "remember to export on Fridays\n")
        try inbox.write("upload.ndjson.part", ndjson("part", count: 1))
        try inbox.write(".hidden", "x")

        // A hard link gives only IN_CREATE, so only a rescan finds it: once it is processed, a listing
        // of the folder has happened since. Two of them: the files were seen by several listings.
        func rescanHappens(_ n: Int) async throws {
            #expect(link(inbox.path + "/source.txt", inbox.path + "/linked-\(n).ndjson") == 0)
            try await eventually("linked-\(n).ndjson is processed") { inbox.exists("processed/linked-\(n).ndjson") }
        }
        func warnings(_ name: String) -> [LogCapture.Entry] {
            running.log.all.filter { $0.level == .warning && $0.metadata["file.path"] == inbox.path + "/" + name }
        }
        try await eventually("notes.txt is reported") { warnings("notes.txt").count == 1 }
        try await rescanHappens(1)
        try await rescanHappens(2)

        #expect(warnings("notes.txt").count == 1)
        #expect(warnings("present.csv").count == 1)
        #expect(warnings("source.txt").count == 1)
        let message = try #require(warnings("notes.txt").first?.message)
        #expect(message.contains("*.json"), "\(message)")
        #expect(message.contains("*.ndjson and *.jsonl"), "\(message)")
        // Files still being written (hidden, .part) are not reported: they are read once renamed.
        #expect(warnings("upload.ndjson.part").isEmpty)
        #expect(warnings(".hidden").isEmpty)
        #expect(inbox.exists("notes.txt"), "the file is left where it is")

        // Removed, then dropped again, it is reported again.
        try FileManager.default.removeItem(atPath: inbox.path + "/notes.txt")
        try await rescanHappens(3)
        try inbox.write("notes.txt", "again\n")
        try await eventually("notes.txt is reported a second time") { warnings("notes.txt").count == 2 }
        try await running.stop()
    }

    @Test("each item carries its origin: the file and its 1-based line, or its 0-based index in a .json array")
    func origins() {
        let lines = InboxFile(bytes: Array("{\"event\":\"a\",\"userId\":\"u\"}\n\nnot json\n".utf8), format: .lines, file: "inbox/x.ndjson")
        #expect(lines.items.map(\.event.origin) == [.line(1, of: "inbox/x.ndjson"), .line(3, of: "inbox/x.ndjson")])
        #expect(lines.items.last?.event.origin?.label == "inbox/x.ndjson:3")

        let array = InboxFile(bytes: Array("[{\"event\":\"a\"},{\"event\":\"b\"}]".utf8), format: .json, file: "inbox/y.json")
        #expect(array.items.map(\.event.origin) == [EventOrigin(file: "inbox/y.json", index: 0), EventOrigin(file: "inbox/y.json", index: 1)])
        #expect(array.items.last?.event.origin?.label == "inbox/y.json #1")

        let whole = InboxFile(bytes: Array("{oops".utf8), format: .json, file: "inbox/z.json")
        #expect(whole.items.first?.event.origin == EventOrigin(file: "inbox/z.json"))
        #expect(whole.items.first?.event.origin?.json == ["file": "inbox/z.json"])
    }

    @Test("the log line of a file with bad lines says its good lines were ingested and where the errors file is")
    func failedFileLogLine() async throws {
        let inbox = try Inbox()
        defer { inbox.remove() }
        let sink = RecordingSink()
        let running = RunningSource(inbox, sink: sink)
        try await running.waitUntilWatching()
        try inbox.write("orders.ndjson", """
            {"event":"Order Placed","userId":"u-1"}
            {"event":"Order Placed"}
            not json

            """)
        try await eventually("orders.ndjson is in failed/") { inbox.exists("failed/orders.ndjson") }
        #expect(sink.acceptedNames == ["Order Placed"])
        let report = try JSONParser.parse(try inbox.contents("failed/orders.ndjson.errors.json"))
        #expect(report.arrayValue?.map { $0["line"] } == [2, 3])
        let line = try #require(running.log.all.first { $0.metadata["file.name"] == "orders.ndjson" })
        #expect(line.message.contains("its good lines are ingested"), "\(line.message)")
        #expect(line.metadata["file.errors"] == "failed/orders.ndjson.errors.json")
        try await running.stop()
    }
}
