import Foundation

/// "Did you mean ...?" for misspelt words: rule keys, enum values, operators, zone names, settings in
/// flint.yaml, commands. One place, so every error suggests the same way.
public enum DidYouMean {
    /// The candidate a misspelt word most likely meant, or nil: the same word but for case and
    /// separators (`Send-Now`), a word people write for it (`equals` -> `eq`, `monday` -> `mon`), the
    /// nearest by edit distance (`skipp` -> `skip`), or a candidate the word starts with (`mondays`).
    public static func suggest(_ name: String, from candidates: [String], aliases: [String: String] = [:]) -> String? {
        let word = normalizedWord(name)
        guard !word.isEmpty else { return nil }
        if let exact = candidates.first(where: { normalizedWord($0) == word }) { return exact }
        if let alias = aliases[word], candidates.contains(alias) { return alias }
        let scored = candidates.map { ($0, editDistance(word, normalizedWord($0))) }
        if let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, word.count / 3) { return best.0 }
        // A word missing from a compound name: `external_id` -> `external_user_id`.
        let parts = word.split(separator: "_")
        if parts.count > 1, let whole = candidates.first(where: { isSubsequence(parts, of: normalizedWord($0).split(separator: "_")) }) {
            return whole
        }
        return candidates.filter { $0.count >= 2 && word.hasPrefix(normalizedWord($0)) }.max { $0.count < $1.count }
    }

    static func isSubsequence(_ parts: [Substring], of whole: [Substring]) -> Bool {
        var rest = whole[...]
        for part in parts {
            guard let i = rest.firstIndex(of: part) else { return false }
            rest = rest[(i + 1)...]
        }
        return true
    }

    static func normalizedWord(_ text: String) -> String {
        text.trimmingCharacters(in: .whitespaces).lowercased().replacingOccurrences(of: "-", with: "_").replacingOccurrences(of: " ", with: "_")
    }

    /// Levenshtein distance, giving up (returning limit + 1) once every path is over `limit`.
    public static func editDistance(_ a: String, _ b: String, limit: Int = .max) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            var rowMin = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                rowMin = min(rowMin, current[j])
            }
            if rowMin > limit { return limit + 1 }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
