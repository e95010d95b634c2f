import Foundation
import Logging
import PostgresNIO

/// Runs an actor's jobs on one dedicated thread: never a thread of Swift's cooperative pool, never a
/// NIO event loop. The store's transactions are synchronous (`StateStore.write`): each statement
/// blocks this thread on a postgres-nio future (`wait()`), which is allowed here and nowhere else.
final class ThreadExecutor: SerialExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopping = false

    init(name: String) {
        let thread = Thread { [self] in self.loop() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Lets the thread end once the jobs queued so far have run.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedSerialExecutor())
        }
    }
}

/// One PostgreSQL connection, owned by one dedicated thread: everything done with it runs there,
/// one body at a time (`run`). The connection is opened lazily and opened again after it was lost,
/// so a server that restarts costs the statements in flight, not the store.
actor ConnectionWorker {
    private nonisolated let executor: ThreadExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private let url: PostgresURL
    private let logger: Logger
    private let id: Int
    private var session: PGSession?

    init(url: PostgresURL, id: Int, name: String, logger: Logger) {
        self.executor = ThreadExecutor(name: name)
        self.url = url
        self.id = id
        self.logger = logger
    }

    /// Runs `body` in one transaction opened with `begin` (`BEGIN`, or `BEGIN ... READ ONLY`),
    /// committed when it returns and rolled back when it throws. A connection found dead at `BEGIN`
    /// (the server restarted since it was last used) is replaced once: nothing was sent on it yet.
    func transaction<T: Sendable>(_ begin: String, _ body: (PGSession) throws -> T) throws -> T {
        var session = try open()
        do {
            try session.query(begin)
        } catch {
            guard session.isClosed else { throw error }
            self.session = nil
            session = try open()
            try session.query(begin)
        }
        do {
            let result = try body(session)
            try session.query("COMMIT")
            return result
        } catch {
            if session.isClosed {
                self.session = nil
            } else {
                _ = try? session.query("ROLLBACK")
            }
            throw error
        }
    }

    private func open() throws -> PGSession {
        if let session, !session.isClosed { return session }
        let opened = try PGSession.connect(url, id: id, logger: logger)
        session = opened
        return opened
    }

    /// Closes the connection; the next `run` opens another.
    func disconnect() {
        session?.close()
        session = nil
    }

    /// Closes the connection and lets the thread end: nothing may run on this worker afterwards.
    func shutdown() {
        session?.close()
        session = nil
        executor.stop()
    }
}

/// A connection used synchronously: each call sends one statement and blocks the calling thread
/// until the server answered (one round trip). Only ever used on a `ConnectionWorker`'s thread.
final class PGSession: @unchecked Sendable {
    let connection: PostgresConnection
    let url: PostgresURL
    private let logger: Logger

    private init(connection: PostgresConnection, url: PostgresURL, logger: Logger) {
        self.connection = connection
        self.url = url
        self.logger = logger
    }

