import FlintPluginAPI
import FlintStore
import Foundation

/// Where sends land: planned and sent sends per hour over a window (in UTC or a chosen zone), per
/// rule, and per rule a histogram by the hour of day in the zone each send is planned for (the
/// user's own zone, or the company zone for plain sends), from the outbox rows' send time and zone.
struct Landing: Sendable {
    struct Hour: Sendable {
        var start: Date
        var planned: [String: Int] = [:]
        var sent: [String: Int] = [:]
        var totalPlanned: Int { planned.values.reduce(0, +) }
        var totalSent: Int { sent.values.reduce(0, +) }
    }

    var from: Date
    var zone: TimeZone
    var hours: [Hour]
    /// Per rule, sends by local hour of day (0-23).
    var localHours: [String: [Int]]
    /// Per rule, the quiet-hours window in minutes after midnight.
    var quiet: [String: (from: Int, to: Int)]
    var rules: [String]

    var to: Date { from.addingTimeInterval(Double(hours.count) * 3600) }

    /// The start of the hour (in `zone`) holding `date`: zones whose offset is not whole hours
    /// (India, Nepal) start their hours off UTC's.
    static func hourStart(_ date: Date, zone: TimeZone) -> Date {
        let t = date.timeIntervalSince1970.rounded(.down)
        let local = t + Double(zone.secondsFromGMT(for: date))
        let into = local - (local / 3600).rounded(.down) * 3600
        return Date(timeIntervalSince1970: t - into)
    }

    /// The hour of day of `date` in `zone`.
    static func localHour(_ date: Date, zone: TimeZone) -> Int {
        let local = Int(date.timeIntervalSince1970) + zone.secondsFromGMT(for: date)
        return ((local % 86_400) + 86_400) % 86_400 / 3600
    }

    /// Builds the charts' data from the store's quarter-hour buckets in `[from, from + hours)`.
    static func build(
        buckets: [SendBucket], from: Date, hourCount: Int, zone: TimeZone, companyZone: TimeZone, quiet: [String: (from: Int, to: Int)],
        rule: String? = nil
    ) -> Landing {
        let start = hourStart(from, zone: zone)
        var hours = (0..<hourCount).map { Hour(start: start.addingTimeInterval(Double($0) * 3600)) }
        var local: [String: [Int]] = [:]
        var zones: [String: TimeZone] = [:]
        var rules = Set<String>()
        for b in buckets {
            if let rule, b.ruleId != rule { continue }
            let index = Int((b.start.timeIntervalSince(start) / 3600).rounded(.down))
            guard index >= 0, index < hourCount else { continue }
            rules.insert(b.ruleId)
            if b.planned > 0 { hours[index].planned[b.ruleId, default: 0] += b.planned }
            if b.sent > 0 { hours[index].sent[b.ruleId, default: 0] += b.sent }
            var tz = companyZone
            if let name = b.zone {
                if let known = zones[name] {
                    tz = known
                } else if let resolved = TimeZone(identifier: name) {
                    zones[name] = resolved
                    tz = resolved
                }
            }
            local[b.ruleId, default: Array(repeating: 0, count: 24)][localHour(b.start, zone: tz)] += b.planned + b.sent
        }
        return Landing(from: start, zone: zone, hours: hours, localHours: local, quiet: quiet, rules: rules.sorted())
    }

    static func clock(_ minutes: Int) -> String { String(format: "%02d:%02d", minutes / 60, minutes % 60) }

    /// `2026-12-08T10:00:00+01:00` (or `Z` in UTC).
    static func localText(_ date: Date, zone: TimeZone) -> String {
        let offset = zone.secondsFromGMT(for: date)
        let shifted = Date(timeIntervalSince1970: date.timeIntervalSince1970 + Double(offset))
        let base = String(Timestamp.formatUTC(shifted).dropLast())
        if offset == 0 { return base + "Z" }
        let sign = offset < 0 ? "-" : "+"
        let a = abs(offset)
        return base + sign + String(format: "%02d:%02d", a / 3600, a % 3600 / 60)
    }

