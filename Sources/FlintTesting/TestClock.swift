import FlintPluginAPI
import Foundation
import Synchronization

/// A clock a test moves by hand: pass `{ clock.now }` wherever the engine, the dispatcher or a
/// plugin takes a `now` closure.
public final class TestClock: Sendable {
    private let current: Mutex<Date>
    private let sleepers = Mutex<[(id: Int, deadline: Date, wake: CheckedContinuation<Void, Never>)]>([])
    private let nextSleeper = Mutex(0)

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
        wakeSleepers()
    }

    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
        wakeSleepers()
    }

    /// The deadlines of the tasks sleeping on this clock now, earliest first.
    public var sleeping: [Date] { sleepers.withLock { $0.map(\.deadline).sorted() } }

    /// Returns when the clock is moved to `deadline` or past it, or when the task is cancelled: pass
    /// `{ clock.sleep(until: $0) }` where a service takes a `sleep` closure.
    public func sleep(until deadline: Date) async {
        let id = nextSleeper.withLock { n in
            n += 1
            return n
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = sleepers.withLock { list -> Bool in
                    if deadline <= now || Task.isCancelled { return true }
                    list.append((id, deadline, c))
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            let found = sleepers.withLock { list -> CheckedContinuation<Void, Never>? in
                guard let i = list.firstIndex(where: { $0.id == id }) else { return nil }
                return list.remove(at: i).wake
            }
            found?.resume()
        }
    }

    private func wakeSleepers() {
        let at = now
        let due = sleepers.withLock { list -> [CheckedContinuation<Void, Never>] in
            let due = list.filter { $0.deadline <= at }.map(\.wake)
            list.removeAll { $0.deadline <= at }
            return due
        }
        for c in due { c.resume() }
    }
}
