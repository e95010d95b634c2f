import Foundation

/// Durations as rules and configuration write them: `90s`, `15m`, `2h`, `1d`, `1w`, `1h30m`, `250ms`.
///
/// Durations are elapsed time: `1d` is 24 hours (docs/architecture.md, planner step 1).
public enum DurationText {
    /// Parses a duration into milliseconds; nil when malformed.
    public static func milliseconds(_ text: String) -> Int64? {
        let s = text.trimmingCharacters(in: .whitespaces)
        guard !s.isEmpty else { return nil }
        var total: Int64 = 0
        var digits = ""
        let chars = Array(s)
        var i = 0
        var sawUnit = false
        while i < chars.count {
            let c = chars[i]
            if c.isASCII, c.isNumber {
                digits.append(c)
                i += 1
                continue
            }
            guard !digits.isEmpty, let n = Int64(digits) else { return nil }
            var unit = String(c)
            if c == "m", i + 1 < chars.count, chars[i + 1] == "s" {
                unit = "ms"
                i += 1
            }
            let factor: Int64
            switch unit {
            case "ms": factor = 1
            case "s": factor = 1000
            case "m": factor = 60_000
            case "h": factor = 3_600_000
            case "d": factor = 86_400_000
            case "w": factor = 604_800_000
            default: return nil
            }
            let (product, overflow) = n.multipliedReportingOverflow(by: factor)
            guard !overflow else { return nil }
            let (sum, overflow2) = total.addingReportingOverflow(product)
            guard !overflow2 else { return nil }
            total = sum
            digits = ""
            sawUnit = true
            i += 1
        }
        guard digits.isEmpty, sawUnit else { return nil }
        return total
    }

    /// Parses a duration into whole seconds; nil when malformed or not a whole number of seconds.
    public static func seconds(_ text: String) -> Int? {
        guard let ms = milliseconds(text), ms % 1000 == 0 else { return nil }
        return Int(ms / 1000)
    }

    /// Formats seconds the way rules write them: `2h`, `1h30m`, `90d`.
    public static func format(seconds: Int) -> String {
        if seconds == 0 { return "0s" }
        var rest = seconds
        var out = ""
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] where rest >= size {
            out += "\(rest / size)\(unit)"
            rest %= size
        }
        return out
    }
}
