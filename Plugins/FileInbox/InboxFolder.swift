import FlintPluginAPI
import Foundation
import Glibc

/// The watched folder on disk: listing, reading, and moving files to `processed/` and `failed/`.
struct InboxFolder: Sendable {
    /// What a listing remembers of a file, to tell a settled file from one still being written.
    struct Stamp: Hashable, Sendable {
        var size: Int64
        var modifiedSeconds: Int
        var modifiedNanoseconds: Int
        var isRegularFile: Bool

        var modified: Date {
            Date(timeIntervalSince1970: Double(modifiedSeconds) + Double(modifiedNanoseconds) / 1e9)
        }
    }

    enum Contents {
        /// Gone since it was announced (already moved, or deleted).
        case missing
        case tooLarge(size: Int)
        case bytes([UInt8])
    }

    struct FileError: Error, CustomStringConvertible {
        var operation: String
        var path: String
        var code: Int32
        var description: String { "\(operation) \(path): \(String(cString: strerror(code)))" }
    }

    let path: String
    var processedPath: String { path + "/processed" }
    var failedPath: String { path + "/failed" }

    /// Creates the folder, `processed/` and `failed/` when missing.
    func prepare() throws {
        for folder in [path, processedPath, failedPath] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
    }

    /// The files the inbox reads (by name: `*.json`, `*.ndjson`, `*.jsonl`, not hidden), sorted by name.
    func list() throws -> [(name: String, stamp: Stamp)] {
        try listAll().events
    }

    /// One listing: the files the inbox reads, and the regular files it never will (`notes.txt`),
    /// both sorted by name. Hidden, `*.tmp` and `*.part` files are in neither.
    func listAll() throws -> (events: [(name: String, stamp: Stamp)], others: [String]) {
        let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        let events = names.filter { InboxFile.format(ofName: $0) != nil }.compactMap { name in stamp(of: name).map { (name, $0) } }
        let others = names.filter { InboxFile.isNotEvents($0) && stamp(of: $0)?.isRegularFile == true }
        return (events, others)
    }

    func stamp(of name: String) -> Stamp? {
        var info = stat()
        guard stat(path + "/" + name, &info) == 0 else { return nil }
        return Stamp(
            size: Int64(info.st_size), modifiedSeconds: Int(info.st_mtim.tv_sec), modifiedNanoseconds: Int(info.st_mtim.tv_nsec),
            isRegularFile: info.st_mode & S_IFMT == S_IFREG)
    }

    /// Reads a whole file, refusing more than `limit` bytes.
    func read(_ name: String, limit: Int) throws(FileError) -> Contents {
        let file = path + "/" + name
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return .missing }
            throw FileError(operation: "open", path: file, code: errno)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError(operation: "stat", path: file, code: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw FileError(operation: "read", path: file, code: EISDIR) }
        if info.st_size > limit { return .tooLarge(size: Int(info.st_size)) }

        // Read to the end rather than trusting the size: the file may have grown since the stat.
        var bytes = [UInt8]()
        bytes.reserveCapacity(Int(info.st_size))
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count < 0 { throw FileError(operation: "read", path: file, code: errno) }
            if count == 0 { return .bytes(bytes) }
            bytes.append(contentsOf: chunk[..<count])
            if bytes.count > limit { return .tooLarge(size: bytes.count) }
        }
    }

    /// Moves a file into `processed/`, as `NAME`, or `NAME.1`, `NAME.2`... when taken. Returns the
    /// path it now has, relative to the folder.
    func moveToProcessed(_ name: String) throws -> String {
        let target = freeName(name, in: processedPath) { candidate in [candidate] }
        try move(name, to: processedPath + "/" + target)
        return "processed/" + target
    }

    /// Writes `failed/NAME.errors.json`, then moves the file to `failed/NAME` (both with the same
    /// suffix when the name is taken). The report goes first, so a crash in between leaves the
    /// reasons behind rather than a failed file without them.
    func moveToFailed(_ name: String, report: JSONValue) throws -> String {
        let target = freeName(name, in: failedPath) { candidate in [candidate, candidate + ".errors.json"] }
        let reportURL = URL(fileURLWithPath: failedPath + "/" + target + ".errors.json")
        try Data((report.prettyJSON() + "\n").utf8).write(to: reportURL, options: .atomic)
        try move(name, to: failedPath + "/" + target)
        return "failed/" + target
    }

    private func freeName(_ name: String, in folder: String, uses: (String) -> [String]) -> String {
        var candidate = name
        var suffix = 0
        while uses(candidate).contains(where: { access(folder + "/" + $0, F_OK) == 0 }) {
            suffix += 1
            candidate = "\(name).\(suffix)"
        }
        return candidate
    }

    private func move(_ name: String, to target: String) throws(FileError) {
        let source = path + "/" + name
        guard rename(source, target) == 0 else { throw FileError(operation: "rename", path: source, code: errno) }
    }
}