    static func configuration(_ url: PostgresURL) throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if let folder = url.socketFolder {
            configuration = .init(
                unixSocketPath: folder + "/.s.PGSQL.\(url.port)", username: url.user, password: url.password, database: url.database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch url.sslMode {
            case .disable: tls = .disable
            case .prefer, .require:
                var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
                tlsConfiguration.certificateVerification = .none
                let context = try NIOSSLContext(configuration: tlsConfiguration)
                tls = url.sslMode == .prefer ? .prefer(context) : .require(context)
            case .verifyFull:
                tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            configuration = .init(host: url.host, port: url.port, username: url.user, password: url.password, database: url.database, tls: tls)
        }
        configuration.options.connectTimeout = .seconds(5)
        // What pg_stat_activity shows a DBA for Flint's sessions.
        configuration.options.additionalStartupParameters = [("application_name", "flint")]
        return configuration
    }

    /// Connects, blocking the calling thread (a worker's, or a caller that may block).
    static func connect(_ url: PostgresURL, id: Int, logger: Logger) throws -> PGSession {
        do {
            let connection = try PostgresConnection.connect(
                on: PostgresConnection.defaultEventLoopGroup.any(), configuration: try configuration(url), id: id, logger: logger
            ).wait()
            return PGSession(connection: connection, url: url, logger: logger)
        } catch let error as PostgresStoreError {
            throw error
        } catch {
            throw PostgresStoreError.connecting(url, error)
        }
    }

    var isClosed: Bool { connection.isClosed }

    /// Closes the connection; it stays alive until the close completes (postgres-nio asserts that a
    /// connection is closed before it is released).
    func close() {
        let connection = self.connection
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    /// Runs one statement; `?` marks its parameters, in order (none of the store's SQL has a `?` of
    /// its own). Returns the rows and how many rows the statement changed.
    @discardableResult
    func query(_ sql: String, _ binds: [PGValue] = []) throws -> PGResult {
        var bindings = PostgresBindings(capacity: binds.count)
        for value in binds {
            switch value {
            case .null: bindings.appendNull()
            case .int(let v): bindings.append(v)
            case .double(let v): bindings.append(v)
            case .text(let v): bindings.append(v)
            case .bool(let v): bindings.append(v)
            case .ints(let v): bindings.append(v)
            case .texts(let v): bindings.append(v)
            }
        }
        let query = PostgresQuery(unsafeSQL: binds.isEmpty ? sql : Self.numbered(sql), binds: bindings)
        do {
            let result = try connection.query(query, logger: logger).wait()
            return PGResult(rows: result.rows.map { PGRow(PostgresRandomAccessRow($0), url: url) }, changed: result.metadata.rows ?? 0)
        } catch {
            throw PostgresStoreError.query(url, error)
        }
    }

    /// Statements without parameters, one after the other.
    func execute(_ statements: [String]) throws {
        for statement in statements { try query(statement) }
    }

    /// `?` placeholders as `$1, $2, ...`.
    static func numbered(_ sql: String) -> String {
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var n = 0
        for c in sql {
            if c == "?" {
                n += 1
                out += "$\(n)"
            } else {
                out.append(c)
            }
        }
        return out
    }
}

/// A statement parameter.
enum PGValue: Sendable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case bool(Bool)
    /// An `int8[]`, for `= ANY(?)`.
    case ints([Int64])
    /// A `text[]`, for `= ANY(?)`.
    case texts([String])
}

/// What can be bound as a parameter.
protocol PGBindable {
    var pgValue: PGValue { get }
}

extension Int64: PGBindable { var pgValue: PGValue { .int(self) } }
extension Int: PGBindable { var pgValue: PGValue { .int(Int64(self)) } }
extension Double: PGBindable { var pgValue: PGValue { .double(self) } }
extension String: PGBindable { var pgValue: PGValue { .text(self) } }
extension Bool: PGBindable { var pgValue: PGValue { .bool(self) } }
extension Array: PGBindable where Element == Int64 { var pgValue: PGValue { .ints(self) } }
extension ArraySlice: PGBindable where Element == Int64 { var pgValue: PGValue { .ints(Array(self)) } }
extension Date: PGBindable { var pgValue: PGValue { .double(timeIntervalSince1970) } }
extension Optional: PGBindable where Wrapped: PGBindable {
    var pgValue: PGValue { self?.pgValue ?? .null }
}

/// Builds a parameter list: `binds(a, b, c)`.
func binds(_ values: (any PGBindable)...) -> [PGValue] { values.map(\.pgValue) }

struct PGResult {
    var rows: [PGRow]
    /// Rows inserted, updated or deleted.
    var changed: Int
}

/// A result row, read by column position.
struct PGRow {
    let cells: PostgresRandomAccessRow
    let url: PostgresURL

    init(_ cells: PostgresRandomAccessRow, url: PostgresURL) {
        self.cells = cells
        self.url = url
    }

    private func decode<T: PostgresDecodable>(_ i: Int, _ type: T.Type) throws -> T {
        do {
            return try cells[i].decode(T.self)
        } catch {
            throw PostgresStoreError(.corruptRow, "\(url.location): column \(cells[i].columnName) cannot be read as \(T.self)")
        }
    }

    func isNull(_ i: Int) -> Bool { cells[i].bytes == nil }
    func int64(_ i: Int) throws -> Int64 { try decode(i, Int64.self) }
    func int64OrNil(_ i: Int) throws -> Int64? { isNull(i) ? nil : try int64(i) }
    func int(_ i: Int) throws -> Int { try decode(i, Int.self) }
    func intOrNil(_ i: Int) throws -> Int? { isNull(i) ? nil : try int(i) }
    func double(_ i: Int) throws -> Double { try decode(i, Double.self) }
    func doubleOrNil(_ i: Int) throws -> Double? { isNull(i) ? nil : try double(i) }
    func string(_ i: Int) throws -> String { try decode(i, String.self) }
    func stringOrNil(_ i: Int) throws -> String? { isNull(i) ? nil : try string(i) }
    func bool(_ i: Int) throws -> Bool { try decode(i, Bool.self) }
    func date(_ i: Int) throws -> Date { Date(timeIntervalSince1970: try double(i)) }
    func dateOrNil(_ i: Int) throws -> Date? { try doubleOrNil(i).map { Date(timeIntervalSince1970: $0) } }
}
