import ArgumentParser
import Foundation

/// The rules folder, given the same way to `rules check`, `rules list` and `rules test`: a positional
/// DIR (kept for compatibility) or `--rules DIR`; else `FLINT_RULES`, else `rules:` in flint.yaml,
/// else `./rules`.
struct RulesFolderOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("The rules folder or a rule file (same as --rules).", valueName: "dir"))
    var path: String?

    @Option(
        name: .customLong("rules"),
        help: ArgumentHelp("The rules folder or a rule file (default: FLINT_RULES, else rules: in flint.yaml, else ./rules).", valueName: "dir"))
    var rulesOption: String?

    func validate() throws {
        if let path, let rulesOption, path != rulesOption {
            throw ValidationError("two rules folders given ('\(path)' and --rules '\(rulesOption)'); give one")
        }
    }

    /// The folder to read. `config` is a `--config` the command took, if any.
    func folder(config: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let given = path ?? rulesOption { return given }
        if let env = environment["FLINT_RULES"] { return env }
        let file = config ?? environment["FLINT_CONFIG"] ?? "flint.yaml"
        if FileManager.default.fileExists(atPath: file),
            let options = try? GlobalOptions.parse(["--config", file]),
            let configuration = try? Configuration.load(options, environment: environment)
        {
            return configuration.rules
        }
        return "rules"
    }
}
