import ArgumentParser
import FlintRules
import Foundation

/// Reads rule files and rule test files from disk (the I/O FlintRules leaves to its callers).
enum RuleDirectory {
    struct ReadError: Error, CustomStringConvertible {
        var description: String
    }

    /// The rules folder: the argument, else `FLINT_RULES`, else `./rules`.
    static func resolve(_ path: String?) -> String {
        path ?? ProcessInfo.processInfo.environment["FLINT_RULES"] ?? "rules"
    }

    /// How the running command takes the rules folder, for telling a user where to point it.
    enum Given {
        /// `flint rules check|list [PATH]`: a positional path, else FLINT_RULES.
        case argument(command: String)
        /// `flint rules test --rules DIR`: the option, else FLINT_RULES.
        case option(command: String)
        /// `flint serve`, `flint ingest`, `flint status`: --rules, FLINT_RULES, or `rules:` in flint.yaml.
        case configured(command: String)

        var hint: String {
            switch self {
            case .argument(let command): "pass the folder (\(command) DIR) or set FLINT_RULES=DIR"
            case .option(let command): "pass \(command) --rules DIR or set FLINT_RULES=DIR"
            case .configured(let command): "point \(command) at yours with --rules DIR, FLINT_RULES=DIR, or rules: DIR in flint.yaml"
            }
        }
    }

    static func isTestFile(_ path: String) -> Bool {
        let name = (path as NSString).lastPathComponent
        return name.hasSuffix(".test.yaml") || name.hasSuffix(".test.yml") || name.hasSuffix(".test.json")
    }

    /// Every file under `path` (recursively, hidden entries skipped) whose extension is a rule file's.
    static func files(at path: String, given: Given = .configured(command: "flint")) throws -> [String] {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ReadError(description: "\(path): no such rules folder or file: create it, or \(given.hint)")
        }
        if !isDirectory.boolValue { return [path] }
        var found: [String] = []
        guard let walker = fm.enumerator(atPath: path) else {
            throw ReadError(description: "\(path): cannot list the folder")
        }
        while let entry = walker.nextObject() as? String {
            let name = (entry as NSString).lastPathComponent
            if name.hasPrefix(".") {
                walker.skipDescendants()
                continue
            }
            let full = path.hasSuffix("/") ? path + entry : path + "/" + entry
            var dir: ObjCBool = false
            if fm.fileExists(atPath: full, isDirectory: &dir), !dir.boolValue,
                RuleFile.extensions.contains((name as NSString).pathExtension.lowercased())
            {
                found.append(full)
            }
        }
        return found.sorted()
    }

    static func read(_ path: String) throws -> RuleFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReadError(description: "\(path): cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ReadError(description: "\(path): not UTF-8 text")
        }
        return RuleFile(path: path, text: text)
    }

    /// Loads the rules (not the test files) under `path`.
    static func load(_ path: String, given: Given = .configured(command: "flint")) throws -> RuleLoadResult {
        let files = try files(at: path, given: given).filter { !isTestFile($0) }
        return RuleLoader.load(try files.map(read))
    }

    static func testFiles(at path: String, given: Given = .configured(command: "flint")) throws -> [RuleFile] {
        try files(at: path, given: given).filter(isTestFile).map(read)
    }

    /// Loads the rules for a command that runs them: prints every diagnostic, and stops the command
    /// (exit 1) when the folder cannot be read or the set has errors.
    static func loadValid(_ folder: String, refusing what: String, given: Given = .configured(command: "flint")) throws -> RuleLoadResult {
        let loaded: RuleLoadResult
        do {
            loaded = try load(folder, given: given)
        } catch {
            Terminal.err("error: \(error)")
            throw ExitCode(1)
        }
        for d in loaded.diagnostics { Terminal.err(d.description) }
        guard loaded.isValid else {
            Terminal.err("the rules in \(folder) have errors; \(what) (flint rules check \(folder))")
            throw ExitCode(1)
        }
        return loaded
    }
}
