import Foundation
import Synchronization
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A real `flint serve` in a temporary folder, on a free port, as a user would run it.
final class ServeHarness: @unchecked Sendable {
    let dir: URL
    let process = Process()
    let output = Pipe()
    let errors = Pipe()
    private(set) var port = 0
    private var banner = ""
    /// Everything flint serve wrote to stderr (its log), drained continuously so it never blocks.
    private let logText = Mutex("")

    /// `flint.db` in the folder, or the database given (a postgres:// URL).
    let database: String
    var rulesDir: URL { dir.appendingPathComponent("rules") }
    var inbox: URL { dir.appendingPathComponent("inbox") }
    var base: String { "http://127.0.0.1:\(port)" }
    var ledgerArgs: [String] { ["--database", database, "--rules", rulesDir.path] }

    /// Starts flint serve with the given rule files, waiting (with a deadline) for its banner. The
    /// console is off unless `consoleListen` names an address (tests run side by side: no fixed port).
    init(
        rules: [String: String], config: String? = nil, environment: [String: String] = [:], reuse: URL? = nil, database: String? = nil,
        consoleListen: String = "off"
    ) async throws {
        dir = try reuse ?? CLIHarness.temporaryDirectory()
        self.database = database ?? dir.appendingPathComponent("flint.db").path
        try FileManager.default.createDirectory(at: rulesDir, withIntermediateDirectories: true)
        if let config { try config.write(to: dir.appendingPathComponent("flint.yaml"), atomically: true, encoding: .utf8) }
        for (name, text) in rules { try text.write(to: rulesDir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        process.executableURL = CLIHarness.binary
        process.arguments = ["serve", "--listen", "127.0.0.1:0", "--inbox", inbox.path, "--console-listen", consoleListen] + ledgerArgs
        var env = ProcessInfo.processInfo.environment
        for key in ["FLINT_RULES", "FLINT_DATABASE", "FLINT_LISTEN", "FLINT_INBOX", "FLINT_WEBHOOK_TOKEN", "BRAZE_API_KEY", "FLINT_CONFIG", "FLINT_CONSOLE_LISTEN"] { env[key] = nil }
        env.merge(environment) { _, new in new }
        process.environment = env
        process.currentDirectoryURL = dir
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let errorHandle = errors.fileHandleForReading
        Thread.detachNewThread { [self] in
            while true {
                let chunk = errorHandle.availableData
                if chunk.isEmpty { break }
                logText.withLock { $0 += String(decoding: chunk, as: UTF8.self) }
            }
        }
        // Read the banner: "flint serve: listening on http://127.0.0.1:PORT ..." (on a thread of its
        // own: a blocking read must not hold one of the concurrency pool's few threads).
        let outputHandle = output.fileHandleForReading
        let (foundPort, text) = await Self.onThread { () -> (Int, String) in
            let deadline = Date().addingTimeInterval(30)
            var text = ""
            while Date() < deadline {
                let chunk = outputHandle.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
                if let range = text.range(of: "listening on http://127.0.0.1:") {
                    let digits = text[range.upperBound...].prefix { $0.isNumber }
                    if let p = Int(digits), text.contains("endpoints") { return (p, text) }
                }
            }
            return (0, text)
        }
        port = foundPort
        banner = text
        guard port != 0 else {
            process.terminate()
            await process.exited()
            throw HarnessError(message: "flint serve did not start: \(text)\n\(log)")
        }
        Thread.detachNewThread {
            while !outputHandle.availableData.isEmpty {}
        }
    }

    /// flint serve's log so far.
    var log: String { logText.withLock { $0 } }

    /// SIGKILL: no shutdown, no cleanup, as a crash or the OOM killer would.
    func kill9() async {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        await process.exited()
    }

    struct HarnessError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    var bannerText: String { banner }

    /// SIGTERM without waiting (for a `defer`; deinit still reaps the process).
    func terminate() {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
    }

    /// SIGTERM, then wait for the exit; returns the exit status.
    func stop() async -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        await process.exited()
        return process.terminationStatus
    }

    func remove() { try? FileManager.default.removeItem(at: dir) }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    struct HTTPResult {
        var status: Int
        var body: String
        var headers: [String: String]
    }

    func request(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = ["Content-Type": "application/json"]) async throws -> HTTPResult {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        if let body { request.httpBody = Data(body.utf8) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var h: [String: String] = [:]
        for (k, v) in http.allHeaderFields { h["\(k)".lowercased()] = "\(v)" }
        return HTTPResult(status: http.statusCode, body: String(decoding: data, as: UTF8.self), headers: h)
    }

    /// Polls `condition` every 20 ms until it holds or the deadline passes.
    static func eventually(_ seconds: Double = 10, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }
}

extension ServeHarness {
    /// Runs blocking work (a pipe read, a wait for a process) on a thread of its own and awaits it.
    /// On a 2-core machine the concurrency pool has two threads: tests that block them starve every
    /// test running beside (timeouts in unrelated suites).
    static func onThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: work()) }
        }
    }
}

extension Process {
    /// Waits for the process to exit without blocking a concurrency thread.
    func exited() async {
        let process = UncheckedProcess(process: self)
        await ServeHarness.onThread { process.process.waitUntilExit() }
    }
}

/// Foundation's `Process` is not Sendable; only `waitUntilExit` is called across threads.
private struct UncheckedProcess: @unchecked Sendable {
    let process: Process
}
