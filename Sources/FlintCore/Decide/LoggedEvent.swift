import FlintPluginAPI
import Foundation

/// One accepted event as the decider takes it: its place in the log (commit order) and the event,
/// decoded. Handed over in memory from accept, or read back from the events table when catching up.
public struct LoggedEvent: Sendable {
    public var seq: Int64
    public var event: Event
    public var receivedAt: Date

    public init(seq: Int64, event: Event, receivedAt: Date) {
        self.seq = seq
        self.event = event
        self.receivedAt = receivedAt
    }
}

/// Where deciding stands in a store.
public struct DecideProgress: Sendable, Hashable {
    /// Every event up to this sequence number is decided.
    public var decidedThrough: Int64
    /// The last accepted event's sequence number (0 when there is none).
    public var lastAccepted: Int64

    public init(decidedThrough: Int64, lastAccepted: Int64) {
        self.decidedThrough = decidedThrough
        self.lastAccepted = lastAccepted
    }

    /// Events accepted but not decided.
    public var backlog: Int64 { max(0, lastAccepted - decidedThrough) }
}
