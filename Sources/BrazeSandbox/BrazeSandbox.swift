import FlintPluginAPI
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A local emulator of Braze's API-triggered campaign endpoints, strict per docs/braze.md: for the quick
/// start, for Flint's tests and for users without a Braze account.
///
/// It answers `POST /campaigns/trigger/schedule/{create,update,delete}` and
/// `/campaigns/trigger/send` as Braze does (keys, validation, 201 bodies, `X-RateLimit-*`, 429),
/// records every call (the key redacted), and plays faults on demand (a status, latency, a hung
/// request, a dropped connection), over HTTP under `/_sandbox/` and from Swift.
///
/// It owns no server: `addRoutes(to:)` puts it on any router, `makeApplication` gives it its own
/// listener (see `BrazeSandbox+Application.swift`).
public final class BrazeSandbox: Sendable {
    public let configuration: BrazeSandboxConfiguration
    let validator: SandboxValidator
    let logger: Logger
    let state: Mutex<SandboxState>

    public init(configuration: BrazeSandboxConfiguration = BrazeSandboxConfiguration(), logger: Logger) {
        self.configuration = configuration
        self.validator = SandboxValidator(configuration: configuration)
        self.logger = logger
        self.state = Mutex(SandboxState(configuration: configuration))
    }

    // MARK: Inspection and control from Swift

    /// Recorded calls in arrival order; with `path`, only the calls to that path.
    public func calls(path: String? = nil) -> [SandboxCall] {
        let all = state.withLock { $0.calls }
        guard let path else { return all }
        return all.filter { $0.path == path }
    }

    /// Live schedules in creation order.
    public func schedules() -> [SandboxSchedule] {
        state.withLock { $0.ledger.listing }
    }

    /// Faults still waiting for calls.
    public func faults() -> [SandboxFault] {
        state.withLock { $0.faults.faults }
    }

    /// Queues a fault for the next matching calls (after the ones already queued).
    public func inject(_ fault: SandboxFault) {
        state.withLock { $0.faults.add(fault) }
    }

    /// Removes every queued fault and releases the requests held by `hang` faults.
    public func clearFaults() {
        state.withLock { $0.faults.removeAll() }
        releaseHangs()
    }

    /// Forgets the recorded calls.
    public func clearCalls() {
        state.withLock { $0.calls.removeAll() }
    }

    /// Releases the requests held by `hang` faults now (their connections are closed unanswered).
    public func releaseHangs() {
        let held = state.withLock { state in
            let held = Array(state.hangs.values)
            state.hangs.removeAll()
            return held
        }
        for continuation in held { continuation.resume() }
    }

    /// Back to a fresh sandbox: no calls, schedules or faults, full budgets, no held requests. Ids
    /// keep counting, so none is ever issued twice.
    public func reset() {
        state.withLock { state in
            state.calls.removeAll()
            state.ledger.removeAll()
            state.faults.removeAll()
            state.limiter = SandboxRateLimiter(configuration: configuration)
        }
        releaseHangs()
    }

    // MARK: Handling a call

    /// Decides what to do with one call to a Braze endpoint. Every call is recorded once its outcome
    /// is known (before a hang starts, so a test sees it while the request is held).
    func handle(_ request: SandboxRequest) async -> SandboxAction {
        let body = try? JSONParser.parse(request.body, maxDepth: SandboxValidator.maxDepth)
        let gate = state.withLock { $0.gate(request, body: body, now: configuration.now(), configuration: configuration) }
        let rateLimit: SandboxRateLimit
        let fault: SandboxFault?
        switch gate {
        case .answered(let reply):
            log(request, status: reply.status)
            return .answer(reply)
        case .proceed(let limit, let chosen):
            rateLimit = limit
            fault = chosen
        }
        if case .latency(let milliseconds)? = fault?.kind {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(milliseconds)) }
        }
        let now = configuration.now()
        let errors: [String]
        if request.bodyProblem != nil {
            errors = []
        } else if let body {
            errors = validator.errors(in: body, for: request.endpoint, now: now)
        } else {
            errors = validator.errors(in: request.body, for: request.endpoint, now: now)  // the JSON syntax error
        }
        let action = state.withLock {
            $0.finish(request, body: body, errors: errors, rateLimit: rateLimit, fault: fault, now: now)
        }
        switch action {
        case .answer(let reply): log(request, status: reply.status)
        case .drop: log(request, status: nil, note: "dropped")
        case .hang: log(request, status: nil, note: "held")
        }
        return action
    }

    /// Holds the current request until `releaseHangs()`/`clearFaults()`/`reset()`, task cancellation,
    /// graceful shutdown, or `configuration.maxHang`, whichever comes first.
    func hold() async {
        let id = state.withLock { state in
            state.hangSequence += 1
            return state.hangSequence
        }
        let limit = configuration.maxHang
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await Task.sleep(for: limit) }
                group.addTask { await self.waitForRelease(id) }
                await group.next()
                group.cancelAll()
            }
        }
    }

    private func waitForRelease(_ id: Int) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.cancelledHangs.remove(id) != nil { return true }
                    state.hangs[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = state.withLock { state in
                if let continuation = state.hangs.removeValue(forKey: id) { return Optional(continuation) }
                state.cancelledHangs.insert(id)
                return nil
            }
            continuation?.resume()
        }
    }

    private func log(_ request: SandboxRequest, status: Int?, note: String? = nil) {
        var metadata: Logger.Metadata = ["http.path": "\(request.endpoint.path)"]
        if let status { metadata["http.status"] = "\(status)" }
        if let note { metadata["sandbox.outcome"] = "\(note)" }
        logger.debug("braze sandbox call", metadata: metadata)
    }
}
