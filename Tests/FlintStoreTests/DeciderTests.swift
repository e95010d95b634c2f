import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import Foundation
import Synchronization
import Testing

/// The decide stage (docs/architecture.md, The pipeline): accept only appends; the decider consumes
/// the log in commit order, in batches, from a durable position, on every store.
@Suite("Deciding: the ordered consumer of the event log")
struct DeciderTests {
    static let now = Timestamp.parse("2026-11-29T18:00:00Z")!

    static let cart = """
        id: cart
        when: { event: Cart Abandoned }
        send: { campaign_id: c-1 }
        schedule: { after: 2h }
        cancel_on:
          - event: Order Completed
        """
    static let opened = """
        id: opened
        when: { event: Opened }
        send: { campaign_id: c-2 }
        schedule: { at: "10:00" }
        """
    static let once = """
        id: once
        when: { event: Visited }
        send: { campaign_id: c-3 }
        limit:
          once_per: { key: "{{ userId }}", within: 7d }
        """
    static let capped = """
        id: capped
        when: { event: Bought }
        send: { campaign_id: c-4 }
        limit:
          max_sends: { count: 3, per: 1h }
        """

    /// An engine over `store`, the rules installed, counting decided batches.
    struct Flint {
        let store: any StateStore & LedgerReader
        let engine: Engine
        let counter: BatchCounter
        var batches: Int { counter.value.withLock { $0 } }

        init(
            _ store: any StateStore & LedgerReader, rules yaml: [String] = [DeciderTests.cart], batchSize: Int = 1000,
            limits: Engine.AcceptLimits = Engine.AcceptLimits()
        ) async throws {
            self.store = store
            let counter = BatchCounter()
            self.counter = counter
            let now = DeciderTests.now
            engine = Engine(
                store: store, ruleBook: RuleBook(), now: { now }, limits: limits, decide: Decider.Settings(batchSize: batchSize),
                onCommit: { counter.value.withLock { $0 += 1 } })
            let files = yaml.enumerated().map { RuleFile(path: "rules/r\($0.offset).yaml", text: $0.element) }
            let loaded = RuleLoader.load(files)
            try #require(loaded.isValid, "\(loaded.diagnostics)")
            try await engine.install(loaded.ruleSet)
        }

        @discardableResult
        func accept(_ events: [JSONValue]) async throws -> SubmitReceipt {
            try await engine.submit(events.map { IncomingEvent(value: $0) }, source: "test")
        }

        func runs() async throws -> [RunRecord] {
            try await store.runs(RunQuery(limit: 10_000))
        }
    }

    static func track(_ name: String, id: String, user: String = "u-1", at: String = "2026-11-29T18:00:00Z", context: JSONValue = [:]) -> JSONValue {
        ["event": .string(name), "messageId": .string(id), "userId": .string(user), "timestamp": .string(at), "context": context]
    }

    static func identify(_ user: String, zone: String, id: String) -> JSONValue {
        ["type": "identify", "userId": .string(user), "messageId": .string(id), "traits": ["time_zone": .string(zone)], "timestamp": "2026-11-29T17:00:00Z"]
    }

    /// Runs per (event seq, rule): each must be exactly 1.
    static func runsPerDecision(_ runs: [RunRecord]) -> [String: Int] {
        runs.reduce(into: [:]) { $0["\($1.eventSeq)|\($1.ruleId)", default: 0] += 1 }
    }

    @Test("accepting does not decide; the decider then decides in commit order, in batches", arguments: StoreKind.allCases)
    func commitOrderInBatches(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let flint = try await Flint(try kind.open(in: folder), batchSize: 3)

        // When 10 events are accepted and nothing decides yet
        let receipt = try await flint.accept((0..<10).map { Self.track("Cart Abandoned", id: "m-\($0)", user: "u-\($0)") })
        #expect(receipt.accepted == 10)
        #expect(try await flint.runs().isEmpty)
        var status = try await flint.store.status()
        #expect(status.decisionBacklog == 10)
        #expect(status.oldestUndecidedAt == Self.now)

        // Then deciding covers them in 4 batches of at most 3, runs in the events' order
        try await flint.engine.decideAccepted()
        let runs = try await flint.runs().sorted { $0.id < $1.id }
        #expect(runs.map(\.eventId) == (0..<10).map { "m-\($0)" })
        #expect(runs.map(\.eventSeq) == Array(1...10))
        #expect(flint.batches == 4)
        status = try await flint.store.status()
        #expect(status.decisionBacklog == 0 && status.oldestUndecidedAt == nil)
        #expect(flint.engine.decider.decidedThrough == 10)
    }

