import FlintPluginAPI
import Foundation

/// Reads a request body into the batch handed to the engine. Pure: bytes in, events or a reply out.
///
/// Indexes in the batch are the indexes clients see in `rejected[].index` (0-based): the array index,
/// the index in `batch`, or for NDJSON the position among the non-blank lines (blank lines are
/// skipped and not counted; a JSON error's text also names the 1-based line of the whole body).
enum WebhookBody {
    enum Format: Sendable, Equatable {
        case json
        case ndjson
    }

    static let ndjsonTypes: Set<String> = ["application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"]

    /// The body format named by `Content-Type` (missing: JSON), or the 415 telling which header to use.
    static func format(contentType: String?, contentEncoding: String?, endpoint: WebhookEndpoint) -> Result<Format, WebhookReply> {
        if let encoding = contentEncoding?.trimmedOWS.lowercased(), !encoding.isEmpty, encoding != "identity" {
            return .failure(.error(.unsupportedMediaType, "Content-Encoding \(quoted(encoding)) is not supported: send the body uncompressed"))
        }
        guard let contentType, !contentType.trimmedOWS.isEmpty else { return .success(.json) }
        // The common case first: exactly application/json.
        if contentType == "application/json" { return .success(.json) }
        let parts = contentType.split(separator: ";").map { $0.trimmedOWS.lowercased() }
        let media = parts.first ?? ""
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { String($0.trimmed { $0 == " " || $0 == "\t" || $0 == "\"" }) }
            if pair.count == 2, pair[0] == "charset", pair[1] != "utf-8", pair[1] != "utf8" {
                return .failure(.error(.unsupportedMediaType, "charset \(quoted(pair[1])) is not supported: send UTF-8 (charset=utf-8, or no charset)"))
            }
        }
        if media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json")) {
            return .success(.json)
        }
        if ndjsonTypes.contains(media) {
            if endpoint == .events { return .success(.ndjson) }
            return .failure(
                .error(
                    .unsupportedMediaType,
                    "\(endpoint.path) takes one JSON document: send \"Content-Type: application/json\" (NDJSON is accepted on /v1/events)"))
        }
        return .failure(.error(.unsupportedMediaType, unsupportedTypeMessage(media: media, endpoint: endpoint)))
    }

    static func unsupportedTypeMessage(media: String, endpoint: WebhookEndpoint) -> String {
        let what = "Content-Type \(quoted(media)) is not supported: "
        let curl = media == "application/x-www-form-urlencoded" ? " (curl -d sends form data unless given -H 'Content-Type: application/json')" : ""
        if endpoint == .events {
            return what
                + "send \"Content-Type: application/json\" (one event or an array) or \"Content-Type: application/x-ndjson\" (one event a line)"
                + curl
        }
        return what + "send \"Content-Type: application/json\"" + curl
    }

    /// The batch for `endpoint`, or the 400 saying why nothing in the body can be read.
    static func events(
        from bytes: UnsafeBufferPointer<UInt8>, format: Format, endpoint: WebhookEndpoint, maxDepth: Int
    ) -> Result<[IncomingEvent], WebhookReply> {
        if format == .ndjson { return lines(from: bytes, maxDepth: maxDepth) }
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes, maxDepth: maxDepth)
        } catch {
            return .failure(.badRequest("the body is not valid JSON: \(error.description)\(ndjsonHint(error, endpoint: endpoint))"))
        }
        switch endpoint {
        case .events:
            switch document {
            case .object:
                return .success([IncomingEvent(value: document, origin: .request(endpoint.path, index: 0))])
            case .array(let items):
                guard !items.isEmpty else { return .failure(.badRequest("the array is empty: send at least one event")) }
                return .success(items.enumerated().map { IncomingEvent(value: $1, origin: .request(endpoint.path, index: $0)) })
            default:
                return .failure(.badRequest("expected an event (a JSON object) or an array of events, got \(document.typeName)"))
            }
        case .track, .identify:
            guard case .object(var object) = document else {
                let hint = document.arrayValue != nil ? ": send several calls to /v1/batch" : ""
                return .failure(.badRequest("\(endpoint.path) takes one call (a JSON object), got \(document.typeName)\(hint)"))
            }
            if object["type"] == nil || object["type"] == .null, let type = endpoint.impliedType {
                object["type"] = .string(type)
            }
            return .success([IncomingEvent(value: .object(object), origin: .request(endpoint.path, index: 0))])
        case .batch:
            return batch(document)
        }
    }

    /// Segment's `{"batch": [...], "context": {...}}`: items keep their own `type`; a top-level
    /// `context` applies to every item, an item's own keys winning.
    static func batch(_ document: JSONValue) -> Result<[IncomingEvent], WebhookReply> {
        guard case .object(let envelope) = document else {
            return .failure(.badRequest("expected {\"batch\": [...]}, got \(document.typeName)"))
        }
        let items: [JSONValue]
        switch envelope["batch"] {
        case nil, .null:
            return .failure(.badRequest("expected {\"batch\": [...]}: the \"batch\" key is missing"))
        case .array(let array):
            items = array
        case let other?:
            return .failure(.badRequest("\"batch\" must be an array of calls, got \(other.typeName)"))
        }
        guard !items.isEmpty else { return .failure(.badRequest("\"batch\" is empty: send at least one call")) }
        func origin(_ index: Int) -> EventOrigin { .request(WebhookEndpoint.batch.path, index: index) }
        guard case .object(let shared)? = envelope["context"], !shared.isEmpty else {
            return .success(items.enumerated().map { IncomingEvent(value: $1, origin: origin($0)) })
        }
        return .success(
            items.enumerated().map { index, item in
                guard case .object(var object) = item else { return IncomingEvent(value: item, origin: origin(index)) }
                switch object["context"] {
                case nil, .null:
                    object["context"] = .object(shared)
                case .object(let own):
                    object["context"] = .object(shared.merging(own) { _, mine in mine })
                default:
                    break  // a wrong type is the engine's to report
                }
                return IncomingEvent(value: .object(object), origin: origin(index))
            })
    }

    /// NDJSON: a line that is not JSON becomes an event with `problem`, which the engine rejects with
    /// that reason (keeping the line's text), while the other lines are committed.
    static func lines(from bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) -> Result<[IncomingEvent], WebhookReply> {
        let parsed = JSONParser.parseLines(bytes, maxDepth: maxDepth)
        guard !parsed.isEmpty else {
            return .failure(.badRequest("the body has no events: send one JSON object per line"))
        }
        return .success(
            parsed.enumerated().map { index, entry in
                let origin = EventOrigin.request(WebhookEndpoint.events.path, index: index)
                switch entry.result {
                case .success(let value):
                    return IncomingEvent(value: value, origin: origin)
                case .failure(let error):
                    return IncomingEvent(
                        value: .string(lineText(bytes, around: error.offset)), problem: "invalid JSON: \(error.description)", origin: origin)
                }
            })
    }

    /// A body sent as JSON whose first value ends a line and another value follows on the next line
    /// is almost surely NDJSON with the wrong Content-Type: say which header to use.
    static func ndjsonHint(_ error: JSONParseError, endpoint: WebhookEndpoint) -> String {
        guard error.line > 1, error.message.hasSuffix("after the JSON value") else { return "" }
        if endpoint == .events {
            return "; this looks like NDJSON (one event per line): send it with Content-Type: application/x-ndjson"
        }
        return "; this looks like NDJSON (one event per line): send it to /v1/events with Content-Type: application/x-ndjson,"
            + " or send \(endpoint.path) one JSON document"
    }

    /// The text of the line holding `offset`, without its line break (at most 64 KiB of it).
    static func lineText(_ bytes: UnsafeBufferPointer<UInt8>, around offset: Int) -> String {
        let newline = UInt8(ascii: "\n")
        var start = min(max(0, offset), bytes.count)
        while start > 0, bytes[start - 1] != newline { start -= 1 }
        var end = start
        while end < bytes.count, bytes[end] != newline { end += 1 }
        if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        end = min(end, start + 65_536)
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }

    static func quoted(_ text: String) -> String {
        JSONValue.string(String(text.prefix(100))).compactJSON
    }
}
