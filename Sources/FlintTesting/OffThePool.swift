import Foundation

/// Runs blocking work (a child process, a synchronous database open) on a thread of its own, so the
/// cooperative pool that every other test of the process runs on is never held: blocking its few
/// threads starves unrelated tests into their deadlines.
public func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.name = "flint.test.blocking"
        thread.start()
    }
}