    @Test("after a restart, deciding resumes from the durable position: nothing twice, nothing skipped")
    func resumesFromPosition() async throws {
        let folder = try TemporaryFolder()
        let first = try await Flint(try SQLiteStateStore(path: folder.path()))
        try await first.accept((0..<3).map { Self.track("Cart Abandoned", id: "a-\($0)", user: "u-\($0)") })
        try await first.engine.decideAccepted()
        // Accepted, then the process "dies" before deciding these.
        try await first.accept((0..<4).map { Self.track("Cart Abandoned", id: "b-\($0)", user: "v-\($0)") })
        #expect(try await first.runs().count == 3)

        // A new process on the same file reads them back from the log and decides them once
        let second = try await Flint(try SQLiteStateStore(path: folder.path()), batchSize: 2)
        #expect(try await second.store.status().decisionBacklog == 4)
        try await second.engine.decideAccepted()
        let runs = try await second.runs()
        #expect(runs.count == 7)
        #expect(Self.runsPerDecision(runs).values.allSatisfy { $0 == 1 })
        #expect(Set(runs.map(\.eventId)) == Set((0..<3).map { "a-\($0)" } + (0..<4).map { "b-\($0)" }))
        #expect(try await second.store.status().decisionBacklog == 0)
    }

    @Test("a decider skips what another decider on the same file already decided")
    func twoDecidersOneFile() async throws {
        let folder = try TemporaryFolder()
        // Two processes on one SQLite file (flint serve and flint ingest): two stores, two engines.
        let serve = try await Flint(try SQLiteStateStore(path: folder.path()), batchSize: 7)
        let ingest = try await Flint(try SQLiteStateStore(path: folder.path()), batchSize: 5)
        try await serve.accept((0..<20).map { Self.track("Cart Abandoned", id: "s-\($0)", user: "s-\($0)") })
        try await ingest.accept((0..<30).map { Self.track("Cart Abandoned", id: "i-\($0)", user: "i-\($0)") })

        // When the second decides everything first (reading serve's events back from the log)
        try await ingest.engine.decideAccepted()
        #expect(try await ingest.runs().count == 50)
        // Then serve's decider, holding its own 20 in memory, skips them
        try await serve.engine.decideAccepted()
        #expect(try await serve.runs().count == 50)

        // And both deciding at once over more events still decides each once
        try await serve.accept((20..<60).map { Self.track("Cart Abandoned", id: "s-\($0)", user: "s-\($0)") })
        try await ingest.accept((30..<90).map { Self.track("Cart Abandoned", id: "i-\($0)", user: "i-\($0)") })
        async let a: Void = serve.engine.decideAccepted()
        async let b: Void = ingest.engine.decideAccepted()
        _ = try await (a, b)
        let runs = try await serve.runs()
        #expect(runs.count == 150)
        #expect(Self.runsPerDecision(runs).values.allSatisfy { $0 == 1 })
        #expect(try await serve.store.status().decisionBacklog == 0)
    }

    @Test("an identify earlier in the batch is seen by the same user's later events", arguments: StoreKind.allCases)
    func identifyThenTrackInOneBatch(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let flint = try await Flint(try kind.open(in: folder), rules: [Self.opened])
        // u-1 had a profile in Paris, decided before
        try await flint.accept([Self.identify("u-1", zone: "Europe/Paris", id: "i-0")])
        try await flint.engine.decideAccepted()

        // When one batch holds: Opened (Paris), identify Tokyo, Opened (Tokyo), and u-2's Opened (no profile)
        try await flint.accept([
            Self.track("Opened", id: "e-1"), Self.identify("u-1", zone: "Asia/Tokyo", id: "i-1"), Self.track("Opened", id: "e-2"),
            Self.track("Opened", id: "e-3", user: "u-2"),
        ])
        try await flint.engine.decideAccepted()

        // Then each run reads 10:00 in the zone the profile had at that point of the log
        let runs = Dictionary(uniqueKeysWithValues: try await flint.runs().map { ($0.eventId, $0) })
        #expect(runs["e-1"]?.sendAt == Timestamp.parse("2026-11-30T09:00:00Z"))
        #expect(runs["e-2"]?.sendAt == Timestamp.parse("2026-11-30T01:00:00Z"))
        #expect(runs["e-3"]?.sendAt == Timestamp.parse("2026-11-30T10:00:00Z"))
    }

