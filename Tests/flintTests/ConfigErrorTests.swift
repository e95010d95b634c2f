import FlintPluginAPI
import Foundation
import Testing

/// flint.yaml problems are reported like rule errors: file:line:col, a did-you-mean, all at once.
@Suite("Configuration errors")
struct ConfigErrorTests {
    func folder(config: String) throws -> URL {
        let dir = try CLIHarness.temporaryDirectory()
        try config.write(to: dir.appendingPathComponent("flint.yaml"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("rules"), withIntermediateDirectories: true)
        return dir
    }

    @Test("every flint.yaml problem at once, each at its line and column, with did-you-mean for a misspelt key")
    func allProblemsWithPositions() async throws {
        let dir = try folder(
            config: """
                listen: 127.0.0.1:8080
                braze:
                  timout: 10s
                  max_attempts: zero
                retension: {}
                accept:
                  max_undecided: 10
                  retry_after: 100ms
                """)
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try await CLIHarness.run(["status"], cwd: dir)
        #expect(r.status == 1)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(lines.contains("flint.yaml:3:3: error: unknown setting 'timout' in braze; did you mean 'timeout'? (expected one of: rest_endpoint, api_key, company_time_zone, requests_per_hour, audience_requests_per_minute, timeout, max_attempts, coalesce_window)"), "\(r.stderr)")
        #expect(lines.contains { $0.hasPrefix("flint.yaml:4:17: error: braze.max_attempts: expected a whole number") })
        #expect(lines.contains { $0.hasPrefix("flint.yaml:5:1: error: unknown setting 'retension'; did you mean 'retention'?") })
        #expect(lines.contains { $0.hasPrefix("flint.yaml:7:3: error: unknown setting 'max_undecided' in accept; did you mean 'max_undecided_events'?") }, "\(r.stderr)")
        #expect(lines.contains { $0.hasPrefix("flint.yaml:8:16: error: accept.retry_after: must be at least 1s") }, "\(r.stderr)")
        #expect(r.stderr.contains("5 problems in the configuration"))
    }

    @Test("a YAML syntax error points at its line")
    func syntaxError() async throws {
        let dir = try folder(config: "braze:\n  timeout: [10s\n")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try await CLIHarness.run(["status"], cwd: dir)
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("flint.yaml:"), "\(r.stderr)")
        #expect(r.stderr.contains("error: invalid YAML"))
    }

    static let brokenPlugins = """
        plugins:
          - name: orders
            kind: source
            command: [python3, orders.py]
            timout: 3s
        """

    @Test("a broken plugins: section does not stop read-only commands: one warning line at most")
    func brokenPluginsDoNotStopReaders() async throws {
        let dir = try folder(config: Self.brokenPlugins)
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("flint.db").path
        let ingest = try await CLIHarness.run(["ingest", "--database", db, "-"], stdin: #"{"event":"A","userId":"u-1"}"# + "\n", cwd: dir)
        #expect(ingest.status == 0, "\(ingest.stderr)")
        for command in [["status", "--database", db], ["runs", "--database", db], ["events", "--database", db], ["outbox", "--database", db], ["rules", "list"]] {
            let r = try await CLIHarness.run(command, cwd: dir)
            #expect(r.status == 0, "\(command): \(r.stderr)")
            #expect(!r.stderr.contains("error"), "\(command): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count <= 1, "\(command): \(r.stderr)")
        }
        let plugins = try await CLIHarness.run(["plugins", "--database", db], cwd: dir)
        #expect(plugins.status == 0)
        #expect(plugins.stdout.contains("flint.yaml:5:5: error: plugins[0].timout: unknown setting; did you mean 'timeout'?"), "\(plugins.stdout)")
    }

    @Test("flint serve refuses a broken plugins: section, each problem at its line and column, exit 1")
    func serveRefusesBrokenPlugins() async throws {
        let dir = try folder(config: Self.brokenPlugins)
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try await CLIHarness.run(["serve", "--listen", "127.0.0.1:0"], cwd: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("flint.yaml:5:5: error: plugins[0].timout: unknown setting; did you mean 'timeout'?"), "\(r.stderr)")
        #expect(r.stderr.contains("fix them and start flint serve again"))
    }
}
