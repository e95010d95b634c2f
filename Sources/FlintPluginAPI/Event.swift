import Foundation

/// A product event in the shape of a Segment `track` or `identify` call.
///
/// `raw` is the whole object as received (with `type` filled in), so conditions and templates can
/// read any field by path, including ones Flint does not model (`context.page.url`, ...).
public struct Event: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case track
        case identify
    }

    public var type: Kind
    /// The track call's `event` name; nil for identify.
    public var name: String?
    /// The dedupe key.
    public var messageId: String
    public var userId: String?
    public var anonymousId: String?
    /// When it happened (`timestamp`, else when Flint received it).
    public var timestamp: Date
    /// The object as received, `type` filled in.
    public var raw: JSONValue

    public init(
        type: Kind, name: String?, messageId: String, userId: String?, anonymousId: String?, timestamp: Date,
        raw: JSONValue
    ) {
        self.type = type
        self.name = name
        self.messageId = messageId
        self.userId = userId
        self.anonymousId = anonymousId
        self.timestamp = timestamp
        self.raw = raw
    }

    public var properties: JSONValue { raw["properties"] ?? .object([:]) }
    public var traits: JSONValue { raw["traits"] ?? .object([:]) }
    public var context: JSONValue { raw["context"] ?? .object([:]) }
    /// `context.timezone` as sent (not yet checked against the zone database).
    public var contextTimeZone: String? { raw["context"]?["timezone"]?.stringValue }
    /// The identifier Flint keys users by: `userId`, else `anonymousId`.
    public var userKey: String { userId ?? anonymousId ?? "" }
}

/// Why an incoming object is not an event: one line per problem, each naming the field.
public struct EventRejection: Error, Sendable, Hashable, CustomStringConvertible {
    public var errors: [String]
    public init(_ errors: [String]) { self.errors = errors }
    public var description: String { errors.joined(separator: "; ") }
}

extension Event {
    /// Checks and reads one incoming object.
    ///
    /// - Parameters:
    ///   - value: the decoded JSON object.
    ///   - receivedAt: the default `timestamp`.
    ///   - fallbackMessageId: the id to use when the object has no `messageId` (file events derive
    ///     theirs from the file's content hash and line).
    public static func decode(
        _ value: JSONValue, receivedAt: Date, fallbackMessageId: @autoclosure () -> String
    ) -> Result<Event, EventRejection> {
        guard case .object(var object) = value else {
            return .failure(EventRejection(["event: expected a JSON object, got \(value.typeName)"]))
        }
        var errors: [String] = []

        var kind: Kind? = .track
        switch object["type"] {
        case nil, .null:
            object["type"] = .string("track")
        case .string(let t):
            kind = Kind(rawValue: t)
            if kind == nil {
                errors.append("type: \"\(t)\" is not supported; use \"track\" or \"identify\"")
            }
        case let other?:
            kind = nil
            errors.append("type: expected a string, got \(other.typeName)")
        }

        var name: String?
        if kind == .track {
            switch object["event"] {
            case .string(let e) where Self.hasNonBlank(e):
                name = e
            case .string:
                errors.append("event: must not be empty")
            case nil, .null:
                errors.append("event: required for a track call (the event name, e.g. \"Cart Abandoned\")")
            case let other?:
                errors.append("event: expected a string, got \(other.typeName)")
            }
        }

        func identifier(_ key: String) -> String? {
            switch object[key] {
            case nil, .null:
                return nil
            case .string(let s):
                if s.isEmpty { return nil }
                if s.utf8.count > 1024 {
                    errors.append("\(key): longer than 1024 bytes")
                    return nil
                }
                return s
            case .number(let n) where n == n.rounded() && abs(n) < 9.0e15:
                // Some SDKs send numeric ids; Braze's external_user_id is a string.
                let s = String(Int64(n))
                object[key] = .string(s)
                return s
            case let other?:
                errors.append("\(key): expected a string, got \(other.typeName)")
                return nil
            }
        }
        let userId = identifier("userId")
        let anonymousId = identifier("anonymousId")
        if userId == nil, anonymousId == nil, !errors.contains(where: { $0.hasPrefix("userId") || $0.hasPrefix("anonymousId") }) {
            errors.append("userId: one of userId or anonymousId is required")
        }

        var messageId: String?
        switch object["messageId"] {
        case nil, .null:
            break
        case .string(let s) where !s.isEmpty && s.utf8.count <= 256:
            messageId = s
        case .string(let s) where s.isEmpty:
            errors.append("messageId: must not be empty (omit it to let Flint assign one)")
        case .string:
            errors.append("messageId: longer than 256 bytes")
        case let other?:
            errors.append("messageId: expected a string, got \(other.typeName)")
        }

        var timestamp = receivedAt
        switch object["timestamp"] {
        case nil, .null:
            break
        case .string(let s):
            if let t = Timestamp.parse(s) {
                timestamp = t
            } else {
                errors.append(
                    "timestamp: \"\(s)\" is not an ISO 8601 time with an offset (e.g. 2026-11-29T18:05:00Z)")
            }
        case let other?:
            errors.append("timestamp: expected an ISO 8601 string, got \(other.typeName)")
        }

        for key in ["properties", "traits", "context"] {
            switch object[key] {
            case nil, .null, .object:
                break
            case let other?:
                errors.append("\(key): expected an object, got \(other.typeName)")
            }
        }
        if case .object(let context)? = object["context"], let tz = context["timezone"], !tz.isNull,
            tz.stringValue == nil
        {
            errors.append("context.timezone: expected an IANA zone name, got \(tz.typeName)")
        }

        guard errors.isEmpty, let kind else { return .failure(EventRejection(errors)) }
        let id = messageId ?? fallbackMessageId()
        object["messageId"] = .string(id)
        return .success(
            Event(
                type: kind, name: name, messageId: id, userId: userId, anonymousId: anonymousId,
                timestamp: timestamp, raw: .object(object)))
    }
}

extension Event {
    /// Whether `text` has a character other than spaces and tabs (Foundation's `.whitespaces`: tab
    /// and the Unicode space separators), without going through NSString: every event is checked.
    static func hasNonBlank(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0 != "\t" && $0.properties.generalCategory != .spaceSeparator }
    }
}
