import FlintPluginAPI
import Foundation
import Synchronization

/// A clock a test moves by hand: pass `{ clock.now }` wherever the engine, the dispatcher or a
/// plugin takes a `now` closure.
public final class TestClock: Sendable {
    private let current: Mutex<Date>

    /// Starts at an ISO 8601 instant (`2026-11-29T18:00:00Z`).
    public init(_ iso: String) {
        guard let date = Timestamp.parse(iso) else { preconditionFailure("TestClock: '\(iso)' is not an ISO 8601 instant") }
        current = Mutex(date)
    }

    public init(_ date: Date) {
        current = Mutex(date)
    }

    public var now: Date { current.withLock { $0 } }

    public func set(_ iso: String) {
        guard let date = Timestamp.parse(iso) else { preconditionFailure("TestClock: '\(iso)' is not an ISO 8601 instant") }
        current.withLock { $0 = date }
    }

    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}
