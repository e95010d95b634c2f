import FlintPluginAPI
import Foundation

/// Builds the exact body of `POST /campaigns/trigger/schedule/create` (docs/braze.md, The call).
public enum BrazeRequestBuilder {
    /// Braze's limit on trigger_properties: 50 KB of compact UTF-8 JSON (docs/architecture.md).
    public static let maxTriggerPropertiesBytes = 51_200

    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// One recipient object: exactly one identifier, plus its trigger_properties.
    public static func recipient(
        _ spec: RecipientSpec, triggerProperties: JSONValue?, scope: JSONValue
    ) -> Result<JSONValue, Failure> {
        var object: [String: JSONValue] = [:]
        func rendered(_ t: Template, _ what: String) -> Result<String, Failure> {
            guard let s = t.renderString(in: scope), !s.isEmpty else {
                return .failure(Failure(reason: "recipient \(what) rendered empty from '\(t.source)'"))
            }
            return .success(s)
        }
        switch spec {
        case .externalUserId(let t):
            switch rendered(t, "external_user_id") {
            case .success(let id): object["external_user_id"] = .string(id)
            case .failure(let f): return .failure(f)
            }
        case .userAlias(let name, let label):
            let n = rendered(name, "user_alias.alias_name")
            let l = rendered(label, "user_alias.alias_label")
            switch (n, l) {
            case (.success(let n), .success(let l)):
                object["user_alias"] = .object(["alias_name": .string(n), "alias_label": .string(l)])
            case (.failure(let f), _), (_, .failure(let f)):
                return .failure(f)
            }
        case .email(let t, let prioritization):
            switch rendered(t, "email") {
            case .success(let email):
                object["email"] = .string(email)
                object["prioritization"] = .array(prioritization.map { .string($0) })
            case .failure(let f): return .failure(f)
            }
        }
        if let triggerProperties { object["trigger_properties"] = triggerProperties }
        return .success(.object(object))
    }

    /// The whole request body for one event and one rule.
    /// Who a create body is for, as the outbox key names it: its first recipient
    /// (`external_user_id:U`, `user_alias:LABEL:NAME`, `email:E`), or `broadcast`; nil for a body
    /// with neither (one send per rule and event).
    public static func recipientKey(of body: JSONValue) -> String? {
        if let r = body["recipients"]?.arrayValue?.first {
            if let id = r["external_user_id"]?.stringValue { return "external_user_id:" + id }
            if let alias = r["user_alias"] { return "user_alias:" + (alias["alias_label"]?.stringValue ?? "") + ":" + (alias["alias_name"]?.stringValue ?? "") }
            if let email = r["email"]?.stringValue { return "email:" + email }
            return "recipient"
        }
        return body["broadcast"] == .bool(true) ? "broadcast" : nil
    }

    public static func body(send: SendSpec, scope: JSONValue, schedule: BrazeSchedule) -> Result<JSONValue, Failure> {
        guard let campaignId = send.campaignId else { return .failure(Failure(reason: "the rule has no campaign_id")) }
        var body: [String: JSONValue] = [
            "campaign_id": .string(campaignId),
            "broadcast": .bool(send.broadcast),
            "schedule": schedule.json,
        ]
        if let sendId = send.sendId {
            guard let id = sendId.renderString(in: scope), !id.isEmpty else {
                return .failure(Failure(reason: "send_id rendered empty from '\(sendId.source)'"))
            }
            guard id.utf8.count <= 64, id.unicodeScalars.allSatisfy({ $0.isASCII }) else {
                return .failure(Failure(reason: "send_id '\(id)' must be 1-64 ASCII characters (Braze)"))
            }
            body["send_id"] = .string(id)
        }
        var properties: JSONValue?
        if let tp = send.triggerProperties {
            let rendered = tp.render(in: scope) ?? .object([:])
            let size = rendered.compactUTF8Count
            if size > maxTriggerPropertiesBytes {
                return .failure(Failure(reason: "trigger_properties are \(size) bytes of JSON; Braze accepts at most 51200 (50 KB)"))
            }
            if case .object(let o) = rendered, !o.isEmpty { properties = rendered }
        }
        if let audience = send.audience { body["audience"] = audience }
        if send.broadcast {
            // No recipients with broadcast: the properties can only go at the top level.
            if let properties { body["trigger_properties"] = properties }
        } else {
            switch recipient(send.recipient, triggerProperties: properties, scope: scope) {
            case .success(let r): body["recipients"] = .array([r])
            case .failure(let f): return .failure(f)
            }
        }
        return .success(.object(body))
    }
}
