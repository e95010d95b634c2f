import Foundation

/// Output helpers: stdout for results, stderr for problems.
enum Terminal {
    static func out(_ line: String = "", flush: Bool = false) {
        print(line)
        if flush { fflush(nil) }
    }

    static func err(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Whether a file descriptor is a terminal (stdout 1, stderr 2).
    static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// Colour on stdout: only on a terminal, and only when `NO_COLOR` is unset or empty (no-color.org).
    static func colourAllowed(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        isTerminal(1) && (environment["NO_COLOR"] ?? "").isEmpty && environment["TERM"] != "dumb"
    }

    /// Left-aligned columns separated by two spaces; the last column is not padded. Widths count
    /// what shows: colour escapes take no room.
    static func table(_ rows: [[String]], header: [String]? = nil) -> String {
        let all = (header.map { [$0] } ?? []) + rows
        guard let width = all.map(\.count).max(), width > 0 else { return "" }
        var widths = Array(repeating: 0, count: width)
        for row in all {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], visibleWidth(cell)) }
        }
        return all.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: max(0, widths[i] - visibleWidth(cell)))
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// Characters that show: ANSI SGR sequences (`ESC [ ... m`) count for nothing.
    static func visibleWidth(_ s: String) -> Int {
        guard s.contains("\u{1B}") else { return s.count }
        var n = 0
        var inEscape = false
        for c in s {
            if inEscape {
                if c == "m" { inEscape = false }
            } else if c == "\u{1B}" {
                inEscape = true
            } else {
                n += 1
            }
        }
        return n
    }
}

/// Colours for status words in tables: scheduled green; pending and shadow cyan; failed, unknown and
/// dead red; skipped, not_matched and cancelled dim. Off unless `enabled` (a terminal, no NO_COLOR,
/// not --json).
struct Palette: Sendable {
    var enabled: Bool

    static let off = Palette(enabled: false)

    /// On when stdout is a terminal and `NO_COLOR` is unset, and never for JSON.
    static func forListing(json: Bool) -> Palette { Palette(enabled: !json && Terminal.colourAllowed()) }

    func status(_ word: String) -> String {
        guard enabled else { return word }
        switch word {
        case "scheduled", "sent": return paint(word, "32")
        case "pending", "shadow", "sending": return paint(word, "36")
        case "failed", "unknown", "dead": return paint(word, "31")
        case "skipped", "not_matched", "cancelled": return paint(word, "2")
        default: return word
        }
    }

    func dim(_ s: String) -> String { enabled ? paint(s, "2") : s }

    func bold(_ s: String) -> String { enabled ? paint(s, "1") : s }

    private func paint(_ s: String, _ code: String) -> String { "\u{1B}[\(code)m\(s)\u{1B}[0m" }
}
