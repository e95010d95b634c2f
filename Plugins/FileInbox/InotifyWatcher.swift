@preconcurrency import Dispatch
import Glibc

/// Watches one folder with inotify and reports what it sees (docs/architecture.md, The watched folder).
///
/// A Dispatch read source drains the non-blocking inotify descriptor; `stop()` cancels it and the
/// cancel handler closes the descriptor, so nothing reads a closed or reused descriptor.
final class InotifyWatcher: Sendable {
    enum Notice: Sendable, Hashable {
        /// A file was closed after writing, or moved into the folder: complete, in the writer's view.
        case written(String)
        /// The kernel queue overflowed: events were lost, list the folder.
        case overflow
        /// The folder itself was deleted, moved or unmounted: the watch is dead.
        case folderGone
    }

    struct StartError: Error, CustomStringConvertible {
        var operation: String
        var code: Int32
        var description: String { "\(operation) failed: \(String(cString: strerror(code)))" }
    }

    private let source: any DispatchSourceRead

    /// Adds the watch, then starts reporting. Files already in the folder are not reported: the
    /// caller lists the folder after this returns.
    init(folder: String, onNotices: @escaping @Sendable ([Notice]) -> Void) throws(StartError) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw StartError(operation: "inotify_init1", code: errno) }
        // IN_CREATE is watched but never acted on: a hard link or symlink gives only IN_CREATE, and
        // the rescan picks such files up once they have settled.
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
        guard inotify_add_watch(fd, folder, mask) >= 0 else {
            let code = errno
            close(fd)
            throw StartError(operation: "inotify_add_watch \(folder)", code: code)
        }
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: DispatchQueue(label: "flint.inbox.inotify"))
        source.setEventHandler {
            let notices = Self.readAvailable(fd)
            if !notices.isEmpty { onNotices(notices) }
        }
        source.setCancelHandler { close(fd) }
        source.resume()
        self.source = source
    }

    func stop() {
        source.cancel()
    }

    deinit {
        source.cancel()
    }

    /// Reads every queued event. Each is a 16-byte header (wd, mask, cookie, len) followed by `len`
    /// NUL-padded name bytes; the buffer holds many events and always more than one header + NAME_MAX + 1.
    private static func readAvailable(_ fd: Int32) -> [Notice] {
        var notices: [Notice] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }  // EAGAIN: drained
            buffer.withUnsafeBytes { raw in
                var offset = 0
                while offset + 16 <= count {
                    let mask = raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                    let length = Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                    let nameBytes = raw[(offset + 16)..<min(offset + 16 + length, count)].prefix { $0 != 0 }
                    offset += 16 + length
                    if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                        notices.append(.overflow)
                    } else if mask & UInt32(IN_IGNORED | IN_MOVE_SELF) != 0 {
                        // The watch ends with IN_IGNORED (after IN_DELETE_SELF or IN_UNMOUNT); a moved
                        // folder keeps its watch, so IN_MOVE_SELF counts as the end too. Once each.
                        notices.append(.folderGone)
                    } else if mask & UInt32(IN_CLOSE_WRITE | IN_MOVED_TO) != 0, mask & UInt32(IN_ISDIR) == 0, !nameBytes.isEmpty {
                        notices.append(.written(String(decoding: nameBytes, as: UTF8.self)))
                    }
                }
            }
        }
        return notices
    }
}
