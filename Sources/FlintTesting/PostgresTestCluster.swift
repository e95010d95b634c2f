import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A throwaway PostgreSQL cluster for tests: started once per test process from the PostgreSQL
/// binaries (initdb, pg_ctl) in a temporary folder, listening on a free loopback port, and stopped
/// when the process exits. Each test takes a fresh database of its own (`makeDatabase()`).
///
/// The cluster's superuser `flint` has a password (`password`, with characters a URL must
/// percent-encode) and TCP logins use SCRAM, so tests go through the URL parsing and the real
/// authentication. Run as root, initdb and pg_ctl run as the `postgres` user (initdb refuses root).
///
/// Without the binaries the PostgreSQL tests are skipped with a printed reason (`skipReason`), except
/// under CI (`FLINT_CI=1`), where missing binaries fail them.
public final class PostgresTestCluster: Sendable {
    public let folder: String
    public let port: Int
    public let user = "flint"
    /// Percent-encoded in URLs: `p@ss:w/rd` style characters on purpose.
    public let password: String
    private let bin: String

    /// The cluster of this process, started on first use.
    public static func shared() throws -> PostgresTestCluster {
        switch started {
        case .success(let cluster): return cluster
        case .failure(let error): throw error
        }
    }

    /// `shared()` from async code: starting the cluster runs processes, off the cooperative pool.
    public static func shared() async throws -> PostgresTestCluster {
        try await offThePool { try shared() }
    }

    /// `makePrivate()` from async code, off the cooperative pool.
    public static func makePrivate() async throws -> PostgresTestCluster {
        try await offThePool { try makePrivate() }
    }

    /// A cluster of its own, for a test that stops and starts the server (`stop()`, `start()`);
    /// stopped at exit like the shared one.
    public static func makePrivate() throws -> PostgresTestCluster {
        try PostgresTestCluster()
    }

    private static let started: Result<PostgresTestCluster, ClusterError> = Result { try PostgresTestCluster() }.mapError {
        $0 as? ClusterError ?? ClusterError(description: "\($0)")
    }

    public struct ClusterError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Why the PostgreSQL tests cannot run here (no binaries); nil when they can. Under CI
    /// (`FLINT_CI=1`) they run regardless, and fail.
    public static let skipReason: String? = {
        guard binFolder() == nil else { return nil }
        let reason =
            "PostgreSQL tests skipped: no initdb and pg_ctl found (FLINT_PG_BIN, /usr/lib/postgresql/*/bin, PATH); install them with `apt-get install postgresql`"
        if ProcessInfo.processInfo.environment["FLINT_CI"] == "1" { return nil }
        FileHandle.standardError.write(Data(("note: " + reason + "\n").utf8))
        return reason
    }()

    /// The folder with initdb and pg_ctl: FLINT_PG_BIN when set, else the newest /usr/lib/postgresql/N/bin, else PATH.
    static func binFolder() -> String? {
        let fm = FileManager.default
        func has(_ folder: String) -> Bool { fm.isExecutableFile(atPath: folder + "/initdb") && fm.isExecutableFile(atPath: folder + "/pg_ctl") }
        // Named explicitly: that folder or nothing (FLINT_PG_BIN=/nowhere shows what a machine without them does).
        if let folder = ProcessInfo.processInfo.environment["FLINT_PG_BIN"] { return has(folder) ? folder : nil }
        let versions = ((try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).compactMap(Int.init).sorted(by: >)
        for version in versions where has("/usr/lib/postgresql/\(version)/bin") { return "/usr/lib/postgresql/\(version)/bin" }
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) where has(folder) { return folder }
        return nil
    }

