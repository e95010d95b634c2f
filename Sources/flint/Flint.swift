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
            ReplayCommand.self,
        ]
    )

    /// Exit codes per docs/architecture.md, Commands: 0 ok, 1 findings or failure, 2 usage.
    static func main() async {
        if let message = unknownCommand(Array(CommandLine.arguments.dropFirst())) {
            FileHandle.standardError.write(Data((message + "\n").utf8))
            Foundation.exit(2)
        }
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

    /// A mistyped subcommand (`flint run`, `flint rules tset`): what to say, with the closest name and
    /// the list; nil when the arguments name known commands (or are left to the parser).
    ///
    /// A word after a command with a default subcommand (`flint runs`, `flint outbox`) may be that
    /// subcommand's argument, so it is only taken for a typo when it is close to a subcommand's name.
    static func unknownCommand(_ arguments: [String]) -> String? {
        var command: any ParsableCommand.Type = Flint.self
        var path = ["flint"]
        for word in arguments {
            let children = command.configuration.subcommands
            guard !children.isEmpty, !word.hasPrefix("-") else { return nil }
            let names = children.map { $0._commandName }
            if let index = names.firstIndex(of: word) ?? children.firstIndex(where: { $0.configuration.aliases.contains(word) }) {
                command = children[index]
                path.append(word)
                continue
            }
            if word == "help" { return nil }
            let suggestion = Configuration.suggest(word, from: names)
            if command.configuration.defaultSubcommand != nil, suggestion == nil || FileManager.default.fileExists(atPath: word) { return nil }
            var message = "\(path.joined(separator: " ")): unknown command '\(word)'."
            if let suggestion { message += " Did you mean '\(suggestion)'?" }
            message += "\n\ncommands of \(path.joined(separator: " ")):\n"
            message += Terminal.table(children.map { ["  " + $0._commandName, $0.configuration.abstract] })
            message += "\n\nSee '\(path.joined(separator: " ")) --help'."
            return message
        }
        return nil
    }
}
