import Foundation

/// Checks `condition` every 10 ms until it holds or `seconds` pass; returns whether it held. For
/// `#expect(await waitUntil { ... })`: a test waits on a condition with a deadline, never a fixed sleep.
public func waitUntil(_ seconds: Double = 10, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try condition()
}
