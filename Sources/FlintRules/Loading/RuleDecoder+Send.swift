import FlintPluginAPI
import Foundation

extension RuleDecoder {
    static let sendKeys = [
        "action", "campaign_id", "send_id", "recipient", "trigger_properties", "audience", "broadcast",
        "allow_broadcast", "with",
    ]

    mutating func send(_ node: SourceNode, key sendKey: SourceNode) -> SendSpec? {
        guard let f = fields(node, in: "send", allowed: Self.sendKeys) else { return nil }
        var spec = SendSpec()
        if let (_, value) = f["action"], let action = string(value, "send.action") {
            if action.isEmpty || !action.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0) }) {
                error(value, "send.action: '\(action)' is not a plugin name (letters, digits, '-', '_', '.')")
            } else {
                spec.action = action
            }
        }
        if let (_, value) = f["campaign_id"], let campaign = string(value, "send.campaign_id") {
            if campaign.trimmingCharacters(in: .whitespaces).isEmpty {
                error(value, "send.campaign_id: must not be empty (the API identifier of an API-triggered campaign)")
            } else {
                spec.campaignId = campaign
            }
        } else if spec.isBraze, f["campaign_id"] == nil {
            error(sendKey, "send: missing required key 'campaign_id' (the API identifier of an API-triggered campaign in Braze)")
        }
        if let (_, value) = f["send_id"] { spec.sendId = sendID(value) }
        if let (_, value) = f["recipient"], let recipient = recipient(value) { spec.recipient = recipient }
        if let (_, value) = f["trigger_properties"] {
            if value.mapping == nil {
                error(value, "send.trigger_properties: expected a mapping of names to values, got \(value.typeName)")
            } else {
                spec.triggerProperties = templatedValue(value, "send.trigger_properties")
            }
        }
        if let (_, value) = f["audience"] {
            audience(value, "send.audience")
            spec.audience = value.json
        }
        if let (_, value) = f["allow_broadcast"] { spec.allowBroadcast = bool(value, "send.allow_broadcast") ?? false }
        if let (_, value) = f["broadcast"], let broadcast = bool(value, "send.broadcast") {
            spec.broadcast = broadcast
            if broadcast, !spec.allowBroadcast {
                error(value, "send.broadcast: true sends to the campaign's whole segment; if that is really meant, add 'allow_broadcast: true' to send")
            }
            if broadcast, let (key, _) = f["recipient"] {
                error(key, "send.recipient: Braze forbids recipients with broadcast: true; remove one of them")
            }
        }
        if let (key, value) = f["with"] {
            if spec.isBraze {
                error(key, "send.with: is the body for an action plugin; for Braze use trigger_properties (or set send.action)")
            } else {
                spec.with = templatedValue(value, "send.with")
            }
        }
        if !spec.isBraze {
            for name in ["send_id", "audience", "broadcast", "trigger_properties"] {
                if let (key, _) = f[name] {
                    error(key, "send.\(name): only applies to Braze; action '\(spec.action)' receives send.with")
                }
            }
        }
        return spec
    }

    private mutating func sendID(_ node: SourceNode) -> Template? {
        guard let t = template(node, "send.send_id") else { return nil }
        let literal = t.parts.compactMap { part -> String? in
            if case .literal(let s) = part { return s }
            return nil
        }.joined()
        if !literal.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F }) {
            error(node, "send.send_id: must be printable ASCII (Braze), got '\(t.source)'")
            return nil
        }
        if t.isLiteral {
            if literal.isEmpty || literal.count > 64 {
                error(node, "send.send_id: must be 1 to 64 ASCII characters (Braze), got \(literal.count)")
                return nil
            }
        } else if literal.count > 64 {
            error(node, "send.send_id: the fixed part alone is longer than 64 characters (Braze's limit)")
            return nil
        }
        let personal = ["userId", "anonymousId", "traits.email", "context.traits.email"]
        if t.paths.contains(where: { personal.contains($0.description) }) {
            warning(
                node,
                "send.send_id reads a user identifier: Braze needs every send_id created beforehand (100 a day), so one per user will fail; use a fixed or per-campaign send_id"
            )
        }
        return t
    }

    private mutating func recipient(_ node: SourceNode) -> RecipientSpec? {
        guard let f = fields(node, in: "send.recipient", allowed: ["external_user_id", "user_alias", "email", "prioritization"]) else {
            return nil
        }
        // Exactly one identifier (docs/braze.md, Recipients): report the second one, in document order.
        let identifiers = ["external_user_id", "user_alias", "email"].compactMap { name in f[name].map { (name, $0) } }
            .sorted { ($0.1.key.line, $0.1.key.column) < ($1.1.key.line, $1.1.key.column) }
        if identifiers.count > 1 {
            error(identifiers[1].1.key, "send.recipient: '\(identifiers[1].0)' is a second identifier next to '\(identifiers[0].0)'; a recipient has exactly one (Braze would misread it)")
            return nil
        }
        guard let (name, entry) = identifiers.first else {
            error(node, "send.recipient: needs one identifier: external_user_id, user_alias or email")
            return nil
        }
        if name != "email", let (key, _) = f["prioritization"] {
            error(key, "send.recipient.prioritization: only applies to an email recipient")
        }
        switch name {
        case "external_user_id":
            return template(entry.value, "send.recipient.external_user_id").map { .externalUserId($0) }
        case "user_alias":
            guard let a = fields(entry.value, in: "send.recipient.user_alias", allowed: ["alias_name", "alias_label"]) else { return nil }
            var aliasName: Template?, aliasLabel: Template?
            if let (_, v) = a["alias_name"] { aliasName = template(v, "send.recipient.user_alias.alias_name") } else {
                error(entry.key, "send.recipient.user_alias: missing required key 'alias_name'")
            }
            if let (_, v) = a["alias_label"] { aliasLabel = template(v, "send.recipient.user_alias.alias_label") } else {
                error(entry.key, "send.recipient.user_alias: missing required key 'alias_label'")
            }
            guard let aliasName, let aliasLabel else { return nil }
            return .userAlias(name: aliasName, label: aliasLabel)
        default:
            guard let email = template(entry.value, "send.recipient.email") else { return nil }
            guard let (_, p) = f["prioritization"] else {
                error(entry.key, "send.recipient: an email recipient needs 'prioritization' (e.g. [identified, most_recently_updated])")
                return nil
            }
            let allowed = ["identified", "unidentified", "most_recently_updated", "least_recently_updated"]
            guard let items = p.sequence, !items.isEmpty else {
                error(p, "send.recipient.prioritization: expected a non-empty list from \(allowed.joined(separator: ", "))")
                return nil
            }
            var list: [String] = []
            for item in items {
                guard let s = string(item, "send.recipient.prioritization") else { continue }
                if allowed.contains(s) { list.append(s) } else {
                    error(item, "send.recipient.prioritization: '\(s)' is not one of \(allowed.joined(separator: ", "))" + Self.didYouMean(s, from: allowed))
                }
            }
            return .email(email, prioritization: list)
        }
    }

    // MARK: schedule

    static let scheduleKeys = ["after", "at", "on", "time_zone", "in_local_time", "at_optimal_time", "quiet_hours", "if_late"]

    mutating func schedule(_ node: SourceNode) -> ScheduleSpec? {
        guard let f = fields(node, in: "schedule", allowed: Self.scheduleKeys) else { return nil }
        var spec = ScheduleSpec()
        if let (_, value) = f["after"], let seconds = duration(value, "schedule.after") {
            if seconds > Self.maxDelay {
                error(value, "schedule.after: \(DurationText.format(seconds: seconds)) is beyond Braze's 90-day scheduling horizon")
            } else {
                spec.after = seconds
            }
        }
        if let (_, value) = f["at"] { spec.at = timeOfDay(value, "schedule.at") }
        if let (key, value) = f["on"] {
            let items = value.sequence ?? [value]
            var days = Set<Weekday>()
            for item in items {
                guard let text = item.scalarText, let day = Weekday(rawValue: text.lowercased()) else {
                    let hint = item.scalarText.map { Self.didYouMean($0, from: Weekday.allCases.map(\.rawValue), aliases: Self.weekdayAliases) } ?? ""
                    error(item, "schedule.on: expected weekdays mon, tue, wed, thu, fri, sat, sun, got \(describe(item))\(hint)")
                    continue
                }
                days.insert(day)
            }
            if items.isEmpty { error(value, "schedule.on: the list of weekdays is empty") }
            spec.on = days
            if f["at"] == nil { error(key, "schedule.on: needs 'at' (the time of day to send on those days)") }
        }
        if let (_, value) = f["time_zone"], let zone = string(value, "schedule.time_zone") {
            if zone == "user" {
                spec.timeZone = .user
            } else if ZoneName.isValid(zone) {
                spec.timeZone = .named(zone)
            } else if zone.lowercased() == "user" || zone.lowercased() == "users" || zone.lowercased() == "user_zone" {
                error(value, "schedule.time_zone: '\(zone)' is not a time zone; did you mean 'user' (the user's own zone)?")
            } else {
                error(value, "schedule.time_zone: " + ZoneName.problem(zone, orUser: true))
            }
        }
        // Both flags: reported at the second one in document order.
        let flags = ["in_local_time", "at_optimal_time"].compactMap { name in f[name].map { (name, $0) } }
            .sorted { ($0.1.key.line, $0.1.key.column) < ($1.1.key.line, $1.1.key.column) }
        var values: [String: Bool] = [:]
        for (name, entry) in flags { values[name] = bool(entry.value, "schedule.\(name)") }
        spec.inLocalTime = values["in_local_time"] ?? false
        spec.atOptimalTime = values["at_optimal_time"] ?? false
        if spec.inLocalTime, spec.atOptimalTime, flags.count == 2 {
            error(flags[1].1.key, "schedule.\(flags[1].0): in_local_time and at_optimal_time are mutually exclusive; keep one")
        }
        // Braze wants Intelligent Timing schedules 48 hours before the date (docs/braze.md): under 48 h
        // of delay, the planned date's midnight is (nearly) always closer than that.
        if spec.atOptimalTime, !spec.inLocalTime, (spec.after ?? 0) < Planner.optimalNoticeSeconds, let (flagKey, _) = f["at_optimal_time"] {
            let delay = spec.after.map { "schedule.after: \(DurationText.format(seconds: $0)) is" } ?? "schedule: no 'after', so the delay is"
            warning(
                f["after"]?.value ?? flagKey,
                "\(delay) under 48h with at_optimal_time: true; the planned date is then less than 48 hours away and Braze may miss "
                    + "users (Intelligent Timing wants the schedule 48 hours ahead). Set after: 48h or more, or drop at_optimal_time")
        }
        if spec.inLocalTime, f["at"] == nil, let (key, _) = f["in_local_time"] {
            error(key, "schedule.in_local_time: needs 'at' (the wall-clock time Braze sends at in each user's zone)")
        }
        if let (key, value) = f["quiet_hours"],
            let q = fields(value, in: "schedule.quiet_hours", allowed: ["from", "to"])
        {
            let from = q["from"].flatMap { timeOfDay($0.value, "schedule.quiet_hours.from") }
            let to = q["to"].flatMap { timeOfDay($0.value, "schedule.quiet_hours.to") }
            if q["from"] == nil { error(key, "schedule.quiet_hours: missing required key 'from'") }
            if q["to"] == nil { error(key, "schedule.quiet_hours: missing required key 'to'") }
            if let from, let to {
                if from == to {
                    error(q["to"]!.value, "schedule.quiet_hours: 'from' and 'to' are both \(from); the window is empty (or the whole day)")
                } else {
                    spec.quietHours = QuietHours(from: from, to: to)
                }
            }
        }
        if let at = spec.at, let quiet = spec.quietHours, quiet.contains(at), let (_, value) = f["at"] {
            error(value, "schedule.at: \(at) is inside the quiet hours \(quiet.from)-\(quiet.to); pick a time outside them")
        }
        if let (_, value) = f["if_late"], let text = string(value, "schedule.if_late") {
            if let policy = LatePolicy(rawValue: text) { spec.ifLate = policy } else {
                error(value, "schedule.if_late: '\(text)' is not one of send_now, skip" + Self.didYouMean(text, from: ["send_now", "skip"], aliases: ["send": "send_now", "now": "send_now", "drop": "skip", "ignore": "skip"]))
            }
        }
        return spec
    }

    // MARK: limit

    mutating func limit(_ node: SourceNode) -> LimitSpec? {
        guard let f = fields(node, in: "limit", allowed: ["once_per", "max_sends"]) else { return nil }
        var spec = LimitSpec()
        if let (key, value) = f["once_per"], let o = fields(value, in: "limit.once_per", allowed: ["key", "within"]) {
            let keyTemplate = o["key"].flatMap { template($0.value, "limit.once_per.key") }
                ?? (o["key"] == nil ? try? Template(parsing: "{{ userId }}") : nil)
            var within: Int?
            if let (_, v) = o["within"] {
                within = duration(v, "limit.once_per.within")
                if let w = within, w <= 0 { error(v, "limit.once_per.within: must be longer than 0s") }
            } else {
                error(key, "limit.once_per: missing required key 'within' (e.g. 7d)")
            }
            if let keyTemplate, let within, within > 0 { spec.oncePer = .init(key: keyTemplate, within: within) }
        }
        if let (key, value) = f["max_sends"], let m = fields(value, in: "limit.max_sends", allowed: ["count", "per"]) {
            let count = m["count"].flatMap { integer($0.value, "limit.max_sends.count", minimum: 1) }
            var per: Int?
            if let (_, v) = m["per"] {
                per = duration(v, "limit.max_sends.per")
                if let p = per, p <= 0 { error(v, "limit.max_sends.per: must be longer than 0s") }
            }
            if m["count"] == nil { error(key, "limit.max_sends: missing required key 'count'") }
            if m["per"] == nil { error(key, "limit.max_sends: missing required key 'per' (e.g. 1d)") }
            if let count, let per, per > 0 { spec.maxSends = .init(count: count, per: per) }
        }
        return spec
    }
}
