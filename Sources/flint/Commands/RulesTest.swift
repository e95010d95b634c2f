import ArgumentParser
import FlintPluginAPI
import FlintRules
import Foundation

struct RulesTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Dry-run an event through the rules, or run the rule test files (*.test.yaml).",
        discussion: """
            With --event: for every rule the event triggers, whether it matched (and if not, the first \
            failing condition with the value seen), the planner's steps, and the exact JSON body Flint \
            would post to Braze. Nothing is sent and nothing is written. Exits 0 whether or not anything \
            matched; 1 when the event or the rules are invalid.

            Without --event: runs every *.test.yaml beside the rules, prints each case and ends with \
            'N passed, M failed'; exits 1 when any case failed.

            The rules folder is DIR or --rules DIR, else FLINT_RULES, else rules: in flint.yaml, else \
            ./rules. A send time shows as an instant in UTC, as the wall clock "in each user's zone" for \
            in_local_time rules, or as the date ("Braze picks the hour") for at_optimal_time rules.

            Examples:
              flint rules test --event examples/cart.json
              flint rules test rules/ --event - --now 2026-11-29T18:00:00Z < event.json
              flint rules test --event events.ndjson --zone America/New_York --json
              flint rules test
            """
    )

    @Option(name: .long, help: "A JSON file with an event (or an array of events, or NDJSON); '-' reads standard input.")
    var event: String?

    @OptionGroup var folderOptions: RulesFolderOptions

    @Option(help: "Evaluate as if it were this time (ISO 8601, default: now).")
    var now: String?

    @Option(help: "The user's time zone (IANA), as if their profile said so; overrides the event's context.timezone.")
    var zone: String?

    @OptionGroup var zones: ZoneOptions

    @Flag(help: "Print a JSON array of {rule_id, matched, reason, steps, request}.")
    var json = false

    func validate() throws {
        if let zone, ZoneName.resolve(zone) == nil {
            throw ValidationError("--zone: " + ZoneName.problem(zone))
        }
        if let now, Timestamp.parse(now) == nil {
            throw ValidationError("--now '\(now)' is not an ISO 8601 time with an offset (e.g. 2026-11-29T18:00:00Z)")
        }
    }

    func run() throws {
        let folder = folderOptions.folder()
        let loaded: RuleLoadResult
        do {
            loaded = try RuleDirectory.load(folder, given: .configured(command: "flint rules test"))
        } catch {
            Terminal.err("error: \(error)")
            throw ExitCode(1)
        }
        for d in loaded.diagnostics { Terminal.err(d.description) }
        guard loaded.isValid else {
            Terminal.err("the rules in \(folder) have errors; fix them first (flint rules check \(folder))")
            throw ExitCode(1)
        }
        let (defaultZone, companyZone) = try zones.zones()
        if let event {
            try dryRun(eventPath: event, rules: loaded.ruleSet, defaultZone: defaultZone, companyZone: companyZone)
        } else {
            try runTestFiles(folder: folder, rules: loaded.ruleSet, defaultZone: defaultZone, companyZone: companyZone)
        }
    }

    // MARK: Dry run of one event

    private func readEvents(_ path: String) throws -> [JSONValue] {
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let d = FileManager.default.contents(atPath: path) else {
                Terminal.err("error: \(path): cannot read the file")
                throw ExitCode(1)
            }
            data = d
        }
        let bytes = [UInt8](data)
        do {
            let value = try JSONParser.parse(bytes)
            if case .array(let items) = value { return items }
            return [value]
        } catch let whole {
            // Not one JSON text: try NDJSON (an event a line).
            let lines = JSONParser.parseLines(bytes)
            if lines.count > 1 {
                var out: [JSONValue] = []
                for (line, result) in lines {
                    switch result {
                    case .success(let v): out.append(v)
                    case .failure(let e):
                        Terminal.err("error: \(path):\(line):\(e.column): \(e.message)")
                        throw ExitCode(1)
                    }
                }
                return out
            }
            Terminal.err("error: \(path):\(whole.line):\(whole.column): \(whole.message)")
            throw ExitCode(1)
        }
    }

    private func dryRun(eventPath: String, rules: RuleSet, defaultZone: TimeZone, companyZone: TimeZone?) throws {
        let values = try readEvents(eventPath)
        let nowDate = now.flatMap(Timestamp.parse) ?? Date()
        let context = PlanningContext(now: nowDate, defaultZone: defaultZone, companyZone: companyZone, lead: lead())
        var reports: [JSONValue] = []
        var invalid = false
        for (index, value) in values.enumerated() {
            let event: Event
            switch Event.decode(value, receivedAt: nowDate, fallbackMessageId: "dry-run-\(index)") {
            case .failure(let rejection):
                invalid = true
                for e in rejection.errors { Terminal.err("error: event \(index): \(e)") }
                continue
            case .success(let e): event = e
            }
            let profile = zone.map { UserProfile(timeZone: $0) }
            var e = event
            if zone != nil, case .object(var raw) = e.raw, case .object(var ctx)? = raw["context"] {
                // --zone stands for the user's zone: the event's own must not override it.
                ctx["timezone"] = nil
                raw["context"] = .object(ctx)
                e.raw = .object(raw)
            }
            let triggered = rules.rules(triggeredBy: event.name ?? "")
            let decisions = triggered.map { RuleEvaluator.evaluate(rule: $0, event: e, profile: profile, context: context) }
            if json {
                reports += decisions.map(\.dryRunJSON)
            } else {
                printHuman(event: event, index: index, count: values.count, decisions: decisions, rules: rules, context: context)
            }
        }
        if json { Terminal.out(JSONValue.array(reports).prettyJSON()) }
        if invalid { throw ExitCode(1) }
    }

    private func lead() -> Int {
        ProcessInfo.processInfo.environment["FLINT_LEAD"].flatMap(DurationText.seconds) ?? 60
    }

    private func printHuman(event: Event, index: Int, count: Int, decisions: [Decision], rules: RuleSet, context: PlanningContext) {
        let who = event.userId.map { "userId \($0)" } ?? "anonymousId \(event.anonymousId ?? "")"
        let label = event.type == .identify ? "identify" : "'\(event.name ?? "")'"
        Terminal.out("event \(count > 1 ? "\(index) " : "")\(label) for \(who) at \(Timestamp.formatUTC(event.timestamp)), evaluated at \(Timestamp.formatUTC(context.now))")
        if decisions.isEmpty {
            let names = Set(rules.rules.filter(\.enabled).flatMap(\.trigger.events)).sorted()
            Terminal.out("  no rule is triggered by \(label)" + (names.isEmpty ? "" : " (rules react to: \(names.joined(separator: ", ")))"))
            Terminal.out()
            return
        }
        for d in decisions {
            Terminal.out()
            let verdict: String
            switch d.outcome {
            case .planned: verdict = "SEND"
            case .notMatched: verdict = "NOT MATCHED"
            case .skipped: verdict = "SKIPPED"
            case .failed: verdict = "FAILED"
            }
            let rule = rules.rule(id: d.ruleId)
            Terminal.out("rule \(d.ruleId) (\(rule.map { "\($0.location.file):\($0.location.line)" } ?? ""), version \(d.ruleVersion)): \(verdict)")
            if case .notMatched = d.outcome {} else if case .planned = d.outcome {} else {
                Terminal.out("  reason: \(d.reason)")
            }
            Terminal.out("  gates:")
            let rows = d.gates.map { ["    " + ($0.passed ? "pass" : "FAIL"), $0.name, $0.detail] }
            Terminal.out(Terminal.table(rows))
            if !d.steps.isEmpty {
                Terminal.out("  planner (zone \(d.zone ?? "?")):")
                Terminal.out(Terminal.table(d.steps.map { ["    " + $0.kind.rawValue, $0.message] }))
            }
            if case .planned = d.outcome, let body = d.request {
                if d.action == "braze" {
                    Terminal.out("  request: POST /campaigns/trigger/schedule/create")
                } else {
                    Terminal.out("  request: action '\(d.action)'")
                }
                if d.sendAt != nil || d.schedule != nil {
                    Terminal.out("  sends at: \(SendTime(sendAt: d.sendAt, schedule: d.schedule?.json).sentence())")
                }
                if let key = d.oncePerKey { Terminal.out("  limits: once_per key '\(key)' (checked against state when the engine runs)") }
                Terminal.out(body.prettyJSON().split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            }
        }
        Terminal.out()
    }

    // MARK: Test files

    private func runTestFiles(folder: String, rules: RuleSet, defaultZone: TimeZone, companyZone: TimeZone?) throws {
        let files: [RuleFile]
        do {
            files = try RuleDirectory.testFiles(at: folder, given: .configured(command: "flint rules test"))
        } catch {
            Terminal.err("error: \(error)")
            throw ExitCode(1)
        }
        if files.isEmpty {
            Terminal.err("no rule test files (*.test.yaml) under \(folder)")
            Terminal.out("0 passed, 0 failed")
            return
        }
        var passed = 0, failed = 0, broken = 0
        var reports: [JSONValue] = []
        for file in files {
            switch RuleTestSuite.parse(file) {
            case .failure(let failure):
                for d in failure.diagnostics { Terminal.err(d.description) }
                broken += 1
            case .success(let suite):
                for result in RuleTestRunner.run(suite, rules: rules, defaultZone: defaultZone, companyZone: companyZone, lead: lead()) {
                    if result.passed { passed += 1 } else { failed += 1 }
                    if json {
                        reports.append([
                            "file": .string(result.file), "line": .number(Double(result.location.line)), "name": .string(result.name),
                            "passed": .bool(result.passed), "problems": .array(result.problems.map { .string($0) }),
                        ])
                    } else {
                        Terminal.out("\(result.passed ? "PASS" : "FAIL")  \(result.file):\(result.location.line)  \(result.name)")
                        for p in result.problems { Terminal.out("      \(p)") }
                    }
                }
            }
        }
        if json { Terminal.out(JSONValue.array(reports).prettyJSON()) }
        if broken > 0 { Terminal.err("\(broken) test file\(broken == 1 ? "" : "s") could not be read (see above)") }
        Terminal.out("\(passed) passed, \(failed + broken) failed")
        if failed + broken > 0 { throw ExitCode(1) }
    }
}

extension Decision {
    /// `flint rules test --json`: `{rule_id, matched, reason, steps, request}` and more.
    var dryRunJSON: JSONValue {
        var matched = true
        if case .notMatched = outcome { matched = false }
        var o: [String: JSONValue] = [
            "rule_id": .string(ruleId), "rule_version": .string(ruleVersion), "matched": .bool(matched),
            "status": .string(statusName), "reason": .string(reason), "action": .string(action),
            "gates": .array(gates.map { ["name": .string($0.name), "passed": .bool($0.passed), "detail": .string($0.detail)] }),
            "steps": .array(steps.map { ["kind": .string($0.kind.rawValue), "message": .string($0.message)] }),
            "request": request ?? .null,
        ]
        if let sendAt { o["send_at"] = .string(Timestamp.formatUTC(sendAt)) }
        if let zone { o["zone"] = .string(zone) }
        if case .notMatched(let f) = outcome {
            o["failed_condition"] = ["path": .string(f.path), "op": .string(f.op), "expected": f.expected, "seen": f.seen ?? .null]
        }
        return .object(o)
    }
}
