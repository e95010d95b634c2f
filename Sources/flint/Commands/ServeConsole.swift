import ArgumentParser
import FlintConsole
import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import Foundation

/// The console `flint serve` starts on a listener of its own (docs/console.md, docs/api.md).
extension ServeCommand {
    /// How a user chooses another address for the console, or turns it off.
    static let consoleHint =
        "choose another with --console-listen HOST:PORT, FLINT_CONSOLE_LISTEN=HOST:PORT or console.listen in flint.yaml, or turn the console off with --console-listen off"

    /// The console's address, checked before anything starts; nil when it is `off`. Like the
    /// webhook, it needs credentials to listen anywhere but loopback: without tokens it refuses.
    static func consoleAddress(_ config: Configuration) throws -> (host: String, port: Int)? {
        let text = config.consoleListen.trimmingCharacters(in: .whitespaces)
        if text.lowercased() == "off" { return nil }
        guard let (host, port) = parseListen(text) else {
            Terminal.err("error: console listen '\(text)' is not host:port (e.g. 127.0.0.1:8081) or off; \(consoleHint)")
            throw ExitCode(2)
        }
        if config.webhook.tokens.allSatisfy(\.isEmpty), !isLoopback(host) {
            Terminal.err(
                "error: the console cannot listen on \(text): no webhook token is configured, so anyone who reaches that address could read "
                    + "every event and run; set FLINT_WEBHOOK_TOKEN (or webhook.tokens in flint.yaml) to require one, or keep it on loopback "
                    + "(--console-listen 127.0.0.1:8081)")
            throw ExitCode(2)
        }
        if let problem = cannotListen(host: host, port: port) {
            Terminal.err("error: cannot listen on \(address(host, port)) for the console: \(problem); \(consoleHint)")
            throw ExitCode(1)
        }
        return (host, port)
    }

    /// The answers the console shares with `flint status`, `flint why` and `flint rules list`: the
    /// same code, so the same bytes.
    static func consoleProviders(config: Configuration, store: SQLiteStateStore) -> ConsoleProviders {
        ConsoleProviders(
            status: { try await StatusCommand.report(config: config, ledger: store.ledger).json },
            why: { user, rule, event, limit in
                let answer = try await WhyCommand.answer(ledger: store.ledger, rulesFolder: config.rules, user: user, rule: rule, event: event, limit: limit)
                return WhyAnswer(json: .array(answer.runs.map(\.json)), message: answer.message, error: answer.error)
            },
            rules: {
                do {
                    let result = try RuleDirectory.load(config.rules, given: .configured(command: "flint serve"))
                    return RulesAnswer(
                        rules: result.ruleSet.rules.map { rule in
                            ConsoleRule(
                                id: rule.id, summary: rule.summaryJSON,
                                quietHours: rule.schedule.quietHours.map { ($0.from.hour * 60 + $0.from.minute, $0.to.hour * 60 + $0.to.minute) })
                        }, errors: result.errors.map(\.description))
                } catch {
                    return RulesAnswer(rules: [], errors: ["\(error)"])
                }
            })
    }
}
