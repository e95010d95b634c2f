import FlintCore
import FlintPluginAPI
import FlintRules
import FlintStore
import Foundation
import Testing

/// How the engine learns a user's zone from identify calls and which zone a run reads wall clocks
/// in, through the real engine and each store (docs/rules.md, "How Flint learns a user's zone").
@Suite("The user's zone, learned and ignored")
struct ZoneProfileTests {
    static let now = Timestamp.parse("2026-11-29T18:00:00Z")!
    /// 10:00 in the user's zone: 18:00Z is already Nov 30 03:00 in Tokyo, 19:00 Nov 29 in Paris.
    static let rule = """
        id: morning
        when: { event: Opened }
        send: { campaign_id: c }
        schedule: { at: "10:00" }
        """
    static let tokyo = "2026-11-30T01:00:00Z"
    static let paris = "2026-11-30T09:00:00Z"
    static let utc = "2026-11-30T10:00:00Z"

    /// An engine over a fresh store of `kind`, the rule above installed.
    struct Flint {
        let folder: TemporaryFolder
        let store: any StateStore & LedgerReader
        let engine: Engine

        init(_ kind: StoreKind) async throws {
            folder = try TemporaryFolder()
            store = try await kind.open(in: folder)
            let now = ZoneProfileTests.now
            engine = Engine(store: store, ruleBook: RuleBook(), now: { now })
            let loaded = RuleLoader.load([RuleFile(path: "rules/morning.yaml", text: ZoneProfileTests.rule)])
            try #require(loaded.isValid, "\(loaded.diagnostics)")
            try await engine.install(loaded.ruleSet)
        }

        func submit(_ events: JSONValue...) async throws {
            _ = try await engine.submitAndDecide(events.map { IncomingEvent(value: $0) }, source: "test")
        }

        /// The one run of `user`.
        func run(_ user: String) async throws -> RunRecord {
            let runs = try await store.runs(RunQuery(user: user))
            try #require(runs.count == 1, "runs of \(user): \(runs.map(\.reason))")
            return runs[0]
        }
    }

    static func identify(_ user: String, traits: JSONValue = [:], context: JSONValue = [:], id: String) -> JSONValue {
        ["type": "identify", "userId": .string(user), "messageId": .string(id), "traits": traits, "context": context, "timestamp": "2026-11-29T17:00:00Z"]
    }

    static func opened(_ user: String, context: JSONValue = [:], id: String) -> JSONValue {
        ["event": "Opened", "userId": .string(user), "messageId": .string(id), "context": context, "timestamp": "2026-11-29T18:00:00Z"]
    }

    static func zoneGate(_ run: RunRecord) -> String {
        run.trace.gates.first { $0.name == "zone" }?.detail ?? ""
    }

    @Test("traits.time_zone from identify (Braze's attribute name) places a later event in that zone", arguments: StoreKind.allCases)
    func brazeTrait(kind: StoreKind) async throws {
        let flint = try await Flint(kind)
        try await flint.submit(Self.identify("u-1", traits: ["time_zone": "Asia/Tokyo"], id: "i-1"))
        try await flint.submit(Self.opened("u-1", id: "e-1"))

        let run = try await flint.run("u-1")
        #expect(run.schedule?["time"] == .string(Self.tokyo))
        #expect(run.trace.zone == "Asia/Tokyo")
        #expect(Self.zoneGate(run).contains("user zone Asia/Tokyo (from profile)"))
        #expect(try await flint.store.unknownZones().isEmpty)
    }

    @Test("traits.timezone works too, and a link name such as Asia/Kolkata is a zone", arguments: StoreKind.allCases)
    func timezoneTrait(kind: StoreKind) async throws {
        let flint = try await Flint(kind)
        try await flint.submit(Self.identify("u-1", traits: ["timezone": "Asia/Tokyo"], id: "i-1"), Self.identify("u-2", traits: ["timezone": "Asia/Kolkata"], id: "i-2"))
        try await flint.submit(Self.opened("u-1", id: "e-1"), Self.opened("u-2", id: "e-2"))

        #expect(try await flint.run("u-1").schedule?["time"] == .string(Self.tokyo))
        // 18:00Z is 23:30 in Kolkata; the next 10:00 there is 04:30Z.
        #expect(try await flint.run("u-2").schedule?["time"] == "2026-11-30T04:30:00Z")
    }