    private init() throws {
        guard let bin = Self.binFolder() else {
            throw ClusterError(description: "no PostgreSQL binaries (initdb, pg_ctl): install postgresql or set FLINT_PG_BIN")
        }
        self.bin = bin
        Self.removeAbandoned()
        let folder = "/tmp/flint-pg-\(UUID().uuidString.prefix(8).lowercased())"
        self.folder = folder
        self.password = "pw-\(UUID().uuidString.prefix(8))@:/%"
        let fm = FileManager.default
        try fm.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try Data("\(getpid())\n".utf8).write(to: URL(fileURLWithPath: folder + "/owner.pid"))
        try Data((password + "\n").utf8).write(to: URL(fileURLWithPath: folder + "/pwfile"))
        if getuid() == 0 {
            try fm.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: folder)
            try fm.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: folder + "/pwfile")
        }
        try Self.run(
            bin + "/initdb",
            ["-D", folder + "/data", "-U", user, "--pwfile=\(folder)/pwfile", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
             "--no-sync", "--no-instructions"])
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = Self.freePort()
            do {
                try Self.run(
                    bin + "/pg_ctl",
                    ["-D", folder + "/data", "-l", folder + "/server.log", "-w", "-t", "30",
                     "-o", "-p \(port) -k \(folder) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400 -c synchronous_commit=off",
                     "start"])
                self.port = port
                Self.stopAtExit(bin: bin, folder: folder)
                return
            } catch {
                lastError = error
            }
        }
        throw ClusterError(description: "the test PostgreSQL cluster in \(folder) did not start: \(lastError.map { "\($0)" } ?? "")")
    }

    /// A URL with the password, percent-encoded, for `database`.
    public func url(database: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let encoded = password.addingPercentEncoding(withAllowedCharacters: allowed) ?? password
        return "postgres://\(user):\(encoded)@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// `makeDatabase()` from async code, off the cooperative pool.
    public func makeDatabase() async throws -> String {
        try await offThePool { try self.makeDatabase() }
    }

    /// `psql(_:_:)` from async code, off the cooperative pool.
    @discardableResult
    public func psql(_ database: String, _ sql: String) async throws -> String {
        try await offThePool { try self.psql(database, sql) }
    }

    /// `stop()` from async code, off the cooperative pool.
    public func stop() async throws {
        try await offThePool { try self.stop() }
    }

    /// `start()` from async code, off the cooperative pool.
    public func start() async throws {
        try await offThePool { try self.start() }
    }

    /// Creates an empty database and returns its URL.
    public func makeDatabase() throws -> String {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try psql("postgres", "CREATE DATABASE \(name)")
        return url(database: name)
    }

    /// Runs SQL with psql as the superuser (through the socket) and returns its unaligned output.
    @discardableResult
    public func psql(_ database: String, _ sql: String) throws -> String {
        try Self.run(bin + "/psql", ["-X", "-q", "-A", "-t", "-h", folder, "-p", "\(port)", "-U", user, "-d", database, "-c", sql], asPostgres: false)
    }

    /// Stops the server now (for tests of a database that goes away); `start()` brings it back.
    public func stop() throws {
        try Self.run(bin + "/pg_ctl", ["-D", folder + "/data", "-m", "fast", "-w", "stop"])
    }

    public func start() throws {
        try Self.run(
            bin + "/pg_ctl",
            ["-D", folder + "/data", "-l", folder + "/server.log", "-w", "-t", "30",
             "-o", "-p \(port) -k \(folder) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400 -c synchronous_commit=off",
             "start"])
    }

    // MARK: Processes

    /// Runs a PostgreSQL binary to its end; as the `postgres` user when this process is root. Spawned
    /// and reaped with posix_spawn and waitpid, its output through a file: Foundation's `Process`
    /// can miss the end of a child whose own child (the server pg_ctl starts) lives on.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], asPostgres: Bool = true) throws -> String {
        let argv = getuid() == 0 && asPostgres ? ["/usr/sbin/runuser", "-u", "postgres", "--", executable] + arguments : [executable] + arguments
        let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("flint-pg-out-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else: a server started here lives on, and any descriptor it inherited (the pipe of a
        // `flint` command another test is running at this moment) would never reach end of file.
        Self.closeFrom3(&actions)
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArguments, environ)
        guard spawned == 0 else { throw ClusterError(description: "cannot start \(argv[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            throw ClusterError(
                description: "\((executable as NSString).lastPathComponent) \(exited ? "exited with \(code)" : "was killed (signal \(status & 0x7f))"): \(output)")
        }
        return output
    }

    /// Adds "close every descriptor from 3 up" to `actions`: glibc's
    /// posix_spawn_file_actions_addclosefrom_np (2.34 and later), looked up at run time because
    /// Swift's Glibc module does not declare it. Without it, a descriptor opened by another thread
    /// at the wrong moment still leaks into the server.
    private static func closeFrom3(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return }
        _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
    }

    /// A loopback port nobody listens on right now.
    public static func freePort() -> Int {
        guard let bound = boundLoopbackSocket() else { return 0 }
        close(bound.fd)
        return bound.port
    }

    /// Clusters left by test processes that died without stopping them.
    static func removeAbandoned() {
        let fm = FileManager.default
        guard let bin = binFolder(), let names = try? fm.contentsOfDirectory(atPath: "/tmp") else { return }
        for name in names where name.hasPrefix("flint-pg-") {
            let folder = "/tmp/" + name
            guard let text = try? String(contentsOfFile: folder + "/owner.pid", encoding: .utf8),
                let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
            else { continue }
            if kill(pid, 0) == 0 || errno != ESRCH { continue }
            _ = try? run(bin + "/pg_ctl", ["-D", folder + "/data", "-m", "immediate", "stop"])
            try? fm.removeItem(atPath: folder)
        }
    }

    private static func stopAtExit(bin: String, folder: String) {
        let first = atExit.withLock { clusters in
            clusters.append((bin, folder))
            return clusters.count == 1
        }
        guard first else { return }
        atexit {
            for (bin, folder) in PostgresTestCluster.atExit.withLock({ $0 }) {
                _ = try? PostgresTestCluster.run(bin + "/pg_ctl", ["-D", folder + "/data", "-m", "immediate", "-w", "stop"])
                try? FileManager.default.removeItem(atPath: folder)
            }
        }
    }

    private static let atExit = LockedValue<[(String, String)]>([])
}

/// A value behind a lock.
final class LockedValue<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

/// A TCP socket bound to a free loopback port, not listening (a connection to it is refused at once),
/// and that port; nil when the system gives none. The caller closes the descriptor.
public func boundLoopbackSocket() -> (fd: Int32, port: Int)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    let named = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    guard bound == 0, named == 0 else {
        close(fd)
        return nil
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}
