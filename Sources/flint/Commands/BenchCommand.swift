import ArgumentParser

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Flint's own speed (use a release build: swift run -c release flint bench).",
        subcommands: [BenchRules.self, BenchIngest.self, BenchHTTPBaseline.self, BenchDispatch.self]
    )
}
