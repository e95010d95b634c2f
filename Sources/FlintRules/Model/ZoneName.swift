import Foundation

/// Time-zone names: a zone is any name in the IANA tz database, links included (`Asia/Kolkata`,
/// `Asia/Calcutta`, `Etc/UTC`, `UTC`, `US/Eastern`, `Europe/Kyiv`, `Europe/Kiev`); see
/// docs/architecture.md, "Time zones".
///
/// Foundation's `TimeZone.knownTimeZoneIdentifiers` is ICU's canonical list: it lacks many tz names
/// (`Asia/Kolkata`, `Etc/UTC`, `US/Eastern`, `UTC`), so it is not the validator. And
/// `TimeZone(identifier:)` alone accepts more than the tz database (`IST`, `PST`, `GMT+5`,
/// `SystemV/AST4`: ICU's legacy and custom ids), so it is not the validator either. A name is a zone
/// when Foundation can load it AND it is a tz name: in ICU's list, in the tz links below, or of the
/// form `Area/Location` with one of the tz database's areas (so a zone added to a newer tz database
/// is accepted without a change here).
///
/// Pure: no I/O; the candidate list is built once.
public enum ZoneName {
    /// The zone for `name`, or nil when `name` is not a tz database name.
    public static func resolve(_ name: String) -> TimeZone? {
        guard isTZName(name) else { return nil }
        return TimeZone(identifier: name)
    }

    /// Whether `name` is a zone (same as `resolve(name) != nil`).
    public static func isValid(_ name: String) -> Bool { resolve(name) != nil }

    /// The name Flint prints for a zone. Foundation reports `TimeZone(identifier: "UTC")` as "GMT";
    /// Flint's default zone is called UTC everywhere.
    public static func display(_ zone: TimeZone) -> String { zone.identifier == "GMT" ? "UTC" : zone.identifier }

    /// Up to three tz names close to `name`, best first, for "did you mean". Empty when nothing is close.
    public static func suggestions(for name: String) -> [String] {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        if trimmed != name, isValid(trimmed) { return [trimmed] }
        let key = normalized(trimmed)
        guard !key.isEmpty else { return [] }
        // Same name but for case, spaces or dashes: "europe/paris", "America/New York".
        if let exact = byNormalized[key] { return [exact] }
        // An abbreviation ICU knows (IST, PST, CET...): the zone it stands for.
        if !trimmed.contains("/"), let zone = TimeZone.abbreviationDictionary[trimmed.uppercased()], isValid(zone) {
            return [preferred[zone] ?? zone]
        }
        // "UTC+5", "GMT-03:00": a fixed offset is Etc/GMT with the sign inverted (POSIX style).
        if let etc = etcName(forOffset: trimmed) { return [etc] }
        // A city alone, or under the wrong area: "Kolkata", "Asia/Paris".
        let city = key.split(separator: "/").last.map(String.init) ?? key
        let byCity = candidates.filter { normalized($0).split(separator: "/").last.map(String.init) == city }
        if !byCity.isEmpty { return Array(byCity.prefix(3)) }
        // Typos: the nearest names by edit distance, within a third of the length (at least 2).
        let limit = max(2, key.count / 3)
        var scored: [(name: String, distance: Int)] = []
        for candidate in candidates {
            let c = normalized(candidate)
            guard abs(c.count - key.count) <= limit else { continue }
            let d = DidYouMean.editDistance(key, c, limit: limit)
            if d <= limit { scored.append((candidate, d)) }
        }
        scored.sort { $0.distance != $1.distance ? $0.distance < $1.distance : $0.name < $1.name }
        // Only the nearest (and those one edit further): "Europe/Pari" is Paris, not Madrid.
        guard let best = scored.first?.distance else { return [] }
        return Array(scored.prefix { $0.distance <= best + 1 }.prefix(3).map(\.name))
    }

    /// "'X' is not a time zone in the tz database; did you mean 'Y'?" for error messages; `orUser`
    /// where `user` (the user's own zone) is also allowed.
    public static func problem(_ name: String, orUser: Bool = false) -> String {
        var message = "'\(name)' is not a time zone in the tz database"
        let s = suggestions(for: name)
        if !s.isEmpty {
            message += "; did you mean " + s.map { "'\($0)'" }.joined(separator: " or ") + "?"
            if orUser { message += " (or 'user' for the user's own zone)" }
        } else {
            message += " (write a name such as Europe/Paris, America/New_York or UTC" + (orUser ? ", or 'user' for the user's own zone)" : ")")
        }
        return message
    }

    // MARK: The names

    /// The tz database's areas: `Area/Location` names under them are tz names.
    static let areas: Set<String> = [
        "Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Brazil", "Canada", "Chile", "Etc",
        "Europe", "Indian", "Mexico", "Pacific", "US",
    ]

