import Foundation

/// What the dispatcher may do with an action's sends (docs/plugins.md, "What an action declares").
///
/// The dispatcher never reads a send's body: it groups, budgets and cancels sends only through what
/// the action declares here. An action that declares nothing (`ActionDispatch()`, the default) has
/// each send go alone, none cancellable, and no budget but what its responses report.
public struct ActionDispatch: Sendable {
    /// How sends share one request; nil: every send is its own request.
    public var coalescing: SendCoalescing?
    /// How an accepted send is withdrawn (`cancel_on` after it was sent); nil: it cannot be.
    public var cancellation: SendCancellation?
    /// The client-side budgets every request takes a token from (the first that is empty makes the
    /// request wait). Empty: the action is not budgeted by the client.
    public var budget: [RateBucket]
    /// The action schedules each send ahead on the far side (Braze creates a schedule): a send whose
    /// time passed while it waited is planned again at dispatch time, and `SendRequest.schedule`
    /// carries the new plan. False: sends go as planned.
    public var schedulesAhead: Bool

    public init(coalescing: SendCoalescing? = nil, cancellation: SendCancellation? = nil, budget: [RateBucket] = [], schedulesAhead: Bool = false) {
        self.coalescing = coalescing
        self.cancellation = cancellation
        self.budget = budget
        self.schedulesAhead = schedulesAhead
    }
}

/// How an action's sends coalesce into one request. The dispatcher only groups; the action computes
/// the key and merges the bodies.
public struct SendCoalescing: Sendable {
    /// The key sends must share to go in one request, from a send as it would go alone; nil: this
    /// send goes alone (for Braze: one without `recipients`, such as a broadcast).
    public var key: @Sendable (SendRequest) -> String?
    /// Who a send is for: one request never holds two sends with the same identity (Braze would
    /// collapse them into one message).
    public var identity: @Sendable (SendRequest) -> String
    /// The most sends in one request (Braze: 50 recipients).
    public var maxSends: Int
    /// The most bytes `size` may add up to in one request; nil: no cap. A send bigger than the cap
    /// alone still goes, alone.
    public var maxBytes: Int?
    /// What a send adds to a request towards `maxBytes`.
    public var size: @Sendable (SendRequest) -> Int
    /// The one request for sends that share a key, in order (also called for a group of one): its
    /// body is what goes out and what the ledger keeps as the request sent.
    public var merge: @Sendable ([SendRequest]) -> SendRequest

    public init(
        key: @escaping @Sendable (SendRequest) -> String?, identity: @escaping @Sendable (SendRequest) -> String, maxSends: Int,
        maxBytes: Int? = nil, size: @escaping @Sendable (SendRequest) -> Int = { $0.body.compactUTF8Count },
        merge: @escaping @Sendable ([SendRequest]) -> SendRequest
    ) {
        self.key = key
        self.identity = identity
        self.maxSends = max(1, maxSends)
        self.maxBytes = maxBytes
        self.size = size
        self.merge = merge
    }

    /// The key made of these body members' compact JSON (a member absent counts as absent), after
    /// the send's planned schedule is put at `scheduleField` when given.
    public static func fieldsKey(_ fields: [String], request: SendRequest, scheduleField: String? = nil) -> String {
        var body = request.body
        if let scheduleField, let schedule = request.schedule, case .object(var object) = body {
            object[scheduleField] = schedule
            body = .object(object)
        }
        return fields.map { body[$0]?.compactJSON ?? "" }.joined(separator: "\u{1}")
    }
}

/// What identifies an accepted send when it is withdrawn: a scope (Braze: the campaign_id) and the
/// handle the action answered (Braze: the schedule_id).
public struct CancelHandle: Sendable, Hashable {
    public var scope: String
    public var id: String

    public init(scope: String, id: String) {
        self.scope = scope
        self.id = id
    }
}

/// How an action withdraws a send it accepted (`SendRequest.Operation.delete`).
public struct SendCancellation: Sendable {
    /// From the body sent and the success details, the handle to withdraw it by; nil when the answer
    /// carried none (that send cannot be withdrawn).
    public var handle: @Sendable (_ sent: JSONValue, _ details: JSONValue) -> CancelHandle?
    /// The body of the `.delete` request for a handle.
    public var request: @Sendable (CancelHandle) -> JSONValue
    /// How the ledger says it was withdrawn ("deleted from Braze (schedule_id ...)").
    public var done: @Sendable (CancelHandle) -> String

    public init(
        handle: @escaping @Sendable (JSONValue, JSONValue) -> CancelHandle?, request: @escaping @Sendable (CancelHandle) -> JSONValue,
        done: @escaping @Sendable (CancelHandle) -> String = { "withdrawn (\($0.id))" }
    ) {
        self.handle = handle
        self.request = request
        self.done = done
    }
}

/// A token bucket the client keeps for an action: `capacity` requests per `period`, refilled evenly.
public struct RateBucket: Sendable {
    /// The setting it comes from, for logs (`braze.requests_per_hour`).
    public var name: String
    public var capacity: Int
    public var period: TimeInterval
    /// Whether a request (its merged body) takes from this bucket; nil: every request does.
    public var applies: (@Sendable (JSONValue) -> Bool)?

    public init(name: String, capacity: Int, period: TimeInterval, applies: (@Sendable (JSONValue) -> Bool)? = nil) {
        self.name = name
        self.capacity = capacity
        self.period = period
        self.applies = applies
    }
}

/// What a response said about the action's budget on the far side (Braze: `X-RateLimit-*`, read
/// case-insensitively; empty headers are nil).
public struct BudgetFacts: Sendable, Hashable {
    /// Requests the window allows.
    public var limit: Int?
    /// Requests left in the window; at 0 nothing goes out before `reset`.
    public var remaining: Int?
    /// When the window resets.
    public var reset: Date?

    public init(limit: Int? = nil, remaining: Int? = nil, reset: Date? = nil) {
        self.limit = limit
        self.remaining = remaining
        self.reset = reset
    }
}

/// An outcome with what the response said about the budget.
public struct ActionResponse: Sendable, Hashable {
    public var outcome: ActionOutcome
    /// nil: the response said nothing about the budget.
    public var budget: BudgetFacts?

    public init(outcome: ActionOutcome, budget: BudgetFacts? = nil) {
        self.outcome = outcome
        self.budget = budget
    }
}

extension Action {
    /// Declares nothing: each send alone, none cancellable, no client budget.
    public var dispatch: ActionDispatch { ActionDispatch() }

    /// `perform`, with no budget facts.
    public func respond(to request: SendRequest, context: PluginContext) async -> ActionResponse {
        ActionResponse(outcome: await perform(request, context: context))
    }
}
