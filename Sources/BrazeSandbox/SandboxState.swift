import FlintPluginAPI
import Foundation

/// Everything the sandbox remembers, behind `BrazeSandbox`'s mutex. Its methods are the decisions;
/// they take "now" as a parameter and do no I/O.
struct SandboxState: Sendable {
    var limiter: SandboxRateLimiter
    var faults = SandboxFaultQueue()
    var ledger = SandboxLedger()
    var calls: [SandboxCall] = []
    var callSequence = 0
    /// Requests held by `hang` faults, by hang id.
    var hangs: [Int: CheckedContinuation<Void, Never>] = [:]
    /// Hangs cancelled before they were registered.
    var cancelledHangs: Set<Int> = []
    var hangSequence = 0

    init(configuration: BrazeSandboxConfiguration) {
        limiter = SandboxRateLimiter(configuration: configuration)
    }

    /// The first gate, before the body is looked at: where a call ends if the key is bad or the
    /// budget is spent.
    enum Gate: Sendable {
        case answered(SandboxReply)
        case proceed(SandboxRateLimit, SandboxFault?)
    }

    /// Key (401/403), rate limit (429), then the fault to apply, if any.
    mutating func gate(
        _ request: SandboxRequest, body: JSONValue?, now: Date, configuration: BrazeSandboxConfiguration
    ) -> Gate {
        if let refusal = Self.authorize(request.authorization, configuration: configuration) {
            let reply = SandboxReply.error(refusal.status, refusal.message, rateLimit: limiter.peek(now: now))
            record(request, body: body, now: now, reply: reply)
            return .answered(reply)
        }
        let hasAudience = body?["audience"].map { !$0.isNull } ?? false
        let rateLimit = limiter.admit(audience: hasAudience, now: now)
        guard rateLimit.allowed else {
            let what = hasAudience ? "requests with an audience" : "requests"
            let reply = SandboxReply.error(
                429, "API rate limit exceeded: at most \(rateLimit.limit) \(what) per window; retry after \(rateLimit.retryAfter) s",
                rateLimit: rateLimit)
            record(request, body: body, now: now, reply: reply)
            return .answered(reply)
        }
        return .proceed(rateLimit, faults.take(for: request.endpoint))
    }

    /// The rest of the call once its fault's latency (if any) has passed: validation (400), the
    /// effect on the ledger (201), or the fault's own answer.
    mutating func finish(
        _ request: SandboxRequest, body: JSONValue?, errors: [String], rateLimit: SandboxRateLimit, fault: SandboxFault?,
        now: Date
    ) -> SandboxAction {
        var faultLabel: String?
        if let fault {
            faultLabel = fault.label
            switch fault.kind {
            case .latency:
                break
            case .status, .hang, .drop:
                var effect: SandboxLedger.Result?
                if fault.createBeforeFault, errors.isEmpty, request.bodyProblem == nil, case .object(let object)? = body {
                    effect = ledger.apply(request.endpoint, body: object, now: now)
                }
                switch fault.kind {
                case .status(let code):
                    var limit = rateLimit
                    if code == 429 {
                        limit.allowed = false
                        limit.remaining = 0
                        if let seconds = fault.resetAfterSeconds {
                            limit.reset = Int(now.timeIntervalSince1970.rounded(.up)) + seconds
                            limit.retryAfter = max(1, seconds)
                        }
                    }
                    let reply = SandboxReply.error(code, fault.message ?? SandboxFault.defaultMessage(for: code), rateLimit: limit)
                    record(request, body: body, now: now, reply: reply, fault: faultLabel, effect: effect)
                    return .answer(reply)
                case .hang:
                    record(request, body: body, now: now, outcome: .hung, fault: faultLabel, effect: effect)
                    return .hang
                default:
                    record(request, body: body, now: now, outcome: .dropped, fault: faultLabel, effect: effect)
                    return .drop
                }
            }
        }
        if let problem = request.bodyProblem {
            let reply = SandboxReply.error(problem.status, problem.message, rateLimit: rateLimit)
            record(request, body: body, now: now, reply: reply, fault: faultLabel)
            return .answer(reply)
        }
        guard errors.isEmpty, case .object(let object)? = body else {
            let reply = SandboxReply.error(400, errors.first ?? "invalid request", errors: errors, rateLimit: rateLimit)
            record(request, body: body, now: now, reply: reply, fault: faultLabel, errors: errors)
            return .answer(reply)
        }
        let effect = ledger.apply(request.endpoint, body: object, now: now)
        let reply: SandboxReply
        switch effect {
        case .created(let scheduleID, let dispatchID):
            reply = .success(dispatchID: dispatchID, scheduleID: scheduleID, rateLimit: rateLimit)
        case .sent(let dispatchID):
            reply = .success(dispatchID: dispatchID, scheduleID: nil, rateLimit: rateLimit)
        case .updated, .ignored, .deleted:
            reply = .success(dispatchID: nil, scheduleID: nil, rateLimit: rateLimit)
        case .notFound:
            let message = "schedule_id not found"
            reply = .error(400, message, errors: [message], rateLimit: rateLimit)
            record(request, body: body, now: now, reply: reply, fault: faultLabel, errors: [message])
            return .answer(reply)
        }
        record(request, body: body, now: now, reply: reply, fault: faultLabel, effect: effect)
        return .answer(reply)
    }

    /// 401 for a missing or unknown key, 403 for a forbidden one, nil for a good one. Messages never
    /// quote the key.
    static func authorize(_ authorization: String?, configuration: BrazeSandboxConfiguration) -> (status: Int, message: String)? {
        guard let authorization, !authorization.trimmingCharacters(in: .whitespaces).isEmpty else {
            return (401, "missing API key: send the header Authorization: Bearer <REST API key>")
        }
        let parts = authorization.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            return (401, "invalid Authorization header: expected Authorization: Bearer <REST API key>")
        }
        let key = parts[1].trimmingCharacters(in: .whitespaces)
        if configuration.forbiddenKeys.contains(key) {
            return (403, "this API key does not have the permission for this endpoint")
        }
        guard configuration.keys.contains(key) else {
            return (401, "Invalid API key")
        }
        return nil
    }

    // MARK: Recording

    mutating func record(
        _ request: SandboxRequest, body: JSONValue?, now: Date, reply: SandboxReply? = nil, outcome: SandboxCall.Outcome = .answered,
        fault: String? = nil, effect: SandboxLedger.Result? = nil, errors: [String] = []
    ) {
        callSequence += 1
        var call = SandboxCall(
            sequence: callSequence, at: now, method: request.method, path: request.endpoint.path, headers: request.headers,
            body: body, bodyText: nil, status: reply?.status, outcome: reply == nil ? outcome : .answered, fault: fault,
            effect: .none, scheduleID: nil, dispatchID: nil, errors: errors)
        if body == nil, !request.body.isEmpty {
            call.bodyText = String(decoding: request.body.prefix(65_536), as: UTF8.self)
        }
        switch effect {
        case .created(let scheduleID, let dispatchID)?:
            call.effect = .created
            call.scheduleID = scheduleID
            call.dispatchID = dispatchID
        case .updated(let scheduleID)?:
            call.effect = .updated
            call.scheduleID = scheduleID
        case .ignored(let scheduleID)?:
            call.effect = .ignored
            call.scheduleID = scheduleID
        case .deleted(let scheduleID)?:
            call.effect = .deleted
            call.scheduleID = scheduleID
        case .sent(let dispatchID)?:
            call.effect = .sent
            call.dispatchID = dispatchID
        case .notFound?, nil:
            break
        }
        calls.append(call)
    }
}