    /// `GET /api/v1/sends`.
    var json: JSONValue {
        var perRule: [String: JSONValue] = [:]
        for (rule, counts) in localHours { perRule[rule] = .array(counts.map { .number(Double($0)) }) }
        var quietJSON: [String: JSONValue] = [:]
        for (rule, q) in quiet where rules.contains(rule) { quietJSON[rule] = ["from": .string(Self.clock(q.from)), "to": .string(Self.clock(q.to))] }
        return [
            "from": .string(Timestamp.formatUTC(from)), "to": .string(Timestamp.formatUTC(to)), "zone": .string(zone.identifier),
            "hours": .array(
                hours.map { h in
                    var byRule: [String: JSONValue] = [:]
                    for rule in Set(h.planned.keys).union(h.sent.keys) {
                        byRule[rule] = ["planned": .number(Double(h.planned[rule] ?? 0)), "sent": .number(Double(h.sent[rule] ?? 0))]
                    }
                    return [
                        "start": .string(Timestamp.formatUTC(h.start)), "local": .string(Self.localText(h.start, zone: zone)),
                        "planned": .number(Double(h.totalPlanned)), "sent": .number(Double(h.totalSent)), "rules": .object(byRule),
                    ]
                }),
            "local_hours": .object(perRule),
            "quiet_hours": .object(quietJSON),
        ]
    }
}

/// The console's charts: SVG drawn here, with a `<title>` on every bar and text labels, so a
/// person hovering and a test reading the DOM get the same counts.
enum Charts {
    static func f(_ x: Double) -> String { String(format: "%.1f", x) }

    /// Planned and sent sends per hour over the window, for one rule (nil: all rules).
    static func hourly(_ landing: Landing, rule: String?) -> Node {
        let count = landing.hours.count
        let barWidth = 6.0, left = 34.0, top = 14.0, height = 110.0
        let width = left + Double(count) * barWidth + 8
        func planned(_ h: Landing.Hour) -> Int { rule.map { h.planned[$0] ?? 0 } ?? h.totalPlanned }
        func sent(_ h: Landing.Hour) -> Int { rule.map { h.sent[$0] ?? 0 } ?? h.totalSent }
        let maxValue = max(1, landing.hours.map { planned($0) + sent($0) }.max() ?? 1)
        var nodes: [Node] = []
        nodes.append(el("line", attrs: [("class", "axis"), ("x1", f(left)), ("y1", f(top + height)), ("x2", f(width - 8)), ("y2", f(top + height))]))
        nodes.append(el("text", attrs: [("class", "label"), ("x", f(left - 4)), ("y", f(top + 4)), ("text-anchor", "end")], children: [txt(String(maxValue))]))
        nodes.append(el("text", attrs: [("class", "label"), ("x", f(left - 4)), ("y", f(top + height)), ("text-anchor", "end")], children: [txt("0")]))
        for (i, h) in landing.hours.enumerated() {
            let x = left + Double(i) * barWidth
            if Landing.localHour(h.start, zone: landing.zone) == 0 || i == 0 {
                let day = Landing.localText(h.start, zone: landing.zone)
                nodes.append(el("line", attrs: [("class", "day"), ("x1", f(x)), ("y1", f(top)), ("x2", f(x)), ("y2", f(top + height + 4))]))
                nodes.append(
                    el("text", attrs: [("class", "label"), ("x", f(x + 2)), ("y", f(top + height + 16))], children: [txt(String(day.prefix(10)))]))
            }
            let p = planned(h), s = sent(h)
            guard p + s > 0 else { continue }
            let hs = Double(s) / Double(maxValue) * height, hp = Double(p) / Double(maxValue) * height
            let local = Landing.localText(h.start, zone: landing.zone)
            var rects: [Node] = [
                el("title", [:], txt("\(local): \(p) planned, \(s) sent" + (rule.map { " (\($0))" } ?? "")))
            ]
            if s > 0 {
                rects.append(el("rect", attrs: [("class", "sent"), ("x", f(x + 0.5)), ("y", f(top + height - hs)), ("width", f(barWidth - 1)), ("height", f(hs))]))
            }
            if p > 0 {
                rects.append(
                    el("rect", attrs: [("class", "planned"), ("x", f(x + 0.5)), ("y", f(top + height - hs - hp)), ("width", f(barWidth - 1)), ("height", f(hp))]))
            }
            nodes.append(
                el(
                    "g", attrs: [("class", "bar"), ("data-start", Timestamp.formatUTC(h.start)), ("data-local", local), ("data-planned", String(p)), ("data-sent", String(s))],
                    children: rects))
        }
        return el(
            "svg",
            attrs: [
                ("class", "chart hourly"), ("viewBox", "0 0 \(f(width)) \(f(top + height + 22))"), ("role", "img"),
                ("aria-label", "sends per hour" + (rule.map { " of \($0)" } ?? "")), ("data-rule", rule ?? ""),
            ], children: nodes)
    }

