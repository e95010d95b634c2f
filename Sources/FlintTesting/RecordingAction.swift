import FlintPluginAPI
import Foundation
import Synchronization

/// An action that records every request and answers from a script: the outcomes given first, one
/// per request, then `otherwise` (by default a success: named `braze`, with a fresh `schedule_id`
/// and `dispatch_id`, as Braze would answer; otherwise with no details).
public final class RecordingAction: Action, Sendable {
    public let name: String
    private let script: Mutex<[ActionOutcome]>
    private let fallback: ActionOutcome?
    private let log = Mutex<[SendRequest]>([])
    private let counter = Mutex(0)

    public let dispatch: ActionDispatch

    /// - Parameter dispatch: what the action declares to the dispatcher; nil: named `braze`, what
    ///   the Braze plugin declares about coalescing, cancelling and planning again (without its
    ///   budget); any other name, nothing.
    public init(name: String = "braze", _ script: [ActionOutcome] = [], otherwise: ActionOutcome? = nil, dispatch: ActionDispatch? = nil) {
        self.name = name
        self.script = Mutex(script)
        self.fallback = otherwise
        self.dispatch = dispatch ?? (name == "braze" ? Self.brazeLike : ActionDispatch())
    }

    /// Coalescing by campaign_id, send_id, schedule, audience and broadcast into requests of at most
    /// 50 distinct recipients; deletes by `{campaign_id, schedule_id}`; late sends planned again.
    public static let brazeLike = ActionDispatch(
        coalescing: SendCoalescing(
            key: { request in
                guard request.body["recipients"]?.arrayValue?.count == 1 else { return nil }
                return SendCoalescing.fieldsKey(["campaign_id", "send_id", "schedule", "audience", "broadcast"], request: request, scheduleField: "schedule")
            },
            identity: { $0.body["recipients"]?.arrayValue?.first?.compactJSON ?? "" },
            maxSends: 50,
            merge: { requests in
                let first = requests[0]
                guard case .object(var body) = first.body else { return first }
                if let schedule = first.schedule { body["schedule"] = schedule }
                if requests.count > 1 { body["recipients"] = .array(requests.flatMap { $0.body["recipients"]?.arrayValue ?? [] }) }
                return SendRequest(id: first.id, body: .object(body), schedule: first.schedule)
            }),
        cancellation: SendCancellation(
            handle: { sent, details in
                guard let campaign = sent["campaign_id"]?.stringValue, let id = details["schedule_id"]?.stringValue else { return nil }
                return CancelHandle(scope: campaign, id: id)
            },
            request: { ["campaign_id": .string($0.scope), "schedule_id": .string($0.id)] },
            done: { "deleted from Braze (schedule_id \($0.id))" }),
        schedulesAhead: true)

    /// Every request received, in order.
    public var requests: [SendRequest] { log.withLock { $0 } }

    public func perform(_ request: SendRequest, context: PluginContext) async -> ActionOutcome {
        log.withLock { $0.append(request) }
        let n = counter.withLock { c in
            c += 1
            return c
        }
        if let next = script.withLock({ s in s.isEmpty ? nil : s.removeFirst() }) { return next }
        if let fallback { return fallback }
        guard name == "braze" else { return .success(details: [:]) }
        return .success(details: ["schedule_id": .string("sched-\(n)"), "dispatch_id": .string("disp-\(n)")])
    }
}
