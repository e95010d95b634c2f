import FlintPluginAPI

/// How the bytes of one inbox file become the items submitted to the engine. Pure: no I/O.
struct InboxFile {
    enum Format: Sendable {
        /// `*.json`: one event, or an array of events.
        case json
        /// `*.ndjson` / `*.jsonl`: one event a line.
        case lines
    }

    /// Where an item sits in its file, as `NAME.errors.json` reports it.
    enum Position: Hashable, Sendable {
        /// 1-based NDJSON line.
        case line(Int)
        /// 0-based index in a `.json` array.
        case index(Int)
        /// The whole `.json` file (one object, or text that is not JSON).
        case wholeFile
    }

    struct Item: Sendable {
        var position: Position
        var event: IncomingEvent
    }

    var format: Format
    var items: [Item]

    /// The format a file name announces, or nil for files the inbox ignores: hidden files,
    /// `*.tmp`, `*.part` and every other extension (a writer renames the file when it is complete).
    static func format(ofName name: String) -> Format? {
        guard !isPending(name) else { return nil }
        let lowered = name.lowercased()
        if lowered.hasSuffix(".json") { return .json }
        if lowered.hasSuffix(".ndjson") || lowered.hasSuffix(".jsonl") { return .lines }
        return nil
    }

    /// What the inbox says it reads, for the warning about other files.
    static let readExtensions = "*.json (an event or an array), *.ndjson and *.jsonl (an event a line)"

    /// Hidden files and `*.tmp` / `*.part`: files still being written, ignored until renamed.
    static func isPending(_ name: String) -> Bool {
        let lowered = name.lowercased()
        return name.hasPrefix(".") || lowered.hasSuffix(".tmp") || lowered.hasSuffix(".part")
    }

    /// A file the inbox will never read (`notes.txt`, `orders.csv`): reported once in the log.
    static func isNotEvents(_ name: String) -> Bool {
        !isPending(name) && format(ofName: name) == nil
    }

    /// Reads a file's bytes into items. Each item's fallback id is `inbox:<content hash>:<line or
    /// index>`, so the same bytes read again produce the same ids and the engine counts duplicates.
    /// With `file` (the path as the user configured it), each item carries its origin: the file and
    /// its 1-based line or 0-based array index, kept with it if it is rejected.
    init(bytes: [UInt8], format: Format, file: String? = nil) {
        self.format = format
        let hash = ContentHash.hex(of: bytes)
        func id(_ n: Int) -> String { "inbox:\(hash):\(n)" }
        func origin(_ position: Position) -> EventOrigin? {
            guard let file else { return nil }
            switch position {
            case .line(let line): return EventOrigin(file: file, line: line)
            case .index(let index): return EventOrigin(file: file, index: index)
            case .wholeFile: return EventOrigin(file: file)
            }
        }

        switch format {
        case .lines:
            items = JSONParser.parseLines(bytes).map { line, result in
                switch result {
                case .success(let value):
                    return Item(position: .line(line), event: IncomingEvent(value: value, fallbackMessageId: id(line), origin: origin(.line(line))))
                case .failure(let error):
                    return Item(position: .line(line), event: IncomingEvent(
                        value: .string(Self.lineText(bytes, around: error.offset)), fallbackMessageId: id(line),
                        problem: Self.problem(error), origin: origin(.line(line))))
                }
            }
        case .json:
            do {
                switch try JSONParser.parse(bytes) {
                case .array(let values):
                    items = values.enumerated().map { index, value in
                        Item(position: .index(index), event: IncomingEvent(value: value, fallbackMessageId: id(index), origin: origin(.index(index))))
                    }
                case let value:
                    items = [Item(position: .wholeFile, event: IncomingEvent(value: value, fallbackMessageId: id(0), origin: origin(.wholeFile)))]
                }
            } catch {
                items = [Item(position: .wholeFile, event: IncomingEvent(
                    value: .string(String(decoding: bytes, as: UTF8.self)), fallbackMessageId: id(0),
                    problem: Self.problem(error), origin: origin(.wholeFile)))]
            }
        }
    }

    /// `line 3, column 14: invalid JSON: expected ',' or '}' after object member`
    static func problem(_ error: JSONParseError) -> String {
        "line \(error.line), column \(error.column): invalid JSON: \(error.message)"
    }

    /// The `NAME.errors.json` body: one entry per rejected item, in file order.
    static func errorReport(_ rejected: [(position: Position, errors: [String])]) -> JSONValue {
        .array(rejected.map { position, errors in
            var entry: [String: JSONValue] = ["errors": .array(errors.map(JSONValue.string))]
            switch position {
            case .line(let line): entry["line"] = .number(Double(line))
            case .index(let index): entry["index"] = .number(Double(index))
            case .wholeFile: break
            }
            return .object(entry)
        })
    }

    /// The text of the line an NDJSON error points into (without its line break), kept for
    /// inspection of a line that is not JSON.
    private static func lineText(_ bytes: [UInt8], around offset: Int) -> String {
        let newline = UInt8(ascii: "\n")
        var start = min(max(offset, 0), bytes.count)
        while start > 0, bytes[start - 1] != newline { start -= 1 }
        if start == 0, bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
        var end = start
        while end < bytes.count, bytes[end] != newline { end += 1 }
        if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
