import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Synchronization

extension BrazeClient {
    /// What one exchange produced, complete or not.
    struct Exchange: Sendable {
        /// `didSendRequest` fired: the request's last byte was written to the socket.
        var requestWritten = false
        var head: HTTPResponseHead?
        var body: [UInt8] = []
    }

    /// Collects the response and records, on the channel's event loop, whether the request was fully
    /// written. Errors that arrive after `didSendRequest` are therefore known to be "after write".
    ///
    /// The client runs each request with `.delegateAndChannel(on:)`, so this delegate, the deadline
    /// timer and the channel share one event loop: the write completion that fires `didSendRequest`
    /// cannot be overtaken by the deadline or by a close event.
    final class Collector: HTTPClientResponseDelegate, Sendable {
        typealias Response = Exchange

        /// Braze's answers are small; anything longer is cut (the ids come first anyway).
        static let maxBodyBytes = 256 * 1024

        private let state = Mutex(Exchange())

        /// The exchange so far: read after a failure to learn how far the request got.
        var snapshot: Exchange { state.withLock { $0 } }

        func didSendRequest(task: HTTPClient.Task<Exchange>) {
            state.withLock { $0.requestWritten = true }
        }

        func didReceiveHead(task: HTTPClient.Task<Exchange>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
            state.withLock { $0.head = head }
            return task.eventLoop.makeSucceededVoidFuture()
        }

        func didReceiveBodyPart(task: HTTPClient.Task<Exchange>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
            state.withLock {
                let room = Self.maxBodyBytes - $0.body.count
                if room > 0 { $0.body.append(contentsOf: buffer.readableBytesView.prefix(room)) }
            }
            return task.eventLoop.makeSucceededVoidFuture()
        }

        func didFinishRequest(task: HTTPClient.Task<Exchange>) throws -> Exchange {
            snapshot
        }
    }
}
