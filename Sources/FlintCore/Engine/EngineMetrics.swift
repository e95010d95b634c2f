import Metrics

/// What the engine counts, through swift-metrics (the backend is chosen by `flint`; Prometheus for
/// `/metrics`). Labels are bounded: source names, run statuses.
struct EngineMetrics: Sendable {
    /// Made once: a metric made per call costs a registry lookup under a lock, on the commit path.
    private let latency = Timer(label: "flint_ingest_latency_seconds")
    private let commitEvents = Recorder(label: "flint_commit_events")

    func accepted(_ n: Int, source: String) {
        if n > 0 { Counter(label: "flint_events_accepted_total", dimensions: [("source", source)]).increment(by: n) }
    }

    func duplicates(_ n: Int, source: String) {
        if n > 0 { Counter(label: "flint_events_duplicate_total", dimensions: [("source", source)]).increment(by: n) }
    }

    func rejected(_ n: Int, source: String) {
        if n > 0 { Counter(label: "flint_events_rejected_total", dimensions: [("source", source)]).increment(by: n) }
    }

    /// Events refused with 503 because the accept queue or the undecided backlog is full.
    func refused(_ n: Int, reason: String) {
        if n > 0 { Counter(label: "flint_events_refused_total", dimensions: [("reason", reason)]).increment(by: n) }
    }

    func runs(_ counts: [String: Int]) {
        for (status, n) in counts where n > 0 {
            Counter(label: "flint_runs_total", dimensions: [("status", status)]).increment(by: n)
        }
    }

    /// From the moment a batch was submitted to the commit that holds it.
    func ingestLatency(_ duration: Duration) {
        latency.recordNanoseconds(duration.nanoseconds)
    }

    func commitSize(_ events: Int) {
        commitEvents.record(events)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let c = components
        return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
    }
}
