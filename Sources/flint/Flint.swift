import ArgumentParser
import Foundation

@main
struct Flint: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flint",
        abstract: "Event-driven automation for Braze: rules decide which events schedule which campaign, and when.",
        version: "0.1.0",
        subcommands: [
            RulesCommand.self, IngestCommand.self, RunsCommand.self, WhyCommand.self, EventsCommand.self, StatusCommand.self,
            ServeCommand.self, PluginsCommand.self, OutboxCommand.self, SchedulesCommand.self, SandboxCommand.self, BenchCommand.self,
        ]
    )

    /// Exit codes per DESIGN.md: 0 ok, 1 findings or failure, 2 usage.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
