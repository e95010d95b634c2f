import FlintPluginAPI
import Foundation
import Testing

/// The listings as a user sees them: pages and the cut-off line, one time format and --zone, the
/// optimal/local send display, colour only on a terminal, --wide, --follow, the ingest progress bar,
/// the rules folder given three ways, and examples in every help.
@Suite("Listings: paging, times, colour, --follow, progress (the real binary)")
struct ListingTests {
    static let rules = """
        rules:
          - id: cart
            when: { event: Cart Abandoned }
            send: { campaign_id: c-1 }
            schedule: { after: 2h }
          - id: digest
            when: { event: Digest Ready }
            send: { campaign_id: c-2 }
            schedule: { at: "10:00", in_local_time: true }
          - id: best-hour
            when: { event: Digest Ready }
            send: { campaign_id: c-3 }
            schedule: { after: 3d, at_optimal_time: true }
        """

    struct Workspace {
        var dir: URL
        var args: [String]
        var database: String { dir.appendingPathComponent("flint.db").path }

        func write(_ name: String, _ text: String) throws {
            try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }

        func flint(_ arguments: [String], environment: [String: String] = [:]) async throws -> CLIHarness.Result {
            try await CLIHarness.run(arguments + args, environment: environment, cwd: dir)
        }

        func remove() { try? FileManager.default.removeItem(at: dir) }
    }

