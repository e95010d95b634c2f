import Foundation

/// The progress bar `flint ingest` draws on stderr when stderr is a terminal: events done, events/s,
/// and (when the file's size is known) the share read and the time left. Drawn at most 10 times a
/// second, on one line that is cleared at the end. `render` is pure, for tests.
final class ProgressBar {
    private let label: String
    private let totalBytes: Int64?
    private let started: Date
    private var lastDraw: Date?
    private let interval: TimeInterval
    private let write: (String) -> Void
    private var drawn = false

    /// Nil when stderr is not a terminal (or TERM is dumb): then nothing is drawn.
    static func onTerminal(label: String, totalBytes: Int64?) -> ProgressBar? {
        guard Terminal.isTerminal(2), ProcessInfo.processInfo.environment["TERM"] != "dumb" else { return nil }
        return ProgressBar(label: label, totalBytes: totalBytes) { FileHandle.standardError.write(Data($0.utf8)) }
    }

    init(label: String, totalBytes: Int64?, now: Date = Date(), interval: TimeInterval = 0.1, write: @escaping (String) -> Void) {
        self.label = label
        self.totalBytes = totalBytes
        self.started = now
        self.interval = interval
        self.write = write
    }

    /// Redraws unless the last frame is younger than the interval.
    func update(events: Int, bytesRead: Int64, now: Date = Date(), width: Int = ProgressBar.terminalWidth()) {
        if let lastDraw, now.timeIntervalSince(lastDraw) < interval { return }
        lastDraw = now
        drawn = true
        write("\r" + Self.render(label: label, events: events, elapsed: now.timeIntervalSince(started), bytesRead: bytesRead, totalBytes: totalBytes, width: width) + "\u{1B}[K")
    }

    /// Clears the line, so what follows starts clean.
    func finish() {
        if drawn { write("\r\u{1B}[K") }
    }

    /// `events.ndjson [########------------]  42%  120,000 events  10.3k events/s  ETA 0:12`
    static func render(label: String, events: Int, elapsed: TimeInterval, bytesRead: Int64, totalBytes: Int64?, width: Int = 80) -> String {
        let rate = elapsed > 0 ? Double(events) / elapsed : 0
        let stats = "\(grouped(events)) events  \(short(rate)) events/s"
        guard let totalBytes, totalBytes > 0 else { return "\(label)  \(stats)" }
        let fraction = min(1, max(0, Double(bytesRead) / Double(totalBytes)))
        var eta = "ETA -"
        if fraction > 0, elapsed > 0 {
            eta = "ETA " + clock(elapsed / fraction - elapsed)
        }
        let percent = "\(Int((fraction * 100).rounded(.down)))%"
        let tail = "\(percent.count < 4 ? String(repeating: " ", count: 4 - percent.count) : "")\(percent)  \(stats)  \(eta)"
        let name = label.count > 24 ? "…" + label.suffix(23) : label
        let barWidth = max(10, min(40, width - name.count - tail.count - 5))
        let filled = Int((fraction * Double(barWidth)).rounded(.down))
        return "\(name) [" + String(repeating: "#", count: filled) + String(repeating: "-", count: barWidth - filled) + "] " + tail
    }

    /// `1,234,567`
    static func grouped(_ n: Int) -> String {
        let digits = String(n)
        var out = ""
        for (i, c) in digits.reversed().enumerated() {
            if i > 0, i % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }

    /// `950`, `10.3k`, `1.2M`
    static func short(_ v: Double) -> String {
        if v >= 1_000_000 { return String(format: "%.1fM", v / 1_000_000) }
        if v >= 1000 { return String(format: "%.1fk", v / 1000) }
        return String(Int(v.rounded()))
    }

    /// `0:12`, `3:05`, `1:02:03`
    static func clock(_ seconds: TimeInterval) -> String {
        let s = max(0, Int(seconds.rounded()))
        let (h, m, r) = (s / 3600, s % 3600 / 60, s % 60)
        let two = { (v: Int) in v < 10 ? "0\(v)" : String(v) }
        return h > 0 ? "\(h):\(two(m)):\(two(r))" : "\(m):\(two(r))"
    }

    static func terminalWidth() -> Int {
        var size = winsize()
        if ioctl(2, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return 80
    }
}