    @Test("once_per holds within a batch and across batches", arguments: StoreKind.allCases)
    func oncePerAcrossBatches(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let flint = try await Flint(try kind.open(in: folder), rules: [Self.once], batchSize: 2)
        // 5 visits of u-1 (batches of 2: within and across), 1 of u-2
        try await flint.accept((0..<5).map { Self.track("Visited", id: "v-\($0)", at: "2026-11-29T1\($0):00:00Z") } + [Self.track("Visited", id: "w-0", user: "u-2")])
        try await flint.engine.decideAccepted()
        let runs = try await flint.runs()
        #expect(runs.filter { $0.user == "u-1" && $0.status == .pending }.map(\.eventId) == ["v-0"])
        #expect(runs.filter { $0.user == "u-1" && $0.status == .skipped }.count == 4)
        #expect(runs.filter { $0.user == "u-2" }.map(\.status) == [.pending])
    }

    @Test("max_sends holds within a batch and across batches", arguments: StoreKind.allCases)
    func maxSendsAcrossBatches(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let flint = try await Flint(try kind.open(in: folder), rules: [Self.capped], batchSize: 2)
        try await flint.accept((0..<7).map { Self.track("Bought", id: "b-\($0)", user: "u-\($0)") })
        try await flint.engine.decideAccepted()
        let runs = try await flint.runs().sorted { $0.id < $1.id }
        #expect(runs.map(\.status) == [.pending, .pending, .pending, .skipped, .skipped, .skipped, .skipped])
        #expect(runs[3].reason.contains("max_sends") == true)
    }

    @Test("cancel_on cancels a run planned earlier in the same batch", arguments: StoreKind.allCases)
    func cancelWithinBatch(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let flint = try await Flint(try kind.open(in: folder))
        try await flint.accept([
            Self.track("Cart Abandoned", id: "c-1"), Self.track("Cart Abandoned", id: "c-2", user: "u-2"),
            Self.track("Order Completed", id: "o-1"),
        ])
        try await flint.engine.decideAccepted()
        let runs = Dictionary(uniqueKeysWithValues: try await flint.runs().map { ($0.eventId, $0) })
        #expect(runs["c-1"]?.status == .cancelled)
        #expect(runs["c-1"]?.reason.contains("o-1") == true)
        #expect(runs["c-2"]?.status == .pending)
        #expect(try await flint.store.status().outboxPending == 1)
    }

    @Test("accept is bounded: past the undecided backlog, submit says SinkUnavailable until deciding catches up", arguments: StoreKind.allCases)
    func acceptBounded(kind: StoreKind) async throws {
        let folder = try TemporaryFolder()
        let flint = try await Flint(try kind.open(in: folder), limits: Engine.AcceptLimits(undecidedEvents: 5, retryAfterSeconds: 3))
        // The decider is not started: 5 events fit
        try await flint.accept((0..<5).map { Self.track("Cart Abandoned", id: "m-\($0)", user: "u-\($0)") })
        // The 6th does not, and nothing of it is stored
        let refused = await #expect(throws: SinkUnavailable.self) {
            try await flint.accept([Self.track("Cart Abandoned", id: "m-5", user: "u-5")])
        }
        #expect(refused?.retryAfterSeconds == 3)
        #expect(refused?.reason.contains("not decided") == true)
        #expect(try await flint.store.status().events == 5)

        // Once deciding catches up, it is taken
        try await flint.engine.decideAccepted()
        #expect(try await flint.accept([Self.track("Cart Abandoned", id: "m-5", user: "u-5")]).accepted == 1)
    }

    @Test("a restarted process counts the backlog it finds in the log against the bound")
    func boundCountsLeftoverBacklog() async throws {
        let folder = try TemporaryFolder()
        let first = try await Flint(try SQLiteStateStore(path: folder.path()))
        try await first.accept((0..<4).map { Self.track("Cart Abandoned", id: "m-\($0)", user: "u-\($0)") })
        let second = try await Flint(try SQLiteStateStore(path: folder.path()), limits: Engine.AcceptLimits(undecidedEvents: 5))
        try await second.accept([Self.track("Cart Abandoned", id: "n-0")])
        await #expect(throws: SinkUnavailable.self) { try await second.accept([Self.track("Cart Abandoned", id: "n-1")]) }
    }

    @Test("the decider service wakes on accept and resumes waiters; flint-style wait for a position")
    func serviceWakesOnAccept() async throws {
        let folder = try TemporaryFolder()
        let flint = try await Flint(try SQLiteStateStore(path: folder.path()))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await flint.engine.decider.run() }
            for round in 0..<5 {
                try await flint.accept((0..<50).map { Self.track("Cart Abandoned", id: "r\(round)-\($0)", user: "u-\(round)-\($0)") })
                try await flint.engine.waitUntilDecided(through: flint.engine.decider.lastAccepted)
            }
            group.cancelAll()
        }
        let runs = try await flint.runs()
        #expect(runs.count == 250)
        #expect(Self.runsPerDecision(runs).values.allSatisfy { $0 == 1 })
    }
}

final class BatchCounter: Sendable {
    let value = Mutex(0)
}
