import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Errors a user meets on the command line say what is wrong and what to do.
@Suite("CLI errors")
struct CLIErrorTests {
    @Test("a mistyped command suggests the right one and lists the commands, exit 2", arguments: [
        (["run"], "flint: unknown command 'run'. Did you mean 'runs'?"),
        (["rules", "tset"], "flint rules: unknown command 'tset'. Did you mean 'test'?"),
        (["statsu"], "flint: unknown command 'statsu'. Did you mean 'status'?"),
    ])
    func mistypedCommand(arguments: [String], message: String) async throws {
        let dir = try CLIHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try await CLIHarness.run(arguments, cwd: dir)
        #expect(r.status == 2)
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(r.stderr.contains("commands of"))
    }

    @Test("a word after a command with a default subcommand that is not close to one is left to that command")
    func positionalNotTakenForATypo() async throws {
        let dir = try CLIHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try await CLIHarness.run(["runs", "--json"], cwd: dir)
        #expect(!r.stderr.contains("unknown command"), "\(r.stderr)")
    }

    @Test("flint serve in an empty folder names the flag, variable and setting it takes the rules folder from")
    func serveWithoutRules() async throws {
        let dir = try CLIHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try await CLIHarness.run(["serve", "--listen", "127.0.0.1:0", "--database", dir.appendingPathComponent("f.db").path], cwd: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("--rules DIR"), "\(r.stderr)")
        #expect(r.stderr.contains("FLINT_RULES"))
        #expect(r.stderr.contains("rules: DIR in flint.yaml"))
        #expect(!r.stderr.contains("pass a path"))
    }

    @Test("a port in use is one clean message naming the address and how to choose another, exit 1")
    func portInUse() async throws {
        let first = try await ServeHarness(rules: ["a.yaml": "id: a\nwhen: { event: A }\nsend: { campaign_id: c }\n"])
        defer { first.remove() }
        let dir = try CLIHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("rules"), withIntermediateDirectories: true)
        try "id: a\nwhen: { event: A }\nsend: { campaign_id: c }\n".write(
            to: dir.appendingPathComponent("rules/a.yaml"), atomically: true, encoding: .utf8)
        let r = try await CLIHarness.run(["serve", "--listen", "127.0.0.1:\(first.port)"], cwd: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("cannot listen on 127.0.0.1:\(first.port)"), "\(r.stderr)")
        #expect(r.stderr.contains("already in use"))
        #expect(r.stderr.contains("--listen HOST:PORT") && r.stderr.contains("FLINT_LISTEN") && r.stderr.contains("listen:"))
        #expect(!r.stderr.contains("CancellationError"))
        #expect(!r.stderr.contains("Fatal error"))
        await #expect(first.stop() == 0)
    }

    @Test("flint sandbox on a port in use says which address and how to choose another, exit 1")
    func sandboxPortInUse() async throws {
        let first = try SandboxProcess()
        let r = try await CLIHarness.run(["sandbox", "--listen", "127.0.0.1:\(first.port)"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("cannot listen on 127.0.0.1:\(first.port)"), "\(r.stderr)")
        #expect(r.stderr.contains("flint sandbox --listen HOST:PORT"))
        #expect(!r.stderr.contains("CancellationError"))
    }
}
