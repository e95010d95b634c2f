import ArgumentParser
import FlintCore
import FlintPluginAPI
import Foundation

/// `flint plugins`: what `flint serve` hosts and how each plugin is doing.
struct PluginsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins",
        abstract: "List the plugins flint serve hosts: built-in and exec, with state, restarts and last error.",
        discussion: """
            Reads what the running (or last) flint serve saved in the database; it refreshes it every few seconds. \
            Exec plugins declared in flint.yaml that flint serve has not started yet are listed as not started; \
            problems in flint.yaml's plugins: section are listed below the table. An action whose credentials \
            were refused (Braze answering 401/403) shows as paused, with the refusal and the next try.

            Examples:
              flint plugins
              flint plugins --json | jq '.[] | select(.state != "running")'
              flint plugins --config deploy/flint.yaml --database /var/lib/flint/flint.db
            """)

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print a JSON array.") var json = false

    /// A status older than this, from a plugin that is not stopped, means flint serve is gone.
    static let stale: TimeInterval = ServeHeartbeat.stale

    func run() async throws {
        let config = try global.configuration(plugins: .quiet)
        var statuses: [PluginStatus] = []
        if StoreAccess.databaseExists(config) {
            statuses = try await StoreAccess.openForReading(config).pluginStatuses()
        }
        let now = Date()
        var rows: [(status: PluginStatus, note: String?)] = []
        for s in statuses {
            var note: String?
            if s.state != .stopped, now.timeIntervalSince(s.updatedAt) > Self.stale {
                note = "no word from flint serve since \(Format.age(s.updatedAt, now: now)); it is not running, or stopped without saying so"
            }
            rows.append((s, note))
        }
        for spec in config.execPlugins where !statuses.contains(where: { $0.name == spec.name }) {
            rows.append((PluginStatus(name: spec.name, kind: spec.kind, origin: .exec, command: spec.displayCommand, state: .stopped, updatedAt: now), "not started yet: declared in flint.yaml, starts with flint serve"))
        }
        if json {
            Terminal.out(JSONValue.array(rows.map { Self.json($0.status, note: $0.note, now: now) }).prettyJSON())
            if let first = config.pluginProblems.first {
                Terminal.err("warning: \(config.pluginProblems.count) problem(s) under plugins: (flint serve refuses to start), first: \(first)")
            }
            return
        }
        if rows.isEmpty {
            Terminal.out("no plugins known: flint serve has not run with database \(config.databaseShown) (exec plugins are declared under plugins: in flint.yaml)")
            printProblems(config)
            return
        }
        Terminal.out(Terminal.table(
            rows.map { r in
                let s = r.status
                return [
                    s.name, s.kind.rawValue, s.origin.rawValue, r.note == nil ? Self.stateText(s, now: now) : "unknown", s.pid.map(String.init) ?? "-",
                    s.origin == .exec ? String(s.restarts) : "-", s.origin == .exec ? String(s.handled) : "-", s.origin == .exec ? String(s.garbageLines) : "-",
                    Format.truncate(s.lastError.map { e in e + (s.lastErrorAt.map { " (\(Format.age($0, now: now)))" } ?? "") } ?? "", 70),
                ]
            },
            header: ["NAME", "KIND", "ORIGIN", "STATE", "PID", "RESTARTS", "HANDLED", "GARBAGE", "LAST ERROR"]))
        for r in rows {
            if let note = r.note { Terminal.out("\(r.status.name): \(note)") }
        }
        printProblems(config)
    }

    /// A broken plugins: section: every problem, and what it means (serve refuses to start).
    private func printProblems(_ config: Configuration) {
        guard !config.pluginProblems.isEmpty else { return }
        Terminal.out("\(config.file ?? "flint.yaml"): the plugins: section has problems; flint serve refuses to start until they are fixed:")
        for p in config.pluginProblems { Terminal.out("  " + p) }
    }

    static func stateText(_ s: PluginStatus, now: Date) -> String {
        switch s.state {
        case .backoff:
            guard let next = s.nextStartAt, next > now else { return "backoff (restarting)" }
            return "backoff (restart \(Format.age(next, now: now)))"
        default:
            return s.state.rawValue
        }
    }

    static func json(_ s: PluginStatus, note: String?, now: Date) -> JSONValue {
        func time(_ d: Date?) -> JSONValue { d.map { .string(Timestamp.formatUTC($0)) } ?? .null }
        return [
            "name": .string(s.name), "kind": .string(s.kind.rawValue), "origin": .string(s.origin.rawValue),
            "command": s.command.map(JSONValue.string) ?? .null, "state": .string(note == nil ? s.state.rawValue : "unknown"),
            "pid": s.pid.map { .number(Double($0)) } ?? .null, "restarts": .number(Double(s.restarts)),
            "handled": .number(Double(s.handled)), "failures": .number(Double(s.failures)), "garbage_lines": .number(Double(s.garbageLines)),
            "last_error": s.lastError.map(JSONValue.string) ?? .null, "last_error_at": time(s.lastErrorAt), "started_at": time(s.startedAt),
            "next_start_at": time(s.nextStartAt), "updated_at": time(s.updatedAt), "note": note.map(JSONValue.string) ?? .null,
        ]
    }
}
