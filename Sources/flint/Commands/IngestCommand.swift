import ArgumentParser
import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Run events from files through the engine into the database (a backfill, a replay).",
        discussion: """
            Each FILE holds one event, a JSON array of events, or NDJSON (an event a line). Events without \
            a messageId get one derived from the file's content and the line, so ingesting the same file \
            twice never duplicates. The sends it plans wait in the outbox for flint serve to dispatch. \
            Exits 1 when any event was rejected (the valid ones are committed). When stderr is a \
            terminal, a progress bar shows the events done, events/s and the time left (from the share \
            of the file read); it stays quiet otherwise, and with --progress.

            Examples:
              flint ingest events.ndjson
              flint ingest backfill/*.json --batch 5000
              cat events.ndjson | flint ingest -
              flint ingest big.ndjson --progress --json
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Event files (.json, .ndjson, .jsonl); '-' reads standard input.")
    var files: [String]

    @Flag(help: "Print a JSON summary per file.")
    var json = false

    @Option(help: "Events per commit.")
    var batch = 1000

    @Flag(help: "After each commit, print 'committed FILE FIRST-LAST' (0-based positions), for scripts that follow progress.")
    var progress = false

    func validate() throws {
        if batch < 1 { throw ValidationError("--batch must be at least 1") }
    }

    func run() async throws {
        let config = try global.configuration()
        let loaded = try RuleDirectory.loadValid(config.rules, refusing: "nothing was ingested", given: .configured(command: "flint ingest"))
        let store = try StoreAccess.openForWriting(config)
        _ = try await store.prune(config.retention, now: Date())
        let engine = Engine(store: store, ruleBook: RuleBook(), settings: config.engineSettings)
        try await engine.install(loaded.ruleSet)
        // Accept and decide side by side: the decider consumes the log while files are appended, and
        // flint ingest returns once everything it accepted is decided (by it, or by a flint serve on
        // the same database).
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.decider.run() }
            defer { group.cancelAll() }
            var failure: (any Error)?
            do { try await ingest(into: engine, config: config) } catch { failure = error }
            // Rejected lines exit 1, but the accepted events are decided first.
            try await engine.decideAccepted()
            await ServeWake.notifyRunningServe(of: store)  // and the last of it
            if let failure { throw failure }
        }
    }

    /// Submits, and when the engine is full (the undecided backlog at its bound) waits for deciding
    /// to catch up, then submits again.
    private func submit(_ slice: [IncomingEvent], to engine: Engine) async throws -> SubmitReceipt {
        var refusals = 0
        while true {
            do {
                return try await engine.submit(slice, source: "ingest")
            } catch let unavailable as SinkUnavailable {
                refusals += 1
                if engine.decider.backlog > 0 {
                    try await engine.waitUntilDecided(through: engine.decider.lastAccepted)
                } else if refusals > 5 {
                    throw unavailable
                } else {
                    try await Task.sleep(for: .seconds(max(1, unavailable.retryAfterSeconds)))
                }
            }
        }
    }

    private func ingest(into engine: Engine, config: Configuration) async throws {

        var anyRejected = false
        var summaries: [JSONValue] = []
        for path in files {
            var accepted = 0, duplicates = 0
            var rejected: [SubmitReceipt.Rejected] = []
            let position = EventFile.ReadPosition()
            let size = path == "-" ? nil : (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
            let bar = progress ? nil : ProgressBar.onTerminal(label: path == "-" ? "stdin" : path, totalBytes: size)
            defer { bar?.finish() }
            do {
                // Commit in slices: a large backfill neither holds one huge transaction nor all its
                // memory, and a stream (NDJSON on standard input) is committed as it arrives.
                try await EventFile.forEachSlice(path, size: batch, position: position) { slice, start in
                    let receipt = try await submit(slice, to: engine)
                    await ServeWake.notifyRunningServe(of: engine.store.ledger)  // a running flint serve sends what is decided so far
                    accepted += receipt.accepted
                    duplicates += receipt.duplicates
                    rejected += receipt.rejected.map { SubmitReceipt.Rejected(index: $0.index + start, errors: $0.errors) }
                    if progress { Terminal.out("committed \(path) \(start)-\(start + slice.count - 1)", flush: true) }
                    bar?.update(events: start + slice.count, bytesRead: position.bytes)
                }
            } catch let error as EventFile.ReadError {
                bar?.finish()
                Terminal.err("error: \(error)")
                anyRejected = true
                continue
            }
            bar?.finish()
            anyRejected = anyRejected || !rejected.isEmpty
            if json {
                summaries.append([
                    "file": .string(path), "accepted": .number(Double(accepted)), "duplicates": .number(Double(duplicates)),
                    "rejected": .array(rejected.map { ["index": .number(Double($0.index)), "errors": .array($0.errors.map { .string($0) })] }),
                ])
            } else {
                Terminal.out("\(path): \(accepted) accepted, \(duplicates) duplicate\(duplicates == 1 ? "" : "s"), \(rejected.count) rejected")
                for r in rejected.prefix(20) {
                    Terminal.err("\(path): event \(r.index): \(r.errors.joined(separator: "; "))")
                }
                if rejected.count > 20 { Terminal.err("\(path): ... and \(rejected.count - 20) more (flint events --rejected)") }
            }
        }
        if json {
            Terminal.out(JSONValue.array(summaries).prettyJSON())
        } else {
            Terminal.out("database: \(config.databaseShown). See what happened: flint runs; planned sends wait in the outbox for flint serve.")
        }
        if anyRejected { throw ExitCode(1) }
    }
}

/// Events from a file: one object, an array, or NDJSON; ids derived from content and position.
enum EventFile {
    struct ReadError: Error, CustomStringConvertible {
        var description: String
    }

    /// How far into the file the events handed over so far reach, in bytes (for the progress bar).
    final class ReadPosition {
        var bytes: Int64 = 0
    }

    /// Reads a file (or standard input, `-`) and hands its events to `body` in slices of `size`,
    /// with the position of each slice's first event. NDJSON (`.ndjson`, `.jsonl`, standard input) is
    /// read as it arrives; a `.json` file holds one event or an array.
    static func forEachSlice(
        _ path: String, size: Int, position: ReadPosition = ReadPosition(), _ body: ([IncomingEvent], Int) async throws -> Void
    ) async throws {
        let handle: FileHandle
        if path == "-" {
            handle = FileHandle.standardInput
        } else {
            guard let h = FileHandle(forReadingAtPath: path) else { throw ReadError(description: "\(path): cannot read the file") }
            handle = h
        }
        defer { if path != "-" { try? handle.close() } }
        if path != "-", !(path.hasSuffix(".ndjson") || path.hasSuffix(".jsonl")) {
            let bytes = [UInt8](handle.readDataToEndOfFile())
            let hash = contentHash(bytes)
            if let value = try? JSONParser.parse(bytes) {
                let items: [JSONValue]
                if case .array(let a) = value { items = a } else { items = [value] }
                var start = 0
                while start < items.count {
                    let end = min(start + size, items.count)
                    position.bytes = Int64(bytes.count) * Int64(end) / Int64(items.count)
                    try await body((start..<end).map { IncomingEvent(value: items[$0], fallbackMessageId: "file:\(hash):\($0)", origin: EventOrigin(file: path, index: $0)) }, start)
                    start = end
                }
                return
            }
            // Not one JSON text: read it as NDJSON below.
            try await lines(of: bytes, hash: hash, path: path, size: size, position: position, body)
            return
        }
        // Streaming NDJSON. A file's events without messageId get ids from its content hash (read in a
        // first pass) and line, so ingesting the same file twice never duplicates; a stream on standard
        // input cannot be re-read, so Flint assigns fresh ids to those.
        var prefix: String?
        if path != "-" {
            prefix = "file:" + (try contentHash(of: handle))
            try handle.seek(toOffset: 0)
        }
        var buffer: [UInt8] = []
        var slice: [IncomingEvent] = []
        var line = 0
        var sliceStart = 0
        var consumed: Int64 = 0
        func take(_ bytes: ArraySlice<UInt8>) {
            line += 1
            if bytes.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { return }
            slice.append(item(Array(bytes), line: line, id: prefix.map { "\($0):\(line)" }, origin: .line(line, of: path == "-" ? "<stdin>" : path)))
        }
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            buffer += chunk
            while let newline = buffer.firstIndex(of: 10) {
                take(buffer[..<newline])
                buffer.removeSubrange(...newline)
                consumed += Int64(newline + 1)
                if slice.count >= size {
                    position.bytes = consumed
                    try await body(slice, sliceStart)
                    sliceStart += slice.count
                    slice.removeAll(keepingCapacity: true)
                }
            }
        }
        if !buffer.isEmpty { take(buffer[...]) }
        position.bytes = consumed + Int64(buffer.count)
        if !slice.isEmpty { try await body(slice, sliceStart) }
    }

    private static func lines(
        of bytes: [UInt8], hash: String, path: String, size: Int, position: ReadPosition, _ body: ([IncomingEvent], Int) async throws -> Void
    ) async throws {
        var items: [IncomingEvent] = []
        for (line, result) in JSONParser.parseLines(bytes) {
            switch result {
            case .success(let v): items.append(IncomingEvent(value: v, fallbackMessageId: "file:\(hash):\(line)", origin: .line(line, of: path)))
            case .failure(let e):
                items.append(IncomingEvent(value: .string(lineText(bytes, line)), fallbackMessageId: "file:\(hash):\(line)", problem: "line \(line), column \(e.column): invalid JSON: \(e.message)",
                    origin: .line(line, of: path)))
            }
        }
        var start = 0
        while start < items.count {
            let end = min(start + size, items.count)
            position.bytes = Int64(bytes.count) * Int64(end) / Int64(items.count)
            try await body(Array(items[start..<end]), start)
            start = end
        }
    }

    /// One NDJSON line as an incoming event, or as a rejected item that keeps the line's text.
    static func item(_ bytes: [UInt8], line: Int, id: String?, origin: EventOrigin? = nil) -> IncomingEvent {
        do {
            return IncomingEvent(value: try JSONParser.parse(bytes), fallbackMessageId: id, origin: origin)
        } catch {
            return IncomingEvent(
                value: .string(String(decoding: bytes, as: UTF8.self)), fallbackMessageId: id,
                problem: "line \(line), column \(error.column): invalid JSON: \(error.message)", origin: origin)
        }
    }

    /// The text of a 1-based line, for keeping a rejected line as it was.
    static func lineText(_ bytes: [UInt8], _ line: Int) -> String {
        var current = 1
        var start = 0
        for (i, b) in bytes.enumerated() where b == 10 {
            if current == line { return String(decoding: bytes[start..<i], as: UTF8.self) }
            current += 1
            start = i + 1
        }
        return current == line ? String(decoding: bytes[start...], as: UTF8.self) : ""
    }

    /// 32 hex digits: two FNV-1a 64 hashes with different offsets (not cryptographic; a stable name).
    static func contentHash(_ bytes: [UInt8]) -> String {
        var hasher = ContentHasher()
        hasher.update(bytes)
        return hasher.hex
    }

    static func contentHash(of handle: FileHandle) throws -> String {
        var hasher = ContentHasher()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(chunk) }
        return hasher.hex
    }
}

struct ContentHasher {
    private var a: UInt64 = 0xcbf2_9ce4_8422_2325
    private var b: UInt64 = 0x8422_2325_cbf2_9ce4

    mutating func update(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            a = (a ^ UInt64(byte)) &* 0x100_0000_01b3
            b = (b ^ UInt64(byte)) &* 0x100_0000_01b3
        }
    }

    var hex: String {
        func pad(_ v: UInt64) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }
        return pad(a) + pad(b)
    }
}
