import FlintCore
import FlintPluginAPI
import FlintPostgres
import FlintTesting
import Foundation
import Synchronization
import Testing

@Suite("postgres:// URLs")
struct PostgresURLTests {
    @Test("a URL gives user, password (percent-decoded), host, port, database and sslmode")
    func parses() throws {
        let url = try PostgresURL(parsing: "postgres://flint:p%40ss%3Aw%2Frd@db.internal:6432/ledger?sslmode=require")
        #expect(url.user == "flint")
        #expect(url.password == "p@ss:w/rd")
        #expect(url.host == "db.internal")
        #expect(url.port == 6432)
        #expect(url.database == "ledger")
        #expect(url.sslMode == .require)
        #expect(url.description == "postgres://flint@db.internal:6432/ledger")
        #expect(!url.description.contains("p@ss") && !url.location.contains("p@ss"))

        let plain = try PostgresURL(parsing: "postgresql://app@localhost/flint")
        #expect(plain.port == 5432 && plain.password == nil && plain.sslMode == .prefer)
        let socket = try PostgresURL(parsing: "postgres://app@/flint?host=/var/run/postgresql")
        #expect(socket.socketFolder == "/var/run/postgresql")
    }

    @Test("a URL that does not parse is refused with a message that names the problem and hides the password")
    func refuses() {
        for (text, problem) in [
            ("postgres://flint:hunter2@host:5432", "names no database"),
            ("postgres://:hunter2@host/db", "names no user"),
            ("postgres://flint:hunter2@host/db?sslmode=sometimes", "sslmode=sometimes"),
            ("postgres://flint:hunter2@host/db?pool=3", "unknown parameter 'pool'"),
        ] {
            #expect {
                try PostgresURL(parsing: text)
            } throws: { error in
                let message = "\(error)"
                return message.contains(problem) && !message.contains("hunter2") && message.contains("***")
            }
        }
    }

    @Test("redact hides the password of a postgres:// URL and leaves file paths alone")
    func redacts() {
        #expect(PostgresURL.redact("postgres://flint:s3cret@h:5432/db") == "postgres://flint:***@h:5432/db")
        #expect(PostgresURL.redact("postgresql://flint:s%40cret@h/db?sslmode=disable") == "postgresql://flint:***@h/db?sslmode=disable")
        #expect(PostgresURL.redact("postgres://flint@h/db") == "postgres://flint@h/db")
        #expect(PostgresURL.redact("/var/lib/flint/flint.db") == "/var/lib/flint/flint.db")
        #expect(PostgresURL.isPostgres("POSTGRES://x@h/db") && !PostgresURL.isPostgres("flint.db"))
    }
}

@Suite(
    "The PostgreSQL store", .enabled(if: PostgresTestCluster.skipReason == nil, Comment(rawValue: PostgresTestCluster.skipReason ?? "")))
struct PostgresStoreTests {
    func freshURL() async throws -> PostgresURL {
        try await PostgresURL(parsing: PostgresTestCluster.shared().makeDatabase())
    }

