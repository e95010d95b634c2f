import Synchronization

/// What the inotify callback tells the inbox loop, and the loop's one place to wait.
///
/// The callback posts names and flags; the loop takes them all at once (so a burst of events is one
/// wake-up) and otherwise waits until news arrives, a deadline passes, or its task is cancelled.
/// One waiter at a time: the inbox loop.
final class InboxSignals: Sendable {
    struct News: Sendable {
        /// Files announced complete, in arrival order, without repeats.
        var written: [String] = []
        var overflow = false
        var folderGone = false

        var isEmpty: Bool { written.isEmpty && !overflow && !folderGone }
    }

    private struct State {
        var news = News()
        var names: Set<String> = []
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func post(_ notices: [InotifyWatcher.Notice]) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            for notice in notices {
                switch notice {
                case .written(let name):
                    // Identical events merge in the kernel anyway: a name is news once until taken.
                    if state.names.insert(name).inserted { state.news.written.append(name) }
                case .overflow:
                    state.news.overflow = true
                case .folderGone:
                    state.news.folderGone = true
                }
            }
            return state.waiter.take()
        }
        waiter?.resume()
    }

    /// Everything posted since the last call.
    func take() -> News {
        state.withLock { state in
            state.names.removeAll(keepingCapacity: true)
            defer { state.news = News() }
            return state.news
        }
    }

    /// Returns when there is news, at `deadline`, or when the task is cancelled, whichever is first.
    func wait(until deadline: ContinuousClock.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForNews() }
            group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForNews() async {
        // A continuation awaited without a cancellation handler would hang shutdown (docs/architecture.md, Modules).
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if !state.news.isEmpty || Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiter.take() }?.resume()
        }
    }
}
