import ArgumentParser
import FlintPluginAPI
import FlintRules
import Foundation

/// `flint bench rules`: match + plan against decode, in one run (issue: "match + plan costs at most 25%
/// of the decode").
struct BenchRules: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Events per second through match + plan for many rules, against decoding the same events' JSON.",
        discussion: """
            Examples:
              flint bench rules
              flint bench rules --rules 1000 --events 20000 --rounds 3
            """
    )

    @Option(help: "How many rules.") var rules = 10_000
    @Option(help: "How many distinct event names.") var names = 1_000
    @Option(help: "How many events per round.") var events = 100_000
    @Option(help: "Rounds; the median is reported.") var rounds = 5
    @Option(help: "Seed for the generated events.") var seed: UInt64 = 42

    func run() throws {
        #if DEBUG
            Terminal.err("warning: this is a debug build; measure with: swift run -c release flint bench rules")
        #endif
        let zones = ["America/Los_Angeles", "America/New_York", "Europe/Paris", "Asia/Kolkata", "Asia/Tokyo",
                     "Pacific/Chatham", "Australia/Lord_Howe", "America/Sao_Paulo", "UTC", "Europe/London"]
        let clock = ContinuousClock()

        let loadStart = clock.now
        let text = Self.ruleText(count: rules, names: names)
        let loaded = RuleLoader.load([RuleFile(path: "bench.yaml", text: text)])
        let loadTime = clock.now - loadStart
        guard loaded.isValid else {
            loaded.errors.prefix(5).forEach { Terminal.err($0.description) }
            throw ExitCode(1)
        }
        let ruleSet = loaded.ruleSet

        var rng = SplitMix64(seed: seed)
        var lines: [[UInt8]] = []
        var totalBytes = 0
        let base = Timestamp.parse("2026-11-29T12:00:00Z")!.timeIntervalSince1970
        for i in 0..<events {
            let name = "Event \(rng.next() % UInt64(names))"
            let ts = Timestamp.formatUTCMillis(Date(timeIntervalSince1970: base + Double(rng.next() % 86_400)))
            let zone = zones[Int(rng.next() % UInt64(zones.count))]
            let amount = Double(rng.next() % 10_000) / 100
            let line = #"{"type":"track","event":"\#(name)","messageId":"m-\#(i)-\#(rng.next() % 1_000_000)","userId":"u-\#(rng.next() % 100_000)","timestamp":"\#(ts)","properties":{"amount":\#(amount),"currency":"USD","sku":"SKU-\#(rng.next() % 5000)","items":[{"sku":"A1","name":"Socks"}]},"context":{"timezone":"\#(zone)","ip":"203.0.113.9","library":{"name":"analytics-python","version":"2.3.3"}}}"#
            totalBytes += line.utf8.count
            lines.append(Array(line.utf8))
        }
        let now = Date(timeIntervalSince1970: base)
        let context = PlanningContext(now: now, defaultZone: TimeZone(identifier: "UTC")!, companyZone: TimeZone(identifier: "America/New_York"), lead: 60)

        var decodeTimes: [Double] = [], foundationTimes: [Double] = [], matchTimes: [Double] = []
        var matchOnlyTimes: [Double] = [], planTimes: [Double] = [], explainedTimes: [Double] = []
        var evaluations = 0, planned = 0, matched = 0
        for _ in 0..<rounds {
            // (a) decode: our JSON reader + event checks, as ingest does.
            var decoded: [Event] = []
            decoded.reserveCapacity(lines.count)
            var start = clock.now
            for (i, line) in lines.enumerated() {
                if let value = try? JSONParser.parse(line),
                    case .success(let e) = Event.decode(value, receivedAt: now, fallbackMessageId: "b-\(i)")
                {
                    decoded.append(e)
                }
            }
            decodeTimes.append((clock.now - start).seconds)

            // (a') the same JSON through Foundation's JSONDecoder, for reference.
            let decoder = JSONDecoder()
            start = clock.now
            var count = 0
            for line in lines {
                if (try? decoder.decode(JSONValue.self, from: Data(line))) != nil { count += 1 }
            }
            foundationTimes.append((clock.now - start).seconds)
            precondition(count == lines.count)

            // (b) match: trigger lookup and conditions.
            var matchedCount = 0
            start = clock.now
            for event in decoded {
                let rules = ruleSet.rules(triggeredBy: event.name ?? "")
                if rules.isEmpty { continue }
                let prepared = PreparedEvent(event: event, profile: nil, defaultZone: context.defaultZone)
                for rule in rules where rule.trigger.condition?.evaluate(in: prepared.scope).passed ?? true {
                    matchedCount += 1
                }
            }
            matchOnlyTimes.append((clock.now - start).seconds)

            // (c) match + plan: the above, then the planner for every matched rule.
            start = clock.now
            for event in decoded {
                let rules = ruleSet.rules(triggeredBy: event.name ?? "")
                if rules.isEmpty { continue }
                let prepared = PreparedEvent(event: event, profile: nil, defaultZone: context.defaultZone)
                for rule in rules where rule.trigger.condition?.evaluate(in: prepared.scope).passed ?? true {
                    let plan = Planner.plan(
                        PlannerInput(
                            eventTime: event.timestamp, now: context.now, schedule: rule.schedule, userZone: prepared.userZone,
                            defaultZone: context.defaultZone, companyZone: context.companyZone, lead: context.lead, explain: false))
                    if case .send = plan.outcome { planned += 0 }
                }
            }
            planTimes.append((clock.now - start).seconds)
            matched = matchedCount

            // (d) the whole decision, as the decider makes it: match + plan + the Braze body, unexplained.
            evaluations = 0
            planned = 0
            var unexplained = context
            unexplained.explain = false
            start = clock.now
            for event in decoded {
                let rules = ruleSet.rules(triggeredBy: event.name ?? "")
                if rules.isEmpty { continue }
                let prepared = PreparedEvent(event: event, profile: nil, defaultZone: context.defaultZone)
                for rule in rules {
                    let d = RuleEvaluator.evaluate(rule: rule, prepared: prepared, context: unexplained)
                    evaluations += 1
                    if case .planned = d.outcome { planned += 1 }
                }
            }
            matchTimes.append((clock.now - start).seconds)

            // (e) the same, explained (gates and planner steps): what rebuilding a run's trace costs.
            start = clock.now
            for event in decoded {
                let rules = ruleSet.rules(triggeredBy: event.name ?? "")
                if rules.isEmpty { continue }
                let prepared = PreparedEvent(event: event, profile: nil, defaultZone: context.defaultZone)
                for rule in rules { _ = RuleEvaluator.evaluate(rule: rule, prepared: prepared, context: context) }
            }
            explainedTimes.append((clock.now - start).seconds)
        }
        let decode = median(decodeTimes), foundation = median(foundationTimes), whole = median(matchTimes), explained = median(explainedTimes)
        let matchOnly = median(matchOnlyTimes), matchPlan = median(planTimes)
        let n = Double(events)
        Terminal.out("flint bench rules: \(rules) rules over \(names) event names, \(events) events (mean \(totalBytes / events) bytes), \(rounds) rounds, medians")
        Terminal.out("  rules load + check:     \(String(format: "%.0f", loadTime.seconds * 1000)) ms")
        func row(_ name: String, _ t: Double) -> [String] {
            ["  " + name, String(format: "%.0f events/s", n / t), String(format: "%.2f µs/event", t / n * 1e6),
             String(format: "%.0f%% of decode", t / decode * 100), String(format: "%.0f%% of JSONDecoder", t / foundation * 100)]
        }
        Terminal.out(Terminal.table([
            row("decode (Flint JSON reader + event checks)", decode),
            row("decode (Foundation JSONDecoder, reference)", foundation),
            row("match (trigger lookup + conditions)", matchOnly),
            row("match + plan (+ the planner)", matchPlan),
            row("whole decision, as the decider makes it (+ Braze body)", whole),
            row("explained decision (+ gates, planner steps: a trace rebuild)", explained),
        ]))
        Terminal.out(String(format: "  per event: %.1f rules triggered, %.2f matched, %.2f planned sends", Double(evaluations) / n, Double(matched) / n, Double(planned) / n))
        let triggered = max(1, Double(evaluations) / n)
        Terminal.out(String(format: "  per triggered rule: match + plan %.0f%% of the event's decode, the decider's whole decision %.0f%% (goal: match + plan <= 25%%)", matchPlan / decode / triggered * 100, whole / decode / triggered * 100))
    }

    private func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s[s.count / 2]
    }

    /// Rules of four everyday shapes, spread over the event names.
    static func ruleText(count: Int, names: Int) -> String {
        var out = "rules:\n"
        for i in 0..<count {
            out += """
              - id: rule-\(i)
                when:
                  event: Event \(i % names)
                  if:
                    all:
                      - properties.amount: { gte: \(i % 90) }
                      - properties.currency: { in: [USD, EUR] }
                send:
                  campaign_id: campaign-\(i)
                  trigger_properties:
                    amount: "{{ properties.amount }}"
                    item: "{{ properties.items[0].name | default: 'your items' }}"

            """
            switch i % 4 {
            case 0: out += "    schedule: { after: 2h }\n"
            case 1: out += "    schedule: { at: \"10:00\", on: [mon, tue, wed, thu, fri], in_local_time: true }\n"
            case 2: out += "    schedule: { after: 30m, quiet_hours: { from: \"21:00\", to: \"08:00\" } }\n"
            default: out += "    schedule: { at: \"09:00\", at_optimal_time: true }\n"
            }
        }
        return out
    }
}

/// A small seeded generator, so bench inputs are the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Duration {
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}