    @Test("stores opened at the same moment on a new database: the migrations run once, under the advisory lock")
    func migrationsRunOnce() async throws {
        let url = try await freshURL()
        let stores = try await withThrowingTaskGroup(of: PostgresStateStore.self) { group in
            for _ in 0..<4 { group.addTask { try await PostgresStateStore.open(url) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(stores.count == 4)
        let name = url.database
        let applied = try await PostgresTestCluster.shared().psql(name, "SELECT count(*) FROM flint_migrations")
        #expect(applied.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        // Any of them writes, any reads.
        let seq = try await stores[2].write { tx in try tx.insertEvent(Fixture.event("m-1"), source: "test", receivedAt: Fixture.t0) }
        #expect(seq == 1)
        #expect(try await stores[0].event(id: "m-1")?.seq == 1)
    }

    @Test("a read-only open of a database without Flint's tables says to ingest or serve first")
    func readOnlyEmpty() async throws {
        let url = try await freshURL()
        await #expect {
            try await PostgresStateStore.open(url, readOnly: true)
        } throws: { error in
            "\(error)".contains("no Flint database at 127.0.0.1:\(url.port), database \(url.database)") && "\(error)".contains("flint ingest")
        }
    }

    @Test("a wrong password is one message naming host, port, database and user, never the password")
    func wrongPassword() async throws {
        var url = try await freshURL()
        url.password = "wrong-s3cret"
        await #expect {
            try await PostgresStateStore.open(url)
        } throws: { error in
            let message = "\(error)"
            return message.contains("127.0.0.1:\(url.port), database \(url.database)") && message.contains("refused user flint")
                && !message.contains("wrong-s3cret") && (error as? PostgresStoreError)?.isUnavailable == true
        }
    }

    @Test("after the server drops its connections (a restart, a failover), the next write and read succeed on new ones")
    func reconnects() async throws {
        let url = try await freshURL()
        let store = try await PostgresStateStore.open(url)
        _ = try await store.write { tx in try tx.insertEvent(Fixture.event("m-1"), source: "test", receivedAt: Fixture.t0) }
        #expect(try await store.decideProgress().lastAccepted == 1)

        // When the server ends every session of the database (a restart, a failover)
        let cluster = try await PostgresTestCluster.shared()
        try await cluster.psql("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(url.database)'")
        // pg_terminate_backend only signals: wait until the sessions are gone, so the write below
        // meets a closed connection rather than one that closes under it mid-transaction.
        var gone = false
        let deadline = ContinuousClock.now + .seconds(10)
        while !gone, ContinuousClock.now < deadline {
            let left = try await cluster.psql("postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = '\(url.database)'")
            gone = left.trimmingCharacters(in: .whitespacesAndNewlines) == "0"
            if !gone { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(gone, "the server ended the store's sessions")

        // Then the next write finds its connection dead before sending anything, and opens another
        let seq = try await store.write { tx in try tx.insertEvent(Fixture.event("m-2"), source: "test", receivedAt: Fixture.t0) }
        #expect(seq == 2)
        #expect(try await store.status().events == 2)
        #expect(try await store.event(id: "m-2")?.seq == 2)
    }

    @Test("events accepted by two stores at once keep seq in commit order, with no duplicate accepted twice")
    func twoWriters() async throws {
        let url = try await freshURL()
        let a = try await PostgresStateStore.open(url)
        let b = try await PostgresStateStore.open(url)
        async let fromA: [Int64?] = a.write { tx in try (0..<200).map { try tx.insertEvent(Fixture.event("m-\($0)"), source: "a", receivedAt: Fixture.t0) } }
        async let fromB: [Int64?] = b.write { tx in try (100..<300).map { try tx.insertEvent(Fixture.event("m-\($0)"), source: "b", receivedAt: Fixture.t0) } }
        let (seqsA, seqsB) = try await (fromA, fromB)
        let accepted = (seqsA + seqsB).compactMap { $0 }
        #expect(accepted.count == 300, "each messageId accepted once")
        #expect(Set(accepted).count == 300)
        #expect(try await a.status().events == 300)
    }

    @Test("two processes deciding at once take turns: the second reads the position the first committed, never decides its events again")
    func decidersTakeTurns() async throws {
        let cluster = try await PostgresTestCluster.shared()
        let url = try await freshURL()
        let a = try await PostgresStateStore.open(url)
        let b = try await PostgresStateStore.open(url)
        let aRead = Mutex(false)

        // a reads the position and holds it until b's read of it waits on a
        let first = Task {
            try await a.write { tx -> Bool in
                _ = try tx.decidedThrough()
                aRead.withLock { $0 = true }
                var bWaited = false
                let deadline = Date().addingTimeInterval(10)
                while !bWaited && Date() < deadline {
                    let waiting = try cluster.psql(
                        url.database, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
                    bWaited = waiting.trimmingCharacters(in: .whitespacesAndNewlines) == "1"
                }
                try tx.setDecidedThrough(5, at: Fixture.t0)
                return bWaited
            }
        }
        #expect(await waitUntil { aRead.withLock { $0 } })
        let seen = try await b.write { tx in try tx.decidedThrough() }
        #expect(try await first.value, "b waited for a's transaction")
        #expect(seen == 5)
    }
}
