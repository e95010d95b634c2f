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

    var database: String { dir.appendingPathComponent("flint.db").path }
    var rulesDir: URL { dir.appendingPathComponent("rules") }
    var inbox: URL { dir.appendingPathComponent("inbox") }
    var base: String { "http://127.0.0.1:\(port)" }
    var ledgerArgs: [String] { ["--database", database, "--rules", rulesDir.path] }

    /// Starts flint serve with the given rule files, waiting (with a deadline) for its banner.
    init(rules: [String: String], config: String? = nil, environment: [String: String] = [:], reuse: URL? = nil) throws {
        dir = try reuse ?? CLIHarness.temporaryDirectory()
        try FileManager.default.createDirectory(at: rulesDir, withIntermediateDirectories: true)
        if let config { try config.write(to: dir.appendingPathComponent("flint.yaml"), atomically: true, encoding: .utf8) }
        for (name, text) in rules { try text.write(to: rulesDir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        process.executableURL = CLIHarness.binary
        process.arguments = ["serve", "--listen", "127.0.0.1:0", "--inbox", inbox.path] + ledgerArgs
        var env = ProcessInfo.processInfo.environment
        for key in ["FLINT_RULES", "FLINT_DATABASE", "FLINT_LISTEN", "FLINT_INBOX", "FLINT_WEBHOOK_TOKEN", "BRAZE_API_KEY", "FLINT_CONFIG"] { env[key] = nil }
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
        // Read the banner: "flint serve: listening on http://127.0.0.1:PORT ..."
        let deadline = Date().addingTimeInterval(30)
        var text = ""
        while Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            if let range = text.range(of: "listening on http://127.0.0.1:") {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                if let p = Int(digits), text.contains("endpoints") {
                    port = p
                    banner = text
                    break
                }
            }
        }
        guard port != 0 else {
            process.terminate()
            process.waitUntilExit()
            throw HarnessError(message: "flint serve did not start: \(text)\n\(log)")
        }
        let outputHandle = output.fileHandleForReading
        Thread.detachNewThread {
            while !outputHandle.availableData.isEmpty {}
        }
    }

    /// flint serve's log so far.
    var log: String { logText.withLock { $0 } }

    /// SIGKILL: no shutdown, no cleanup, as a crash or the OOM killer would.
    func kill9() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    struct HarnessError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    var bannerText: String { banner }

    /// SIGTERM, then wait for the exit; returns the exit status.
    func stop() -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        process.waitUntilExit()
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
