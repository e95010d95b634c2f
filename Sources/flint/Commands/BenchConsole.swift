import ArgumentParser
import FlintConsole
import FlintCore
import FlintRules
import FlintStore
import Foundation
import Hummingbird
import Logging

/// `flint bench console`: the console alone, read-only, on an existing store (such as the one
/// `flint bench ledger --database FILE` builds), for timing its pages with curl
/// (scripts/bench-console.sh). Nothing else of `flint serve` runs: no dispatcher works through the
/// store's pending sends while the pages are timed, and the store is not written.
struct BenchConsole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Serve the console alone on an existing store, read-only, to time its pages.",
        discussion: """
            Without --rules, the rules of flint bench ledger are written to a temporary folder and used.

            Examples:
              flint bench ledger --events 1400000 --database /tmp/ledger.db
              flint bench console --database /tmp/ledger.db --listen 127.0.0.1:8082
              scripts/bench-console.sh /tmp/ledger.db
            """)

    @Option(help: "The store (a file flint bench ledger or flint serve wrote).") var database: String
    @Option(help: "The rules folder (default: flint bench ledger's rules).") var rules: String?
    @Option(help: "host:port to listen on (loopback).") var listen = "127.0.0.1:8082"

    func run() async throws {
        #if DEBUG
            Terminal.err("warning: this is a debug build; measure with: swift build -c release && .build/release/flint bench console")
        #endif
        guard FileManager.default.fileExists(atPath: database) else {
            Terminal.err("error: no database at \(database): build one with flint bench ledger --database \(database)")
            throw ExitCode(1)
        }
        guard let (host, port) = ServeCommand.parseListen(listen), ServeCommand.isLoopback(host) else {
            throw ValidationError("--listen '\(listen)' must be a loopback host:port (the console is served without a token here)")
        }
        var config = try GlobalOptions.parse(["--database", database]).configuration()
        if let rules {
            config.rules = rules
        } else {
            let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("flint-bench-console-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try BenchLedger.rules.write(to: dir.appendingPathComponent("bench.yaml"), atomically: true, encoding: .utf8)
            config.rules = dir.path
        }
        let store = try SQLiteStateStore(path: database, readOnly: true)
        let console = Console(
            store: store,
            settings: ConsoleSettings(host: host, port: port, tokens: [], companyZone: config.braze.companyTimeZone ?? config.defaultTimeZone),
            providers: ServeCommand.consoleProviders(config: config, store: store))
        var logger = Logger(label: "flint.bench.console")
        logger.logLevel = .warning
        let app = console.makeApplication(logger: logger) { address in
            Terminal.out("flint bench console: http://\(address)/ui/ (read-only, \(database)); Ctrl-C stops", flush: true)
        }
        try await app.runService()
    }
}