    /// Sends by the local hour of day (0-23) of the zone each is planned for, quiet hours shaded.
    static func localHours(_ counts: [Int], quiet: (from: Int, to: Int)?, rule: String) -> Node {
        let barWidth = 22.0, left = 8.0, top = 18.0, height = 120.0
        let width = left * 2 + 24 * barWidth
        let maxValue = max(1, counts.max() ?? 1)
        var nodes: [Node] = []
        if let quiet {
            // [from, to), possibly across midnight: one or two shaded spans.
            var spans: [(Double, Double)] = []
            let a = Double(quiet.from) / 60, b = Double(quiet.to) / 60
            if a < b { spans.append((a, b)) } else { spans += [(a, 24), (0, b)] }
            for (s, e) in spans where e > s {
                nodes.append(
                    el(
                        "rect",
                        attrs: [("class", "quiet"), ("x", f(left + s * barWidth)), ("y", f(top - 6)), ("width", f((e - s) * barWidth)), ("height", f(height + 6))],
                        children: [el("title", [:], txt("quiet hours \(Landing.clock(quiet.from))-\(Landing.clock(quiet.to))"))]))
            }
        }
        nodes.append(el("line", attrs: [("class", "axis"), ("x1", f(left)), ("y1", f(top + height)), ("x2", f(width - left)), ("y2", f(top + height))]))
        for hour in 0..<24 {
            let x = left + Double(hour) * barWidth
            let n = counts[hour]
            var children: [Node] = [el("title", [:], txt(String(format: "%02d:00-%02d:00 local: %d send", hour, (hour + 1) % 24, n) + (n == 1 ? "" : "s")))]
            if n > 0 {
                let h = Double(n) / Double(maxValue) * height
                children.append(el("rect", attrs: [("class", "sent"), ("x", f(x + 2)), ("y", f(top + height - h)), ("width", f(barWidth - 4)), ("height", f(h))]))
                children.append(
                    el("text", attrs: [("class", "count"), ("x", f(x + barWidth / 2)), ("y", f(top + height - h - 3)), ("text-anchor", "middle")], children: [txt(String(n))]))
            }
            children.append(
                el("text", attrs: [("class", "label"), ("x", f(x + barWidth / 2)), ("y", f(top + height + 14)), ("text-anchor", "middle")], children: [txt(String(hour))]))
            nodes.append(el("g", attrs: [("class", "hour"), ("data-hour", String(hour)), ("data-count", String(n))], children: children))
        }
        return el(
            "svg",
            attrs: [
                ("class", "chart local-hours"), ("viewBox", "0 0 \(f(width)) \(f(top + height + 20))"), ("role", "img"),
                ("aria-label", "sends of \(rule) by local hour of day"), ("data-rule", rule),
            ], children: nodes)
    }

    /// Horizontal bars of runs per status (the overview).
    static func statusBars(_ counts: [(String, Int)]) -> Node {
        let rowHeight = 22.0, labelWidth = 96.0, barMax = 220.0
        let maxValue = max(1, counts.map(\.1).max() ?? 1)
        var nodes: [Node] = []
        for (i, (status, n)) in counts.enumerated() {
            let y = Double(i) * rowHeight
            let w = n == 0 ? 0 : max(2, Double(n) / Double(maxValue) * barMax)
            nodes.append(
                el(
                    "g", attrs: [("class", "status-bar"), ("data-status", status), ("data-count", String(n))],
                    children: [
                        el("title", [:], txt("\(status): \(n)")),
                        el("text", attrs: [("class", "label"), ("x", "0"), ("y", f(y + 15))], children: [txt(status)]),
                        el("rect", attrs: [("class", "st-\(status)"), ("x", f(labelWidth)), ("y", f(y + 4)), ("width", f(w)), ("height", "14"), ("rx", "3")]),
                        el("text", attrs: [("class", "count"), ("x", f(labelWidth + w + 6)), ("y", f(y + 15))], children: [txt(String(n))]),
                    ]))
        }
        return el(
            "svg", attrs: [("class", "chart statuses"), ("viewBox", "0 0 380 \(f(Double(counts.count) * rowHeight + 4))"), ("role", "img"), ("aria-label", "runs per status")],
            children: nodes)
    }
}
