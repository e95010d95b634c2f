import Foundation
import Metrics

/// What the decider reports through swift-metrics (`/metrics`): how far behind it is, how long
/// events wait between accept and decision, how large its batches are.
struct DecideMetrics: Sendable {
    private let backlogEvents = Gauge(label: "flint_decide_backlog_events")
    private let lagSeconds = Gauge(label: "flint_decide_lag_seconds")
    private let batchSize = Recorder(label: "flint_decide_batch_size")
    private let batchDuration = Timer(label: "flint_decide_batch_seconds")
    private let decidedEvents = Counter(label: "flint_events_decided_total")

    func backlog(_ events: Int64) {
        backlogEvents.record(Double(events))
    }

    /// One committed batch: its size, the runs it wrote by status, how long its first event waited
    /// since it was received, how long the batch took.
    func decided(batch: Int, runs: [RunStatus: Int], lag: TimeInterval, took: Duration, backlog: Int64) {
        batchSize.record(batch)
        decidedEvents.increment(by: batch)
        lagSeconds.record(max(0, lag))
        batchDuration.recordNanoseconds(took.nanoseconds)
        backlogEvents.record(Double(backlog))
        for (status, n) in runs where n > 0 {
            Counter(label: "flint_runs_total", dimensions: [("status", status.rawValue)]).increment(by: n)
        }
    }
}