    func workspace() throws -> Workspace {
        let dir = try CLIHarness.temporaryDirectory()
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("rules"), withIntermediateDirectories: true)
        try Self.rules.write(to: dir.appendingPathComponent("rules/r.yaml"), atomically: true, encoding: .utf8)
        return Workspace(dir: dir, args: ["--database", dir.appendingPathComponent("flint.db").path, "--rules", dir.appendingPathComponent("rules").path])
    }

    static func events(_ name: String, count: Int, prefix: String) -> String {
        (0..<count).map { #"{"event":"\#(name)","messageId":"\#(prefix)-\#($0)","userId":"\#(prefix)-user-\#($0)"}"# }.joined(separator: "\n")
    }

    /// Ingests `count` events named `name` from a file of that name.
    func ingest(_ w: Workspace, _ name: String, count: Int, prefix: String) async throws {
        try w.write("\(prefix).ndjson", Self.events(name, count: count, prefix: prefix))
        let r = try await w.flint(["ingest", "\(prefix).ndjson"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    static func ids(_ table: String) -> [Int64] {
        table.split(separator: "\n").dropFirst().compactMap { line in Int64(line.split(separator: " ").first ?? "") }
    }

    static let escape = "\u{1B}["

    // MARK: Paging

    @Test("runs pages: the cut-off line says how to get the next page, only when there is one, and the pages hold every run once")
    func runsPaging() async throws {
        let w = try workspace()
        defer { w.remove() }
        try await ingest(w, "Cart Abandoned", count: 7, prefix: "c")
        let everything = try await w.flint(["runs", "--limit", "50"])
        #expect(!everything.stdout.contains("shown"), "all fit: no cut-off line\n\(everything.stdout)")
        let all = Self.ids(everything.stdout)
        #expect(all.count == 7)

        var seen: [Int64] = []
        var arguments = ["runs", "--limit", "3"]
        var lines: [String] = []
        for _ in 0..<5 {
            let page = try await w.flint(arguments)
            #expect(page.status == 0, "\(page.stderr)")
            seen += Self.ids(page.stdout)
            let cut = page.stdout.split(separator: "\n").last(where: { $0.hasPrefix("(") }).map(String.init) ?? ""
            lines.append(cut)
            // The line names the command to run: the same filters and --before the last id shown.
            guard let before = cut.firstRange(of: "--before ").map({ cut[$0.upperBound...].prefix { $0.isNumber } }) else { break }
            #expect(cut.hasPrefix("(3 shown, more older: flint runs --limit 3 --database"), "\(cut)")
            #expect(before == String(Self.ids(page.stdout).last ?? 0))
            arguments = ["runs", "--limit", "3", "--before", String(before)]
        }
        #expect(seen == all, "every run once, newest first")
        #expect(lines.count == 3, "7 runs in pages of 3: \(lines)")
        #expect(lines.filter { $0.contains("more older") }.count == 2, "the last page says nothing older: \(lines)")
        #expect(lines.last?.hasPrefix("(1 shown, more newer: flint runs --limit 3") == true, "a later page points back: \(lines)")
        #expect(lines.first?.contains("more newer") == false, "the first page has nothing newer: \(lines)")

        // Back up from the oldest run with --after.
        var up: [Int64] = []
        var cursor = try #require(all.last)
        for _ in 0..<5 {
            let page = try await w.flint(["runs", "--limit", "3", "--after", String(cursor)])
            let ids = Self.ids(page.stdout)
            guard let newest = ids.first else { break }
            up = ids + up
            cursor = newest
        }
        #expect(up + [all.last!] == all)
        let both = try await w.flint(["runs", "--before", "1", "--after", "2"])
        #expect(both.status == 64 || both.status == 2 || both.stderr.contains("not both"), "\(both.stderr)")
    }

    // MARK: Times

    @Test("tables print ISO 8601 times with Z; --zone prints them with the zone's offset and names the zone in the headers")
    func timesAndZone() async throws {
        let w = try workspace()
        defer { w.remove() }
        try await ingest(w, "Cart Abandoned", count: 2, prefix: "c")
        let utc = try await w.flint(["runs"])
        #expect(utc.stdout.contains("CREATED (UTC)") && utc.stdout.contains("SEND AT (UTC)"), "\(utc.stdout)")
        #expect(utc.stdout.contains(try Regex(#"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"#)), "\(utc.stdout)")
        #expect(!utc.stdout.contains(try Regex(#"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"#)), "no more space-separated times: \(utc.stdout)")

        let la = try await w.flint(["runs", "--zone", "America/Los_Angeles"])
        #expect(la.stdout.contains("CREATED (America/Los_Angeles)") && la.stdout.contains("SEND AT (America/Los_Angeles)"), "\(la.stdout)")
        #expect(la.stdout.contains(try Regex(#"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-0[78]:00"#)), "\(la.stdout)")
        let kolkata = try await w.flint(["events", "--zone", "Asia/Kolkata"])
        #expect(kolkata.stdout.contains("RECEIVED (Asia/Kolkata)") && kolkata.stdout.contains("+05:30"), "\(kolkata.stdout)")

        let bad = try await w.flint(["runs", "--zone", "Mars/Olympus"])
        #expect(bad.status != 0 && bad.stderr.contains("--zone 'Mars/Olympus' is not an IANA time zone"), "\(bad.stderr)")
    }

    // MARK: Optimal and local sends

    @Test("at_optimal_time and in_local_time sends show the date or the wall clock, and who picks the hour")
    func optimalAndLocal() async throws {
        let w = try workspace()
        defer { w.remove() }
        try await ingest(w, "Digest Ready", count: 1, prefix: "d")
        try await ingest(w, "Cart Abandoned", count: 1, prefix: "c")
        let runs = try await w.flint(["runs", "--wide"])
        #expect(runs.stdout.contains(try Regex(#"\d{4}-\d\d-\d\d \(optimal\)"#)), "\(runs.stdout)")
        #expect(runs.stdout.contains("Braze picks the hour"), "\(runs.stdout)")
        #expect(runs.stdout.contains(try Regex(#"\d{4}-\d\d-\d\dT10:00:00 \(local\)"#)), "\(runs.stdout)")
        #expect(runs.stdout.contains("10:00:00 on ") && runs.stdout.contains("in each user's zone"), "\(runs.stdout)")

        let schedules = try await w.flint(["schedules", "--status", "pending"])
        #expect(schedules.stdout.contains("MODE"), "\(schedules.stdout)")
        let modes = Set(schedules.stdout.split(separator: "\n").dropFirst().compactMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first })
        #expect(modes == ["utc", "local", "optimal"], "\(schedules.stdout)")

        let json = try await JSONParser.parse(try w.flint(["runs", "--json"]).stdout).arrayValue ?? []
        let optimal = try #require(json.first { $0["rule_id"] == "best-hour" })
        let show = try await w.flint(["runs", "show", String(Int(optimal["id"]?.numberValue ?? 0))])
        #expect(show.stdout.contains(", Braze picks the hour (at_optimal_time)"), "\(show.stdout)")

        try w.write("digest.json", #"{"event":"Digest Ready","userId":"u-1","timestamp":"2026-11-29T18:00:00Z"}"#)
        let test = try await CLIHarness.run(["rules", "test", "rules", "--event", "digest.json", "--now", "2026-11-29T18:00:00Z"], cwd: w.dir)
        #expect(test.stdout.contains("sends at: 2026-12-02, Braze picks the hour (at_optimal_time)"), "\(test.stdout)")
        #expect(test.stdout.contains("sends at: 10:00:00 on 2026-11-30 in each user's zone (in_local_time)"), "\(test.stdout)")
    }

    // MARK: Width and colour

    @Test("--wide prints whole reasons; without it they are cut with …")
    func wide() async throws {
        let w = try workspace()
        defer { w.remove() }
        try await ingest(w, "Digest Ready", count: 1, prefix: "d")
        let cut = try await w.flint(["runs"])
        #expect(cut.stdout.contains("…"), "\(cut.stdout)")
        let whole = try await w.flint(["runs", "--wide"])
        #expect(!whole.stdout.contains("…") && whole.stdout.contains("in each user's zone"), "\(whole.stdout)")
    }

    static var hasScript: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/script") }

    /// Runs flint on a pseudo-terminal (util-linux `script`): stdout and stderr both are the terminal.
    func onTerminal(_ w: Workspace, _ arguments: [String], environment: [String: String] = [:]) async throws -> String {
        let command = ([CLIHarness.binary.path] + arguments + w.args).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qec", command, "/dev/null"]
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = nil
        env["TERM"] = "xterm"
        env.merge(environment) { _, new in new }
        process.environment = env
        process.currentDirectoryURL = w.dir
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let reader = out.fileHandleForReading
        let data = await ServeHarness.onThread { reader.readDataToEndOfFile() }
        await process.exited()
        return String(decoding: data, as: UTF8.self)
    }

    @Test("status words are coloured on a terminal only: not when piped, not with NO_COLOR, never in --json", .enabled(if: ListingTests.hasScript))
    func colour() async throws {
        let w = try workspace()
        defer { w.remove() }
        try await ingest(w, "Cart Abandoned", count: 2, prefix: "c")
        let piped = try await w.flint(["runs"])
        #expect(piped.stdout.contains("pending") && !piped.stdout.contains(Self.escape), "\(piped.stdout)")
        let tty = try await onTerminal(w, ["runs"])
        #expect(tty.contains(Self.escape + "36mpending" + Self.escape + "0m"), "\(tty.debugDescription)")
        let noColor = try await onTerminal(w, ["runs"], environment: ["NO_COLOR": "1"])
        #expect(noColor.contains("pending") && !noColor.contains(Self.escape), "\(noColor.debugDescription)")
        let json = try await onTerminal(w, ["runs", "--json"])
        #expect(json.contains("\"pending\"") && !json.contains(Self.escape), "\(json.debugDescription)")
    }

    // MARK: Progress

    @Test("ingest draws a progress bar on a terminal, and stays quiet when stderr is not one", .enabled(if: ListingTests.hasScript))
    func progressBar() async throws {
        let w = try workspace()
        defer { w.remove() }
        try w.write("big.ndjson", Self.events("Cart Abandoned", count: 3000, prefix: "b"))
        let tty = try await onTerminal(w, ["ingest", "big.ndjson", "--batch", "100"])
        #expect(tty.contains("events/s") && tty.contains("big.ndjson [") && tty.contains("%"), "\(tty.debugDescription)")
        #expect(tty.contains("big.ndjson: 3000 accepted"), "\(tty.debugDescription)")

        try w.write("more.ndjson", Self.events("Cart Abandoned", count: 3000, prefix: "m"))
        let piped = try await w.flint(["ingest", "more.ndjson", "--batch", "100"])
        #expect(piped.status == 0)
        #expect(!piped.stderr.contains("events/s") && !piped.stderr.contains("\r"), "\(piped.stderr)")
        #expect(!piped.stdout.contains("events/s"), "\(piped.stdout)")

        // --progress keeps its script lines, and no bar comes with them.
        try w.write("third.ndjson", Self.events("Cart Abandoned", count: 250, prefix: "t"))
        let scripted = try await onTerminal(w, ["ingest", "third.ndjson", "--batch", "100", "--progress"])
        #expect(scripted.contains("committed third.ndjson 0-99") && scripted.contains("committed third.ndjson 200-249"), "\(scripted)")
        #expect(!scripted.contains("events/s"), "\(scripted.debugDescription)")
    }

    // MARK: --follow

    final class Output: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        func append(_ d: Data) { lock.withLock { data.append(d) } }
        var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
    }

    @Test("runs --follow prints new runs as flint ingest decides them, and ends cleanly on SIGTERM")
    func follow() async throws {
        let w = try workspace()
        defer { w.remove() }
        try await ingest(w, "Cart Abandoned", count: 2, prefix: "old")
        let process = Process()
        process.executableURL = CLIHarness.binary
        process.arguments = ["runs", "--follow", "--interval", "50ms", "--limit", "1"] + w.args
        process.currentDirectoryURL = w.dir
        let out = Pipe()
        let output = Output()
        out.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { output.append(data) }
        }
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        #expect(await ServeHarness.eventually(10) { output.text.contains("old-user-1") }, "the last page first: \(output.text)")
        #expect(!output.text.contains("old-user-0"), "--limit 1 shows one run before following: \(output.text)")
        try await ingest(w, "Cart Abandoned", count: 3, prefix: "new")
        #expect(await ServeHarness.eventually(10) { (0..<3).allSatisfy { output.text.contains("new-user-\($0)") } }, "\(output.text)")
        let lines = output.text.split(separator: "\n")
        #expect(lines.first?.hasPrefix("ID") == true, "a header first: \(output.text)")
        let order = ["new-user-0", "new-user-1", "new-user-2"].compactMap { u in lines.firstIndex { $0.contains(u) } }
        #expect(order == order.sorted(), "new runs oldest first, as they are decided: \(output.text)")
        #expect(lines.filter { $0.contains("new-user-0") }.count == 1, "each run once")

        process.terminate()
        await process.exited()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0, "SIGTERM ends it cleanly")
    }

    // MARK: Rules folder and help

    @Test("rules check, list and test take the folder as DIR or --rules DIR, else FLINT_RULES, else rules: in flint.yaml")
    func rulesFolder() async throws {
        let dir = try CLIHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("mine"), withIntermediateDirectories: true)
        try Self.rules.write(to: dir.appendingPathComponent("mine/r.yaml"), atomically: true, encoding: .utf8)
        for command in [["rules", "check"], ["rules", "list"], ["rules", "test"]] {
            let positional = try await CLIHarness.run(command + ["mine"], cwd: dir)
            #expect(positional.status == 0, "\(command) DIR: \(positional.stderr)")
            let option = try await CLIHarness.run(command + ["--rules", "mine"], cwd: dir)
            #expect(option.status == 0, "\(command) --rules DIR: \(option.stderr)")
            let env = try await CLIHarness.run(command, environment: ["FLINT_RULES": "mine"], cwd: dir)
            #expect(env.status == 0, "\(command) with FLINT_RULES: \(env.stderr)")
            let two = try await CLIHarness.run(command + ["mine", "--rules", "other"], cwd: dir)
            #expect(two.status != 0 && two.stderr.contains("two rules folders"), "\(two.stderr)")
        }
        try "rules: mine\n".write(to: dir.appendingPathComponent("flint.yaml"), atomically: true, encoding: .utf8)
        let fromConfig = try await CLIHarness.run(["rules", "list"], cwd: dir)
        #expect(fromConfig.status == 0 && fromConfig.stdout.contains("best-hour"), "\(fromConfig.stderr)")
        let check = try await CLIHarness.run(["rules", "check"], cwd: dir)
        #expect(check.stdout.contains("checked in mine"), "\(check.stdout)\(check.stderr)")
    }

    @Test("the help of every listing, rules, ingest, sandbox and bench command shows examples")
    func helpExamples() async throws {
        let commands: [[String]] = [
            ["runs"], ["runs", "list"], ["runs", "show"], ["events"], ["events", "list"], ["outbox"], ["outbox", "list"], ["outbox", "retry"],
            ["schedules"], ["schedules", "list"], ["schedules", "cancel"], ["ingest"], ["rules"], ["rules", "check"], ["rules", "list"],
            ["rules", "test"], ["sandbox"], ["bench"], ["bench", "rules"], ["bench", "ingest"], ["bench", "dispatch"], ["bench", "http-baseline"],
        ]
        for command in commands {
            let help = try await CLIHarness.run(command + ["--help"])
            #expect(help.stdout.contains("Examples:\n  flint ") || help.stdout.contains("Examples:\n  swift run"), "\(command): \(help.stdout)")
        }
        let list = try await CLIHarness.run(["runs", "list", "--help"]).stdout
        for flag in ["--limit", "--before", "--after", "--zone", "--wide", "--json", "--follow"] {
            #expect(list.contains(flag), "runs list --help names \(flag)")
        }
    }
}