    /// tz names (zones and links, tz 2025b) that ICU's canonical list lacks.
    static let links: [String] = [
        "Africa/Asmera", "Africa/Timbuktu", "America/Argentina/ComodRivadavia", "America/Atka", "America/Buenos_Aires",
        "America/Catamarca", "America/Coral_Harbour", "America/Cordoba", "America/Ensenada", "America/Fort_Wayne",
        "America/Indianapolis", "America/Jujuy", "America/Knox_IN", "America/Louisville", "America/Mendoza", "America/Porto_Acre",
        "America/Rosario", "America/Virgin", "Asia/Ashkhabad", "Asia/Chungking", "Asia/Dacca", "Asia/Istanbul", "Asia/Kolkata",
        "Asia/Macao", "Asia/Saigon", "Asia/Tel_Aviv", "Asia/Thimbu", "Asia/Ujung_Pandang", "Asia/Ulan_Bator", "Atlantic/Faeroe",
        "Atlantic/Jan_Mayen", "Australia/ACT", "Australia/Canberra", "Australia/LHI", "Australia/NSW", "Australia/North",
        "Australia/Queensland", "Australia/South", "Australia/Tasmania", "Australia/Victoria", "Australia/West",
        "Australia/Yancowinna", "Brazil/Acre", "Brazil/DeNoronha", "Brazil/East", "Brazil/West", "CET", "CST6CDT",
        "Canada/Atlantic", "Canada/Central", "Canada/Eastern", "Canada/Mountain", "Canada/Newfoundland", "Canada/Pacific",
        "Canada/Saskatchewan", "Canada/Yukon", "Chile/Continental", "Chile/EasterIsland", "Cuba", "EET", "EST", "EST5EDT", "Egypt",
        "Eire", "Etc/GMT", "Etc/GMT+0", "Etc/GMT+1", "Etc/GMT+10", "Etc/GMT+11", "Etc/GMT+12", "Etc/GMT+2", "Etc/GMT+3",
        "Etc/GMT+4", "Etc/GMT+5", "Etc/GMT+6", "Etc/GMT+7", "Etc/GMT+8", "Etc/GMT+9", "Etc/GMT-0", "Etc/GMT-1", "Etc/GMT-10",
        "Etc/GMT-11", "Etc/GMT-12", "Etc/GMT-13", "Etc/GMT-14", "Etc/GMT-2", "Etc/GMT-3", "Etc/GMT-4", "Etc/GMT-5", "Etc/GMT-6",
        "Etc/GMT-7", "Etc/GMT-8", "Etc/GMT-9", "Etc/GMT0", "Etc/Greenwich", "Etc/UCT", "Etc/UTC", "Etc/Universal", "Etc/Zulu",
        "Europe/Belfast", "Europe/Kyiv", "Europe/Nicosia", "Europe/Tiraspol", "Factory", "GB", "GB-Eire", "GMT", "GMT+0", "GMT-0",
        "GMT0", "Greenwich", "HST", "Hongkong", "Iceland", "Iran", "Israel", "Jamaica", "Japan", "Kwajalein", "Libya", "MET", "MST",
        "MST7MDT", "Mexico/BajaNorte", "Mexico/BajaSur", "Mexico/General", "NZ", "NZ-CHAT", "Navajo", "PRC", "PST8PDT",
        "Pacific/Samoa", "Pacific/Yap", "Poland", "Portugal", "ROC", "ROK", "Singapore", "Turkey", "UCT", "US/Alaska",
        "US/Aleutian", "US/Arizona", "US/Central", "US/East-Indiana", "US/Eastern", "US/Hawaii", "US/Indiana-Starke",
        "US/Michigan", "US/Mountain", "US/Pacific", "US/Samoa", "UTC", "Universal", "W-SU", "WET", "Zulu",
    ]

    /// The current name for an old one that ICU still reports as canonical (suggested instead).
    static let preferred: [String: String] = [
        "Asia/Calcutta": "Asia/Kolkata", "Europe/Kiev": "Europe/Kyiv", "Asia/Saigon": "Asia/Ho_Chi_Minh",
        "Asia/Katmandu": "Asia/Kathmandu", "Asia/Rangoon": "Asia/Yangon", "Atlantic/Faeroe": "Atlantic/Faroe",
    ]

    /// Every name suggestions are drawn from: ICU's list and the links, sorted, current names first.
    static let candidates: [String] = {
        let all = Set(TimeZone.knownTimeZoneIdentifiers).union(links)
        let old = Set(preferred.keys)
        return all.sorted { (old.contains($0) ? 1 : 0, $0) < (old.contains($1) ? 1 : 0, $1) }
    }()

    private static let candidateSet: Set<String> = Set(candidates)

    private static let byNormalized: [String: String] = {
        var map: [String: String] = [:]
        for name in candidates where map[normalized(name)] == nil { map[normalized(name)] = name }
        return map
    }()

    static func isTZName(_ name: String) -> Bool {
        if candidateSet.contains(name) { return true }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 2, areas.contains(String(parts[0])) else { return false }
        return parts.dropFirst().allSatisfy { part in
            !part.isEmpty && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-+".contains($0)) }
        }
    }

    private static func normalized(_ name: String) -> String {
        name.lowercased().replacingOccurrences(of: " ", with: "_").replacingOccurrences(of: "-", with: "_")
    }

    /// `Etc/GMT-5` for "UTC+5", "GMT+05:00", "+5" (whole hours only, as tz has).
    private static func etcName(forOffset text: String) -> String? {
        var rest = Substring(text.uppercased())
        for prefix in ["UTC", "GMT"] where rest.hasPrefix(prefix) { rest = rest.dropFirst(prefix.count) }
        guard let sign = rest.first, sign == "+" || sign == "-" else { return nil }
        let digits = rest.dropFirst()
        let parts = digits.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let hours = Int(parts[0]), (0...14).contains(hours) else { return nil }
        if parts.count == 2 { guard let minutes = Int(parts[1]), minutes == 0 else { return nil } }
        if hours == 0 { return "Etc/UTC" }
        let name = "Etc/GMT\(sign == "+" ? "-" : "+")\(hours)"
        return isValid(name) ? name : nil
    }
}

