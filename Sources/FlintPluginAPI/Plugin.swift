import Foundation
import Logging

/// What the engine hands a plugin when it starts it.
public struct PluginContext: Sendable {
    /// The plugin's configured name (`webhook`, `inbox`, `braze`, or a `plugins:` entry's name).
    public var name: String
    /// A logger whose metadata already carries `plugin.name`. Plugins never bootstrap logging.
    public var logger: Logger

    public init(name: String, logger: Logger) {
        self.name = name
        self.logger = logger
    }
}

/// One object a source hands the engine, before it is checked.
public struct IncomingEvent: Sendable {
    /// The object as received.
    public var value: JSONValue
    /// The id to use when `value` has no `messageId` (files derive it from content hash and line,
    /// so a file read twice never produces two events).
    public var fallbackMessageId: String?
    /// Set when the source could not read the item at all (invalid JSON on an NDJSON line): the engine
    /// rejects it with this reason and keeps `value` (the raw text, as a string) for inspection.
    public var problem: String?
    /// Where the item came from (file and line, request and index): kept with it if it is rejected,
    /// so `flint events --rejected` can point at it.
    public var origin: EventOrigin?

    public init(value: JSONValue, fallbackMessageId: String? = nil, problem: String? = nil, origin: EventOrigin? = nil) {
        self.value = value
        self.fallbackMessageId = fallbackMessageId
        self.problem = problem
        self.origin = origin
    }
}

/// What the engine did with a batch, returned only after the accepted events are committed.
public struct SubmitReceipt: Sendable, Hashable {
    public struct Rejected: Sendable, Hashable {
        /// 0-based position in the submitted batch.
        public var index: Int
        public var errors: [String]
        public init(index: Int, errors: [String]) {
            self.index = index
            self.errors = errors
        }
    }

    public var accepted: Int
    public var duplicates: Int
    public var rejected: [Rejected]

    public init(accepted: Int, duplicates: Int, rejected: [Rejected]) {
        self.accepted = accepted
        self.duplicates = duplicates
        self.rejected = rejected
    }
}

/// Where sources deliver events: the engine.
public protocol EventSink: Sendable {
    /// Checks, deduplicates and durably commits a batch. When this returns, every accepted event
    /// is in the store and will be processed even if the process dies now: only then may a
    /// source acknowledge its input (answer 202, move a file, ack an exec plugin's line).
    /// Throws when nothing could be committed (store unavailable, shutting down): the source must
    /// not acknowledge and should let its client retry.
    func submit(_ batch: [IncomingEvent], source: String) async throws -> SubmitReceipt
}

/// A plugin that produces events: the HTTP listener, the watched folder, an exec plugin.
///
/// The contract: acknowledge your input (answer your client, move the file, ack the line) only after
/// `sink.submit` returned for it; when `submit` throws, acknowledge nothing and let the input come
/// again (the engine drops the copies of what it already committed, by `messageId`).
public protocol EventSource: Sendable {
    /// The plugin's name: unique among the plugins, shown in logs, `flint plugins` and as the
    /// events' `source`.
    var name: String { get }
    /// Runs until the task is cancelled (that is how `flint serve` stops a source on shutdown),
    /// delivering batches to `sink`; returns then, or throws only for a failure the source cannot
    /// get over (it is logged, and `flint serve` stops).
    func run(sink: any EventSink, context: PluginContext) async throws
    /// True for a source that stops by itself on graceful shutdown (finishing what it acknowledges,
    /// like a listener answering its requests in flight) instead of being cancelled. Default false.
    var handlesGracefulShutdown: Bool { get }
}

extension EventSource {
    public var handlesGracefulShutdown: Bool { false }
}

/// One planned send handed to an action.
public struct SendRequest: Sendable, Hashable {
    /// What to do: create the send, or delete one the action accepted earlier (`cancel_on`).
    public enum Operation: String, Sendable, Hashable {
        case create
        /// `body` holds what identifies the earlier send (for Braze: `campaign_id`, `schedule_id`).
        case delete
    }

    /// The outbox key: stable across retries, so an action may use it for its own dedupe.
    public var id: String
    /// The body to deliver: Braze's request, or the rendered `send.with` for other actions.
    public var body: JSONValue
    /// The Braze schedule object the planner computed.
    public var schedule: JSONValue?
    public var operation: Operation

    public init(id: String, body: JSONValue, schedule: JSONValue?, operation: Operation = .create) {
        self.id = id
        self.body = body
        self.schedule = schedule
        self.operation = operation
    }
}

/// What an action reports for one request.
public enum ActionOutcome: Sendable, Hashable {
    /// Delivered. `details` are kept in the ledger (Braze's `schedule_id`, `dispatch_id`).
    case success(details: JSONValue)
    /// Not delivered. A retryable failure is tried again with backoff; otherwise the run fails.
    case failure(message: String, retryable: Bool)
    /// May or may not have been delivered (timeout after the request was written): never resent
    /// automatically.
    case unknown(message: String)
    /// Not delivered, try again, not before `after` when given (a rate limit's reset).
    case retryLater(message: String, after: Date?)
    /// The action's credentials were refused (Braze 401/403): every send would fail, so the engine
    /// pauses all dispatching through this action and probes until it works again.
    case credentialsRefused(message: String)
}

/// A plugin that delivers planned sends: Braze, or an exec action. Rules name it in `send.action`.
///
/// The engine calls it from its outbox: the run and its outbox row are committed before `perform`
/// is called, each outcome is recorded in the ledger, and retries (with backoff, up to
/// `braze.max_attempts`) are the engine's job, not the action's.
public protocol Action: Sendable {
    /// The name rules use in `send.action`.
    var name: String { get }
    /// Performs one request, and may be called for several requests at once. Must not throw: every
    /// problem is an `ActionOutcome`. Say `.failure(retryable: true)` or `.retryLater` only when
    /// nothing was done; when the request may have been done (a timeout after it was sent), say
    /// `.unknown`: it is never sent again by itself.
    func perform(_ request: SendRequest, context: PluginContext) async -> ActionOutcome
    /// What the dispatcher may do with this action's sends: coalesce them, budget them, cancel them
    /// (docs/plugins.md). The default declares nothing: each send alone, none cancellable.
    var dispatch: ActionDispatch { get }
    /// `perform` with what the response said about the budget (`BudgetFacts`); the dispatcher calls
    /// this one. The default calls `perform` and reports no facts.
    func respond(to request: SendRequest, context: PluginContext) async -> ActionResponse
}

/// Thrown by `EventSink.submit` when the engine cannot take events now (overloaded, shutting down,
/// store unavailable). Nothing of the batch was committed; a source should tell its client to retry
/// (HTTP 503 with `Retry-After`) or retry itself later (a file stays where it is).
public struct SinkUnavailable: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String
    /// When a retry makes sense, in seconds.
    public var retryAfterSeconds: Int

    public init(reason: String, retryAfterSeconds: Int = 1) {
        self.reason = reason
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { reason }
}
