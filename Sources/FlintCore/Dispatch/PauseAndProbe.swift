import Foundation

/// Refused credentials (docs/architecture.md, Dispatch): the refusing action alone is paused; its
/// held send is tried again every `interval` as the probe, a configuration reload probes at once,
/// and the first success resumes. Pure: time is a parameter.
public struct PauseAndProbe: Sendable {
    public let interval: TimeInterval
    private var pauses: [String: DispatchPause] = [:]

    public init(interval: TimeInterval = 60) {
        self.interval = interval
    }

    /// The pause of `action`, if it is paused.
    public func pause(of action: String) -> DispatchPause? { pauses[action] }

    /// The first pause (by start), for status and `/readyz`.
    public var first: DispatchPause? { pauses.values.min { ($0.since, $0.action) < ($1.since, $1.action) } }

    /// The earliest probe due among the pauses.
    public var nextProbe: Date? { pauses.values.map(\.nextProbe).min() }

    /// Whether `action` may send its probe now.
    public func probeDue(_ action: String, now: Date) -> Bool {
        guard let p = pauses[action] else { return false }
        return p.nextProbe <= now
    }

    /// A probe is going out: the next one is an interval away, whatever it meets.
    public mutating func probing(_ action: String, now: Date) {
        pauses[action]?.nextProbe = now.addingTimeInterval(interval)
    }

    /// The action refused its credentials: it pauses (a refused probe keeps the pause's start).
    public mutating func refused(_ action: String, reason: String, now: Date) {
        let since = pauses[action]?.since ?? now
        pauses[action] = DispatchPause(action: action, reason: reason, since: since, nextProbe: now.addingTimeInterval(interval))
    }

    /// A send of `action` went through; true when that resumed a pause. `sentAt`: when the send
    /// went out (nil: the probe); one that went out by the time of the refusal (it was in flight when
    /// the pause began) says nothing about the credentials now, and does not resume.
    @discardableResult
    public mutating func succeeded(_ action: String, sentAt: Date? = nil) -> Bool {
        guard let pause = pauses[action] else { return false }
        if let sentAt, sentAt <= pause.since { return false }
        pauses[action] = nil
        return true
    }

    /// A configuration reload: every paused action probes at once.
    public mutating func reload() {
        for key in pauses.keys { pauses[key]?.nextProbe = .distantPast }
    }
}
