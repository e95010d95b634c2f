import FlintPluginAPI
import Foundation

/// One automation rule, as loaded and validated from `rules/`.
///
/// Immutable, and a class so that rule sets, decisions and runs share one copy.
public final class Rule: Sendable {
    public let id: String
    public let description: String?
    public let enabled: Bool
    public let trigger: Trigger
    public let send: SendSpec
    public let schedule: ScheduleSpec
    public let limit: LimitSpec
    public let cancelOn: [Trigger]
    /// `live` (the default) or `shadow`: a shadow rule's planned sends end `shadow`, with the request
    /// it would send, and send nothing, consuming no limit (docs/rules.md, `mode`).
    public let mode: RuleMode
    /// Where the rule's definition starts.
    public let location: SourceLocation
    /// A hash of the rule's definition (its own YAML/JSON text, canonicalised), the rule version.
    public let version: String
    /// The rule's definition as canonical JSON, kept with each version.
    public let definition: JSONValue
    /// The text of the file it was loaded from, kept with each version so the ledger can parse the
    /// exact rule again when it rebuilds a run's trace; nil for rules not loaded from text.
    public let fileText: String?

    public init(
        id: String, description: String? = nil, enabled: Bool = true, trigger: Trigger, send: SendSpec,
        schedule: ScheduleSpec = ScheduleSpec(), limit: LimitSpec = LimitSpec(), cancelOn: [Trigger] = [],
        location: SourceLocation, version: String = "", definition: JSONValue = .null, fileText: String? = nil, mode: RuleMode = .live
    ) {
        self.mode = mode
        self.fileText = fileText
        self.id = id
        self.description = description
        self.enabled = enabled
        self.trigger = trigger
        self.send = send
        self.schedule = schedule
        self.limit = limit
        self.cancelOn = cancelOn
        self.location = location
        self.version = version
        self.definition = definition
    }
}

/// Whether a rule's planned sends go out (`live`) or are only recorded (`shadow`).
public enum RuleMode: String, Sendable, Hashable, CaseIterable {
    case live
    case shadow
}

/// `when:` (or a `cancel_on` entry): event names and an optional condition.
public struct Trigger: Sendable {
    public var events: [String]
    public var condition: Condition?

    public init(events: [String], condition: Condition? = nil) {
        self.events = events
        self.condition = condition
    }
}

/// Who receives a send. Exactly one identifier per recipient (docs/braze.md, Recipients).
public enum RecipientSpec: Sendable, Hashable {
    case externalUserId(Template)
    case userAlias(name: Template, label: Template)
    case email(Template, prioritization: [String])

    /// The default recipient: `external_user_id: "{{ userId }}"`.
    public static var defaultRecipient: RecipientSpec {
        // The literal is a valid template; parsing cannot fail.
        .externalUserId(try! Template(parsing: "{{ userId }}"))
    }
}

/// `send:`: what to deliver, through which action.
public struct SendSpec: Sendable {
    /// `braze` unless the rule names an action plugin.
    public var action: String
    public var campaignId: String?
    public var sendId: Template?
    public var recipient: RecipientSpec
    public var triggerProperties: TemplatedValue?
    public var audience: JSONValue?
    public var broadcast: Bool
    public var allowBroadcast: Bool
    /// The templated body an action plugin receives.
    public var with: TemplatedValue?

    public init(
        action: String = "braze", campaignId: String? = nil, sendId: Template? = nil,
        recipient: RecipientSpec = .defaultRecipient, triggerProperties: TemplatedValue? = nil,
        audience: JSONValue? = nil, broadcast: Bool = false, allowBroadcast: Bool = false, with: TemplatedValue? = nil
    ) {
        self.action = action
        self.campaignId = campaignId
        self.sendId = sendId
        self.recipient = recipient
        self.triggerProperties = triggerProperties
        self.audience = audience
        self.broadcast = broadcast
        self.allowBroadcast = allowBroadcast
        self.with = with
    }

    public var isBraze: Bool { action == "braze" }
}

/// `limit:`: re-eligibility and a rule-wide cap. Evaluated after the planner.
public struct LimitSpec: Sendable {
    public struct OncePer: Sendable {
        public var key: Template
        /// Seconds between consuming event times.
        public var within: Int
        public init(key: Template, within: Int) {
            self.key = key
            self.within = within
        }
    }

    public struct MaxSends: Sendable, Hashable {
        public var count: Int
        /// Seconds of the rolling window (processing time).
        public var per: Int
        public init(count: Int, per: Int) {
            self.count = count
            self.per = per
        }
    }

    public var oncePer: OncePer?
    public var maxSends: MaxSends?

    public init(oncePer: OncePer? = nil, maxSends: MaxSends? = nil) {
        self.oncePer = oncePer
        self.maxSends = maxSends
    }
}