    @Test("the identify's context.timezone wins over its traits; the event's context.timezone wins over the profile", arguments: StoreKind.allCases)
    func order(kind: StoreKind) async throws {
        let flint = try await Flint(kind)
        try await flint.submit(
            Self.identify("u-1", traits: ["time_zone": "Asia/Tokyo", "timezone": "America/New_York"], context: ["timezone": "Europe/Paris"], id: "i-1"),
            Self.identify("u-2", traits: ["time_zone": "Asia/Tokyo", "timezone": "Europe/Paris"], id: "i-2"),
            Self.identify("u-3", traits: ["time_zone": "Asia/Tokyo"], id: "i-3"))
        try await flint.submit(Self.opened("u-1", id: "e-1"), Self.opened("u-2", id: "e-2"), Self.opened("u-3", context: ["timezone": "Europe/Paris"], id: "e-3"))

        #expect(try await flint.run("u-1").schedule?["time"] == .string(Self.paris))
        #expect(try await flint.run("u-2").schedule?["time"] == .string(Self.tokyo))
        let u3 = try await flint.run("u-3")
        #expect(u3.schedule?["time"] == .string(Self.paris))
        #expect(Self.zoneGate(u3).contains("user zone Europe/Paris (from context.timezone)"))
    }

    @Test("an event's context.timezone outside the tz database is ignored with a note on the run, and counted", arguments: StoreKind.allCases)
    func unknownEventZone(kind: StoreKind) async throws {
        let flint = try await Flint(kind)
        try await flint.submit(Self.identify("u-1", traits: ["time_zone": "Asia/Tokyo"], id: "i-1"))
        try await flint.submit(
            Self.opened("u-1", context: ["timezone": "Mars/Phobos"], id: "e-1"), Self.opened("u-2", context: ["timezone": "Mars/Phobos"], id: "e-2"))

        let withProfile = try await flint.run("u-1")
        #expect(withProfile.schedule?["time"] == .string(Self.tokyo))
        #expect(Self.zoneGate(withProfile).contains("context.timezone 'Mars/Phobos' is not in the tz database; used Asia/Tokyo (from profile)"))
        let withoutProfile = try await flint.run("u-2")
        #expect(withoutProfile.schedule?["time"] == .string(Self.utc))
        #expect(Self.zoneGate(withoutProfile).contains("context.timezone 'Mars/Phobos' is not in the tz database; used UTC (from default_time_zone)"))
        #expect(withoutProfile.trace.zone == "UTC")

        let counted = try await flint.store.unknownZones()
        #expect(counted.map(\.zone) == ["Mars/Phobos"])
        #expect(counted.first?.runs == 2)
        #expect(counted.first?.lastUser == "u-2")
        #expect(counted.first?.lastSeen == Self.now)
    }

    @Test("a zone from identify that is not in the tz database is noted on the runs that read it, and counted", arguments: StoreKind.allCases)
    func unknownProfileZone(kind: StoreKind) async throws {
        let flint = try await Flint(kind)
        try await flint.submit(Self.identify("u-1", traits: ["time_zone": "Mars/Phobos"], id: "i-1"))
        // No run yet: nothing counted.
        #expect(try await flint.store.unknownZones().isEmpty)
        try await flint.submit(Self.opened("u-1", id: "e-1"))

        let run = try await flint.run("u-1")
        #expect(run.schedule?["time"] == .string(Self.utc))
        #expect(Self.zoneGate(run).contains("the profile's zone 'Mars/Phobos' is not in the tz database; used UTC (from default_time_zone)"))
        #expect(try await flint.store.unknownZones() == [UnknownZoneCount(zone: "Mars/Phobos", runs: 1, lastSeen: Self.now, lastUser: "u-1")])
    }

    @Test("a bad zone in a later identify does not replace a good one; a good one replaces a bad one", arguments: StoreKind.allCases)
    func badDoesNotReplaceGood(kind: StoreKind) async throws {
        let flint = try await Flint(kind)
        try await flint.submit(Self.identify("u-1", traits: ["time_zone": "Asia/Tokyo"], id: "i-1"), Self.identify("u-2", traits: ["time_zone": "Mars/Phobos"], id: "i-2"))
        try await flint.submit(Self.identify("u-1", traits: ["time_zone": "Mars/Phobos"], id: "i-3"), Self.identify("u-2", context: ["timezone": "Europe/Paris"], id: "i-4"))
        try await flint.submit(Self.opened("u-1", id: "e-1"), Self.opened("u-2", id: "e-2"))

        #expect(try await flint.run("u-1").schedule?["time"] == .string(Self.tokyo))
        #expect(try await flint.run("u-2").schedule?["time"] == .string(Self.paris))
        #expect(try await flint.store.unknownZones().isEmpty)
    }
}
