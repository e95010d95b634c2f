import Foundation
import GRDB
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// SIGKILL a real `flint ingest` at seeded random points while it commits a stream, then check the
/// database: what it reported committed is there, and nothing is half-written.
@Suite("Crash safety: flint ingest killed with SIGKILL", .serialized)
struct CrashSafetyTests {
    static let rules = """
        rules:
          - id: nudge
            when: { event: Cart Abandoned, if: { properties.value: { gte: 10 } } }
            send: { campaign_id: c-1, trigger_properties: { value: "{{ properties.value }}" } }
            schedule: { after: 1h }
            limit: { once_per: { key: "{{ userId }}", within: 1d } }
            cancel_on: [{ event: Order Completed }]
          - id: receipt
            when: { event: Order Completed }
            send: { campaign_id: c-2 }
        """

    static func event(_ i: Int) -> String {
        let user = "u-\(i % 37)"
        let name = i % 5 == 4 ? "Order Completed" : "Cart Abandoned"
        return #"{"event":"\#(name)","messageId":"m-\#(i)","userId":"\#(user)","timestamp":"2026-11-29T\#(String(format: "%02d", 8 + i % 10)):00:00Z","properties":{"value":\#(i % 30)}}"#
    }

    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("killed at random points, reopened: every reported commit is there, nothing half-written", arguments: [1, 2, 3, 4, 5] as [UInt64])
    func killAndReopen(seed: UInt64) async throws {
        var rng = SplitMix(state: seed)
        let dir = try CLIHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let rulesDir = dir.appendingPathComponent("rules")
        try FileManager.default.createDirectory(at: rulesDir, withIntermediateDirectories: true)
        try Self.rules.write(to: rulesDir.appendingPathComponent("r.yaml"), atomically: true, encoding: .utf8)
        let db = dir.appendingPathComponent("flint.db").path
        let total = 4000
        let killAfter = Int.random(in: 3...40, using: &rng)  // progress lines before the kill

        // Given a flint ingest reading a stream from a pipe
        let process = Process()
        process.executableURL = CLIHarness.binary
        process.arguments = ["ingest", "--database", db, "--rules", rulesDir.path, "--batch", "\(Int.random(in: 5...50, using: &rng))", "--progress", "-"]
        process.currentDirectoryURL = dir
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()

        // Feed the stream from another thread; the write fails once the process is gone.
        let writer = Thread {
            signal(SIGPIPE, SIG_IGN)
            for i in 0..<total {
                let line = Data((Self.event(i) + "\n").utf8)
                do { try input.fileHandleForWriting.write(contentsOf: line) } catch { return }
            }
            try? input.fileHandleForWriting.close()
        }
        writer.start()

        // When it has reported some commits, kill it mid-stream
        // Read on a thread of its own: the loop blocks on the pipe for the whole run.
        let pid = process.processIdentifier
        let reader = output.fileHandleForReading
        let committedUpTo = await ServeHarness.onThread { () -> Int in
            var committedUpTo = -1
            var seen = 0
            var pending = Data()
            readLoop: while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                pending += chunk
                while let nl = pending.firstIndex(of: 10) {
                    let line = String(decoding: pending[..<nl], as: UTF8.self)
                    pending.removeSubrange(...nl)
                    if line.hasPrefix("committed "), let last = line.split(separator: "-").last.flatMap({ Int($0) }) {
                        committedUpTo = last
                        seen += 1
                        if seen >= killAfter {
                            kill(pid, SIGKILL)
                            break readLoop
                        }
                    }
                }
            }
            return committedUpTo
        }
        await process.exited()
        #expect(committedUpTo >= 0, "seed \(seed): no commit was reported before the kill")
        #expect(process.terminationReason == .uncaughtSignal, "seed \(seed): the process was not killed mid-stream")

        // Then, reopened: every event it reported committed is present, and the ledger is whole
        let queue = try DatabaseQueue(path: db)
        func count(_ sql: String) throws -> Int { try queue.read { try Int.fetchOne($0, sql: sql) ?? -1 } }
        do {
            let ids = await Set(try queue.read { try String.fetchAll($0, sql: "SELECT message_id FROM events") })
            for i in 0...max(committedUpTo, 0) where committedUpTo >= 0 {
                #expect(ids.contains("m-\(i)"), "seed \(seed): m-\(i) was reported committed but is missing")
            }
            #expect(try count("SELECT COUNT(*) FROM runs r LEFT JOIN events e ON e.seq = r.event_seq WHERE e.seq IS NULL") == 0, "seed \(seed): a run without its event")
            #expect(try count("SELECT COUNT(*) FROM (SELECT key FROM outbox GROUP BY key HAVING COUNT(*) > 1)") == 0, "seed \(seed): an outbox key twice")
            #expect(try count("SELECT COUNT(*) FROM once_per o LEFT JOIN runs r ON r.id = o.run_id WHERE r.id IS NULL") == 0, "seed \(seed): a once_per key without its run")
            #expect(try count("SELECT COUNT(*) FROM runs r LEFT JOIN outbox o ON o.run_id = r.id WHERE r.status = 'pending' AND o.id IS NULL") == 0, "seed \(seed): a pending run without its outbox row")
            // Deciding moves its position in the transaction that writes the decisions: each Cart
            // Abandoned up to the position has its run, none after it has one.
            let decided = try count("SELECT decided_through FROM decide_position")
            #expect(try count("SELECT COUNT(*) FROM events e WHERE e.seq <= \(decided) AND e.name = 'Cart Abandoned' AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.event_seq = e.seq)") == 0, "seed \(seed): a decided event without its runs")
            #expect(try count("SELECT COUNT(*) FROM runs WHERE event_seq > \(decided)") == 0, "seed \(seed): a run past the decided position")
        }

        // And a restart that replays the whole stream commits each event exactly once
        let all = (0..<total).map(Self.event).joined(separator: "\n")
        let replay = try await CLIHarness.run(["ingest", "--database", db, "--rules", rulesDir.path, "-"], stdin: all, cwd: dir)
        #expect(replay.status == 0, "seed \(seed): \(replay.stderr)")
        do {
            #expect(try count("SELECT COUNT(*) FROM events") == total)
            #expect(try count("SELECT COUNT(DISTINCT message_id) FROM events") == total)
            #expect(try count("SELECT COUNT(*) FROM (SELECT event_seq, rule_id FROM runs GROUP BY event_seq, rule_id HAVING COUNT(*) > 1)") == 0)
            #expect(try count("SELECT COUNT(*) FROM once_per o LEFT JOIN runs r ON r.id = o.run_id WHERE r.id IS NULL") == 0)
            // Everything is decided, what the killed run left undecided included.
            #expect(try count("SELECT decided_through FROM decide_position") == total)
            #expect(try count("SELECT COUNT(*) FROM events e WHERE e.name = 'Cart Abandoned' AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.event_seq = e.seq)") == 0)
        }
    }
}
