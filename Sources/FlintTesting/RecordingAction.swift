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

    public init(name: String = "braze", _ script: [ActionOutcome] = [], otherwise: ActionOutcome? = nil) {
        self.name = name
        self.script = Mutex(script)
        self.fallback = otherwise
    }

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
