/// Where a submitted item came from, so a rejected one can be found again: a file and its line (or
/// index), or an HTTP request and the item's index in it.
///
/// Lines are 1-based, as editors and `NAME.errors.json` count them; indexes are 0-based, as
/// `rejected[].index` in the HTTP reply counts them.
public struct EventOrigin: Sendable, Hashable {
    /// The file the item was read from, as the source names it (e.g. `inbox/orders.ndjson`).
    public var file: String?
    /// 1-based line of an NDJSON file.
    public var line: Int?
    /// The HTTP endpoint's path (`/v1/batch`); the method is always POST.
    public var endpoint: String?
    /// 0-based index: in a `.json` array, in the request body's array, `batch` or NDJSON lines.
    public var index: Int?

    public init(file: String? = nil, line: Int? = nil, endpoint: String? = nil, index: Int? = nil) {
        self.file = file
        self.line = line
        self.endpoint = endpoint
        self.index = index
    }

    /// A line of a file: `EventOrigin.line(3, of: "inbox/orders.ndjson")`.
    public static func line(_ line: Int, of file: String) -> EventOrigin { EventOrigin(file: file, line: line) }

    /// An item of a request: `EventOrigin.request("/v1/batch", index: 2)`.
    public static func request(_ endpoint: String, index: Int) -> EventOrigin { EventOrigin(endpoint: endpoint, index: index) }

    /// One short label: `inbox/orders.ndjson:3`, `inbox/orders.json #2`, `POST /v1/batch #2`.
    public var label: String {
        var text: String
        if let file {
            text = file
            if let line { text += ":\(line)" }
        } else if let endpoint {
            text = "POST " + endpoint
        } else {
            text = ""
        }
        if let index, line == nil { text += text.isEmpty ? "#\(index)" : " #\(index)" }
        return text
    }

    /// `{"file": "inbox/orders.ndjson", "line": 3}` or `{"endpoint": "/v1/batch", "index": 2}`.
    public var json: JSONValue {
        var object: [String: JSONValue] = [:]
        if let file { object["file"] = .string(file) }
        if let line { object["line"] = .number(Double(line)) }
        if let endpoint { object["endpoint"] = .string(endpoint) }
        if let index { object["index"] = .number(Double(index)) }
        return .object(object)
    }

    /// Reads what `json` wrote; nil for anything else.
    public init?(json: JSONValue) {
        guard let object = json.objectValue else { return nil }
        func int(_ key: String) -> Int? { object[key]?.numberValue.flatMap { Int(exactly: $0) } }
        self.init(file: object["file"]?.stringValue, line: int("line"), endpoint: object["endpoint"]?.stringValue, index: int("index"))
        if file == nil, endpoint == nil, line == nil, index == nil { return nil }
    }
}
