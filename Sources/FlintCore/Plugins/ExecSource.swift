import FlintPluginAPI
import Foundation
import Logging
import Metrics

/// An event source in another language: a child process that writes `event` lines and gets an
/// `ack` for each once the engine has committed it (or has rejected it for good).
///
/// Guarantee: an event is acknowledged `ok: true` only after `EventSink.submit` returned, so it is in
/// the store. A plugin resends what was not acknowledged when it starts again; the engine drops the
/// copies of what was committed (by `messageId`, or by `<plugin>:<ack>` when the event has none).
public final class ExecSource: EventSource, Sendable {
    public var name: String { supervisor.spec.name }
    /// It finishes the batch it is committing, acknowledges it, then closes the plugin's stdin.
    public var handlesGracefulShutdown: Bool { true }
    public let supervisor: ExecSupervisor
    /// Events handed to the engine in one commit at most.
    let maxBatch: Int

    public init(spec: ExecPluginSpec, board: PluginBoard, logger: Logger, maxBatch: Int = 500) {
        precondition(spec.kind == .source, "an ExecSource needs a source spec")
        supervisor = ExecSupervisor(spec: spec, board: board, logger: logger)
        self.maxBatch = maxBatch
    }

    public func run(sink: any EventSink, context: PluginContext) async throws {
        let name = self.name
        let board = supervisor.board
        let logger = supervisor.logger
        let maxBatch = self.maxBatch
        await supervisor.run { channel in
            while let batch = await channel.nextBatch(max: maxBatch) {
                if channel.unwrittenLines > ExecProtocol.maxUnwrittenLines {
                    throw ExecProtocolViolation("the plugin has not read its stdin: \(channel.unwrittenLines) acks are waiting to be written")
                }
                var events: [IncomingEvent] = []
                var acks: [String] = []
                for message in batch {
                    guard case .event(let ack, let event) = message else {
                        throw ExecProtocolViolation("a source plugin sent \(message.typeName); a source sends only events")
                    }
                    events.append(IncomingEvent(value: event, fallbackMessageId: "\(name):\(ack)"))
                    acks.append(ack)
                }
                do {
                    let receipt = try await sink.submit(events, source: name)
                    var rejected: [Int: String] = [:]
                    for r in receipt.rejected { rejected[r.index] = r.errors.joined(separator: "; ") }
                    for (index, ack) in acks.enumerated() {
                        if let why = rejected[index] {
                            channel.send(ExecProtocol.ack(ack, ok: false, retryable: false, error: "rejected: \(why)"))
                        } else {
                            channel.send(ExecProtocol.ack(ack, ok: true))
                        }
                    }
                    board.update(name) { $0.handled += receipt.accepted }
                    Counter(label: "flint_plugin_events_total", dimensions: [("plugin", name), ("outcome", "accepted")]).increment(by: receipt.accepted)
                    if !receipt.rejected.isEmpty {
                        Counter(label: "flint_plugin_events_total", dimensions: [("plugin", name), ("outcome", "rejected")]).increment(by: receipt.rejected.count)
                    }
                    if receipt.duplicates > 0 {
                        Counter(label: "flint_plugin_events_total", dimensions: [("plugin", name), ("outcome", "duplicate")]).increment(by: receipt.duplicates)
                    }
                } catch {
                    // Nothing was committed: tell the plugin to send these again later.
                    for ack in acks { channel.send(ExecProtocol.ack(ack, ok: false, retryable: true, error: "not taken: \(error)")) }
                    board.update(name) { s in
                        s.lastError = "events not taken: \(error)"
                        s.lastErrorAt = Date()
                    }
                    logger.warning("events from the plugin could not be committed; told it to resend them", metadata: ["error": "\(error)", "events": "\(acks.count)"])
                }
            }
        }
    }
}
