import FlintCore
import Foundation
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Commands that add outbox rows from their own process (`flint ingest`, `flint outbox retry`) tell a
/// running `flint serve` on the same machine that there is work: SIGUSR1 wakes its dispatcher, which
/// otherwise sleeps until its own engine commits or its next due time (docs/architecture.md, Dispatch).
enum ServeWake {
    /// Sends SIGUSR1 to the serve this store's heartbeat names, if it runs (same host, recent, not stopped).
    static func notifyRunningServe(of store: some LedgerReader) async {
        guard let beat = try? await store.serveHeartbeat(), beat.isRunning(at: Date()), beat.host == ProcessInfo.processInfo.hostName,
            beat.pid > 0, beat.pid != Int(getpid())
        else { return }
        _ = kill(pid_t(beat.pid), SIGUSR1)
    }
}

/// In `flint serve`: SIGUSR1 (another flint process added outbox rows) wakes the dispatcher.
struct WakeOnUser1: Service {
    let dispatcher: Dispatcher

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sigusr1).cancelOnGracefulShutdown() {
            dispatcher.wake()
        }
    }
}
