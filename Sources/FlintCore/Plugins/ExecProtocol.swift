import FlintPluginAPI
import Foundation

/// The JSON-lines protocol between Flint and an out-of-process plugin (docs/architecture.md, Plugins;
/// docs/plugins.md). One JSON object per line, UTF-8, `\n` after each.
///
/// Plugin to Flint:
/// - `{"type":"hello","protocol":1,"name":"orders","kind":"source"}`: first, within the timeout.
/// - `{"type":"event","ack":"<id>","event":{...}}` (a source).
/// - `{"type":"result","id":"<send id>","ok":true,"details":{...}}` or
///   `{"type":"result","id":"...","ok":false,"retryable":true,"error":"..."}` (an action).
///
/// Flint to plugin:
/// - `{"type":"ack","ack":"<id>","ok":true}` once the event is committed; `ok:false` with `error`
///   and `retryable` otherwise (retryable: send it again later; not retryable: rejected for good,
///   and kept in `flint events --rejected`).
/// - `{"type":"send","id":"...","request":{...},"schedule":{...}}` (an action; `id` is stable across
///   retries of the same send, so the plugin may dedupe on it).
public enum ExecProtocol {
    public static let version = 1
    /// A line longer than this is garbage (and skipped up to its newline).
    public static let maxLineBytes = 4 * 1024 * 1024
    /// Messages read ahead of the session at most; beyond, Flint stops reading the plugin's stdout.
    public static let maxQueuedMessages = 10_000
    /// Lines for the plugin's stdin waiting at most; beyond, the plugin is not reading its stdin, which
    /// breaks the protocol (its acks or sends would pile up in Flint's memory).
    public static let maxUnwrittenLines = 100_000

    public enum Message: Sendable, Hashable {
        case hello(protocolVersion: Int?, name: String?, kind: String?)
        case event(ack: String, event: JSONValue)
        case result(id: String, ok: Bool, retryable: Bool, error: String?, details: JSONValue?)
    }

    /// Reads one line from a plugin; the error says why it is not a message.
    public static func parse(_ line: some Collection<UInt8>) -> Result<Message, Garbage> {
        let value: JSONValue
        do {
            value = try JSONParser.parse(line)
        } catch {
            return .failure(Garbage("not JSON (\(error.message) at column \(error.column))"))
        }
        guard case .object(let o) = value else { return .failure(Garbage("not a JSON object")) }
        guard case .string(let type)? = o["type"] else { return .failure(Garbage("no \"type\"")) }
        switch type {
        case "hello":
            return .success(.hello(protocolVersion: o["protocol"]?.numberValue.map { Int($0) }, name: o["name"]?.stringValue, kind: o["kind"]?.stringValue))
        case "event":
            guard let ack = idText(o["ack"]) else { return .failure(Garbage("an event without an \"ack\" id (a string)")) }
            guard let event = o["event"] else { return .failure(Garbage("an event without \"event\"")) }
            return .success(.event(ack: ack, event: event))
        case "result":
            guard let id = idText(o["id"]) else { return .failure(Garbage("a result without an \"id\" (a string)")) }
            guard case .bool(let ok)? = o["ok"] else { return .failure(Garbage("result \(id): \"ok\" must be true or false")) }
            let error = o["error"].flatMap { $0.stringValue ?? ($0.isNull ? nil : $0.compactJSON) }
            return .success(.result(id: id, ok: ok, retryable: o["retryable"]?.boolValue ?? false, error: error, details: o["details"]))
        default:
            return .failure(Garbage("unknown type \"\(type)\""))
        }
    }

    /// Ids are strings; a number is accepted and kept as its text.
    private static func idText(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let s)?: s.isEmpty ? nil : s
        case .number?: value!.compactJSON
        default: nil
        }
    }

    public static func ack(_ id: String, ok: Bool, retryable: Bool = false, error: String? = nil) -> JSONValue {
        var o: [String: JSONValue] = ["type": "ack", "ack": .string(id), "ok": .bool(ok)]
        if !ok {
            o["retryable"] = .bool(retryable)
            if let error { o["error"] = .string(error) }
        }
        return .object(o)
    }

    public static func send(_ request: SendRequest) -> JSONValue {
        var o: [String: JSONValue] = ["type": "send", "id": .string(request.id), "request": request.body]
        if let schedule = request.schedule { o["schedule"] = schedule }
        if request.operation != .create { o["operation"] = .string(request.operation.rawValue) }
        return .object(o)
    }

    /// Why a line was not a message.
    public struct Garbage: Error, Sendable, Hashable, CustomStringConvertible {
        public var reason: String
        public init(_ reason: String) { self.reason = reason }
        public var description: String { reason }
    }
}

extension ExecProtocol.Message {
    var typeName: String {
        switch self {
        case .hello: "a hello"
        case .event: "an event"
        case .result: "a result"
        }
    }
}
