import FlintPluginAPI
import Foundation

/// Where the console listens and whom it lets in.
public struct ConsoleSettings: Sendable {
    public var host: String
    public var port: Int
    /// The webhook's tokens (`webhook.tokens`, `FLINT_WEBHOOK_TOKEN`): with any, every page and API
    /// call needs one (a Bearer header, or the cookie the login form sets).
    public var tokens: [String]
    /// The zone plain sends (no zone of their own) are counted in by the local-hour chart: Braze's
    /// company zone, else the default zone.
    public var companyZone: String

    public init(host: String, port: Int, tokens: [String], companyZone: String) {
        self.host = host
        self.port = port
        self.tokens = tokens.filter { !$0.isEmpty }
        self.companyZone = companyZone
    }

    /// `127.0.0.1:8081`: the default address (`console.listen`, `FLINT_CONSOLE_LISTEN`, `--console-listen`).
    public static let defaultListen = "127.0.0.1:8081"
}

/// What `flint why --json` prints for a user, and the sentence it prints on stderr when there is no
/// run (or the error for an unknown rule).
public struct WhyAnswer: Sendable {
    public var json: JSONValue
    /// With no runs: what Flint has instead (stderr in the CLI).
    public var message: String?
    /// An unknown `--rule`: the CLI's error (exit 2); the API answers 404 with it.
    public var error: String?

    public init(json: JSONValue, message: String? = nil, error: String? = nil) {
        self.json = json
        self.message = message
        self.error = error
    }
}

/// A rule as the rules page shows it.
public struct ConsoleRule: Sendable {
    public var id: String
    /// `flint rules list --json`'s object for it.
    public var summary: JSONValue
    /// The quiet-hours window, minutes after midnight, `[from, to)` (may wrap midnight).
    public var quietHours: (from: Int, to: Int)?

    public init(id: String, summary: JSONValue, quietHours: (from: Int, to: Int)?) {
        self.id = id
        self.summary = summary
        self.quietHours = quietHours
    }
}

/// The rules folder as `flint rules list --json` reads it, and its errors.
public struct RulesAnswer: Sendable {
    public var rules: [ConsoleRule]
    /// `flint rules check` lines for the folder as it is now.
    public var errors: [String]

    public init(rules: [ConsoleRule], errors: [String]) {
        self.rules = rules
        self.errors = errors
    }

    /// The bytes of `flint rules list --json`.
    public var json: JSONValue { .array(rules.map(\.summary)) }
}

/// The answers the console shares with CLI commands whose code lives in the `flint` executable:
/// the composition root passes them in, so the API prints the same bytes from the same code.
public struct ConsoleProviders: Sendable {
    /// `flint status --json`.
    public var status: @Sendable () async throws -> JSONValue
    /// `flint why --user U [--rule R] [--event E] [--limit N] --json`.
    public var why: @Sendable (_ user: String, _ rule: String?, _ event: String?, _ limit: Int) async throws -> WhyAnswer
    /// `flint rules list --json`, with the folder's errors.
    public var rules: @Sendable () async throws -> RulesAnswer

    public init(
        status: @escaping @Sendable () async throws -> JSONValue,
        why: @escaping @Sendable (_ user: String, _ rule: String?, _ event: String?, _ limit: Int) async throws -> WhyAnswer,
        rules: @escaping @Sendable () async throws -> RulesAnswer
    ) {
        self.status = status
        self.why = why
        self.rules = rules
    }
}
