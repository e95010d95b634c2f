import FlintPluginAPI
import Foundation

/// Checks a request body the way Braze does, strictly per docs/braze.md: the list of problems that make
/// Braze answer 400, in the order Braze's documentation lists the fields. Empty means valid.
///
/// Pure: the body and "now" in, messages out; no state, no clock, no I/O. Whether a `schedule_id`
/// exists is the ledger's question, not the validator's.
public struct SandboxValidator: Sendable {
    /// At most this many recipients per request (docs/braze.md, Recipients).
    public static let maxRecipients = 50
    /// `trigger_properties` at most 50 KB, read as 51,200 bytes of compact UTF-8 JSON (docs/architecture.md, Dispatch).
    public static let maxTriggerPropertiesBytes = 51_200
    /// `send_id`: ASCII, 1 to 64 characters.
    public static let maxSendIDLength = 64

    public var knownCampaigns: Set<String>?
    public var companyTimeZone: TimeZone
    public var horizon: Duration

    public init(knownCampaigns: Set<String>? = nil, companyTimeZone: TimeZone = TimeZone(identifier: "UTC")!, horizon: Duration = .seconds(90 * 86_400)) {
        self.knownCampaigns = knownCampaigns
        self.companyTimeZone = companyTimeZone
        self.horizon = horizon
    }

    public init(configuration: BrazeSandboxConfiguration) {
        self.init(knownCampaigns: configuration.knownCampaigns, companyTimeZone: configuration.companyTimeZone, horizon: configuration.horizon)
    }

    /// The problems in a raw body: first its JSON syntax, then its content.
    public func errors(in body: [UInt8], for endpoint: SandboxEndpoint, now: Date) -> [String] {
        do {
            let value = try JSONParser.parse(body, maxDepth: Self.maxDepth)
            return errors(in: value, for: endpoint, now: now)
        } catch {
            return ["invalid JSON: \(error.description)"]
        }
    }

    /// The problems in a parsed body.
    public func errors(in body: JSONValue, for endpoint: SandboxEndpoint, now: Date) -> [String] {
        guard case .object(let object) = body else {
            return ["the request body must be a JSON object, got \(body.typeName)"]
        }
        var errors: [String] = []
        checkCampaign(object["campaign_id"], into: &errors)
        switch endpoint {
        case .create, .send:
            checkSendID(object["send_id"], into: &errors)
            checkTargeting(object, into: &errors)
            if let properties = object["trigger_properties"] {
                checkTriggerProperties(properties, at: "trigger_properties", into: &errors)
            }
            if endpoint == .create {
                checkSchedule(object["schedule"], now: now, into: &errors)
            }
        case .update:
            checkScheduleID(object["schedule_id"], into: &errors)
            checkSchedule(object["schedule"], now: now, into: &errors)
        case .delete:
            checkScheduleID(object["schedule_id"], into: &errors)
        }
        return errors
    }

    static let maxDepth = 128

    // MARK: Identifiers

    func checkCampaign(_ value: JSONValue?, into errors: inout [String]) {
        switch value {
        case nil, .null?:
            errors.append("campaign_id is required")
        case .string(let id)?:
            if id.isEmpty {
                errors.append("invalid campaign_id: it is empty")
            } else if let knownCampaigns, !knownCampaigns.contains(id) {
                errors.append("invalid campaign_id")
            }
        case let other?:
            errors.append("campaign_id must be a string, got \(other.typeName)")
        }
    }

    func checkScheduleID(_ value: JSONValue?, into errors: inout [String]) {
        switch value {
        case nil, .null?:
            errors.append("schedule_id is required")
        case .string(let id)?:
            if id.isEmpty { errors.append("schedule_id must not be empty") }
        case let other?:
            errors.append("schedule_id must be a string, got \(other.typeName)")
        }
    }

    func checkSendID(_ value: JSONValue?, into errors: inout [String]) {
        guard let value, !value.isNull else { return }
        guard case .string(let id) = value else {
            errors.append("send_id must be a string, got \(value.typeName)")
            return
        }
        let count = id.unicodeScalars.count
        if count < 1 || count > Self.maxSendIDLength || !id.unicodeScalars.allSatisfy(\.isASCII) {
            errors.append("invalid send_id: it must be 1 to \(Self.maxSendIDLength) ASCII characters (got \(count) characters)")
        }
    }

    // MARK: Properties

    func checkTriggerProperties(_ value: JSONValue, at path: String, into errors: inout [String]) {
        if value.isNull { return }
        guard case .object = value else {
            errors.append("\(path) must be an object, got \(value.typeName)")
            return
        }
        let size = value.compactUTF8Count
        if size > Self.maxTriggerPropertiesBytes {
            errors.append("\(path) is \(size) bytes of JSON: at most \(Self.maxTriggerPropertiesBytes) (50 KB) are allowed")
        }
    }
}
