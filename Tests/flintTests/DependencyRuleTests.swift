import Foundation
import Testing

/// docs/architecture.md, Modules: plugins import only FlintPluginAPI and their own third-party pieces, never
/// FlintCore, FlintStore, FlintRules or each other.
@Suite("The dependency rule")
struct DependencyRuleTests {
    @Test("no source file under Plugins/ imports the engine, the store, the rules or another plugin")
    func pluginsImportOnlyTheAPI() throws {
        let plugins = CLIHarness.root.appendingPathComponent("Plugins")
        let names = try FileManager.default.contentsOfDirectory(atPath: plugins.path).filter { !$0.hasPrefix(".") && $0 != "Examples" }
        #expect(names.count >= 3, "expected the Webhook, FileInbox and Braze plugins, found \(names)")
        let forbiddenModules = ["FlintCore", "FlintStore", "FlintPostgres", "FlintRules", "BrazeSandbox", "FlintTesting"] + names
        var violations: [String] = []
        for plugin in names {
            let dir = plugins.appendingPathComponent(plugin)
            guard let walker = FileManager.default.enumerator(atPath: dir.path) else { continue }
            while let file = walker.nextObject() as? String {
                guard file.hasSuffix(".swift") else { continue }
                let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
                for line in text.split(separator: "\n") {
                    let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                    guard let i = words.firstIndex(of: "import"), i + 1 < words.count else { continue }
                    let module = words[i + 1]
                    if forbiddenModules.contains(module) && module != plugin {
                        violations.append("Plugins/\(plugin)/\(file): \(line.trimmingCharacters(in: .whitespaces))")
                    }
                }
            }
        }
        #expect(violations.isEmpty, "plugins must import only FlintPluginAPI:\n\(violations.joined(separator: "\n"))")
    }
}
