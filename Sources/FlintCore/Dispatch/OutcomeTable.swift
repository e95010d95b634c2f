import FlintPluginAPI
import Foundation

/// What an action's outcome does to each outbox row and its run (docs/architecture.md, Dispatch):
/// scheduled; retried at a time with backoff and jitter; dead after the configured attempts;
/// unknown, never resent; failed. Pure: time and jitter are parameters.
public struct OutcomeTable: Sendable {
    public var maxAttempts: Int

    public init(maxAttempts: Int) {
        self.maxAttempts = maxAttempts
    }

    /// The change to one outbox row.
    public struct RowChange: Sendable, Hashable {
        public var state: OutboxState
        public var attempts: Int
        public var nextAttemptAt: Date?
        public var lastError: String?
    }

    /// The changes for one row and its run. Rows of one request with equal verdicts are written by
    /// one statement.
    public struct Verdict: Sendable, Hashable {
        public var row: RowChange
        public var run: RunUpdate
    }

    /// - Parameters:
    ///   - attempts: the row's attempts before this one.
    ///   - outboxId: named in the run's reason when the outcome is unknown (how to resend it).
    ///   - sent: the request that went out (the ledger keeps its body).
    ///   - jitter: in 0..<1, spreads retries of many sends.
    public func verdict(
        for outcome: ActionOutcome, attempts: Int, outboxId: Int64, action: String, sent: SendRequest, sendAt: Date?, now: Date, jitter: Double
    ) -> Verdict {
        let attempt = attempts + 1
        switch outcome {
        case .success(let details):
            let scheduleId = details["schedule_id"]?.stringValue
            return Verdict(
                row: RowChange(state: .sent, attempts: attempt, nextAttemptAt: nil, lastError: nil),
                run: RunUpdate(
                    status: .scheduled, reason: Self.doneReason(action: action, scheduleId: scheduleId), scheduleId: scheduleId,
                    dispatchId: details["dispatch_id"]?.stringValue, request: sent.body, schedule: sent.schedule, sendAt: sendAt))
        case .failure(let message, let retryable):
            return retryOrFail(attempt: attempt, retryable: retryable, message: message, after: nil, now: now, jitter: jitter)
        case .retryLater(let message, let after):
            return retryOrFail(attempt: attempt, retryable: true, message: message, after: after, now: now, jitter: jitter)
        case .unknown(let message):
            return Verdict(
                row: RowChange(state: .unknown, attempts: attempt, nextAttemptAt: nil, lastError: message),
                run: RunUpdate(
                    status: .unknown,
                    reason: "sent, outcome unknown: \(message); not resent automatically (flint outbox retry \(outboxId) if it is missing in \(action))",
                    request: sent.body))
        case .credentialsRefused(let message):
            // The send that met it stays pending, its attempt not counted; the action pauses.
            return Verdict(
                row: RowChange(state: .pending, attempts: attempts, nextAttemptAt: nil, lastError: message),
                run: RunUpdate(status: .pending, reason: "held: dispatching is paused: \(message)"))
        }
    }

    func retryOrFail(attempt: Int, retryable: Bool, message: String, after: Date?, now: Date, jitter: Double) -> Verdict {
        if retryable, attempt < maxAttempts {
            var next = now.addingTimeInterval(DispatchPolicy.backoff(attempt: attempt, jitter: jitter))
            if let after { next = max(next, after.addingTimeInterval(jitter)) }
            return Verdict(
                row: RowChange(state: .pending, attempts: attempt, nextAttemptAt: next, lastError: message),
                run: RunUpdate(status: .pending, reason: "retrying after: \(message) (attempt \(attempt) of \(maxAttempts), next at \(Timestamp.formatUTC(next)))"))
        }
        return Verdict(
            row: RowChange(state: .dead, attempts: attempt, nextAttemptAt: nil, lastError: message),
            run: RunUpdate(status: .failed, reason: retryable ? "dead after \(attempt) attempts: \(message)" : message))
    }

    static func doneReason(action: String, scheduleId: String?) -> String {
        if let scheduleId { return "scheduled: schedule_id \(scheduleId)" }
        return "scheduled: action '\(action)' accepted it"
    }
}
