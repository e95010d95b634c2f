import ArgumentParser

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Flint's own speed (use a release build: swift run -c release flint bench).",
        discussion: """
            Examples:
              swift run -c release flint bench rules
              swift run -c release flint bench ingest --events 200000
              swift run -c release flint bench dispatch --sends 5000
              swift run -c release flint bench ledger
              swift run -c release flint bench replay --events 200000
              swift run -c release flint bench console --database /tmp/ledger.db
            """,
        subcommands: [BenchRules.self, BenchIngest.self, BenchHTTPBaseline.self, BenchDispatch.self, BenchLedger.self, BenchReplay.self, BenchConsole.self]
    )
}
