import FlintPluginAPI
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The HTTP shell: reads requests into `SandboxRequest`s and turns `SandboxAction`s into answers,
/// silences or closed connections. The decisions live in `SandboxState` and `SandboxValidator`.
extension BrazeSandbox {
    /// Control endpoints beside the Braze ones.
    public static let callsPath = "/_sandbox/calls"
    public static let schedulesPath = "/_sandbox/schedules"
    public static let faultsPath = "/_sandbox/faults"

    /// Adds the Braze endpoints and the `/_sandbox/` control endpoints to `router`:
    ///
    /// - `POST` each `SandboxEndpoint` path;
    /// - `GET /_sandbox/calls[?path=...]`, `DELETE /_sandbox/calls`;
    /// - `GET /_sandbox/schedules`;
    /// - `GET`, `POST` (a fault, an array, or `{"faults": [...]}`), `DELETE /_sandbox/faults`.
    ///
    /// A `drop` fault closes the connection without an answer when the router's context is a
    /// `SandboxChannelContext` (as `makeApplication`'s is); on another context it can only cut the
    /// answer after its head.
    public func addRoutes<Methods: RouterMethods>(to router: Methods) {
        for endpoint in SandboxEndpoint.allCases {
            router.post(RouterPath(stringLiteral: endpoint.path)) { request, context -> Response in
                await self.respond(to: request, context: context, endpoint: endpoint)
            }
        }
        router.get(RouterPath(stringLiteral: Self.callsPath)) { request, _ -> Response in
            let path = request.uri.queryParameters.get("path")
            return SandboxReply.json(.array(self.calls(path: path).map(\.json))).response
        }
        router.delete(RouterPath(stringLiteral: Self.callsPath)) { _, _ -> Response in
            let cleared = self.state.withLock { state in
                let count = state.calls.count
                state.calls.removeAll()
                return count
            }
            return SandboxReply.json(["cleared": .number(Double(cleared))]).response
        }
        router.get(RouterPath(stringLiteral: Self.schedulesPath)) { _, _ -> Response in
            SandboxReply.json(.array(self.schedules().map(\.json))).response
        }
        router.get(RouterPath(stringLiteral: Self.faultsPath)) { _, _ -> Response in
            self.faultListing().response
        }
        router.post(RouterPath(stringLiteral: Self.faultsPath)) { request, _ -> Response in
            await self.addFaults(from: request).response
        }
        router.delete(RouterPath(stringLiteral: Self.faultsPath)) { _, _ -> Response in
            self.clearFaults()
            return self.faultListing().response
        }
    }

    func respond<Context: RequestContext>(to request: Request, context: Context, endpoint: SandboxEndpoint) async -> Response {
        var headers: [String: String] = [:]
        for field in request.headers {
            let name = field.name.canonicalName
            let value = field.name == .authorization ? SandboxCall.redacted(authorization: field.value) : field.value
            headers[name] = headers[name].map { $0 + ", " + value } ?? value
        }
        var call = SandboxRequest(
            method: request.method.rawValue, endpoint: endpoint, headers: headers, authorization: request.headers[.authorization],
            body: [])
        let limit = configuration.maxBodyBytes
        let tooLarge = (status: 413, message: "the request body is larger than \(limit) bytes")
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            call.bodyProblem = tooLarge
        } else {
            do {
                let buffer = try await request.body.collect(upTo: limit)
                call.body = Array(buffer.readableBytesView)
            } catch is NIOTooManyBytesError {
                call.bodyProblem = tooLarge
            } catch {
                call.bodyProblem = (status: 400, message: "the request body could not be read")
            }
        }

        switch await handle(call) {
        case .answer(let reply):
            return reply.response
        case .drop:
            return await Self.dropConnection(context: context)
        case .hang:
            await hold()
            return await Self.dropConnection(context: context)
        }
    }

    /// Closes the connection so the client gets no answer at all. Without the channel (a context
    /// other than `SandboxChannelContext`) the head goes out and the body fails, which also closes
    /// the connection.
    static func dropConnection<Context: RequestContext>(context: Context) async -> Response {
        if let channel = (context as? any SandboxChannelContext)?.channel {
            try? await channel.close()
            // Writing this fails on the closed channel; Hummingbird then gives up on the connection.
            return Response(status: .internalServerError)
        }
        return Response(
            status: .internalServerError,
            body: ResponseBody { _ in throw SandboxConnectionDropped() })
    }

    func faultListing() -> SandboxReply {
        SandboxReply.json(["faults": .array(faults().map(\.json))])
    }

    func addFaults(from request: Request) async -> SandboxReply {
        let document: JSONValue
        do {
            let buffer = try await request.body.collect(upTo: 1 << 20)
            document = try JSONParser.parse(Array(buffer.readableBytesView))
        } catch let error as JSONParseError {
            return .error(400, "invalid JSON: \(error.description)")
        } catch {
            return .error(400, "the request body could not be read (at most 1 MiB)")
        }
        switch SandboxFault.list(from: document) {
        case .success(let faults):
            for fault in faults { inject(fault) }
            return SandboxReply.json(["faults": .array(self.faults().map(\.json))], status: 201)
        case .failure(let error):
            return .error(400, error.message)
        }
    }
}

/// Thrown by a response body to cut the connection.
struct SandboxConnectionDropped: Error {}
