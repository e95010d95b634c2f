import Foundation

/// SIGINT (Ctrl-C) and SIGTERM as a flag a polling loop checks, so a long-running reading command
/// (`flint runs --follow`) ends its loop and exits 0 instead of dying mid-line.
final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var raised = false
    private var sources: [any DispatchSourceSignal] = []

    init(_ signals: [Int32] = [SIGINT, SIGTERM]) {
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.raise() }
            source.resume()
            sources.append(source)
        }
    }

    var stopped: Bool { lock.withLock { raised } }

    private func raise() { lock.withLock { raised = true } }
}
