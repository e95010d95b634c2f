import FlintPluginAPI
import Logging
import ServiceLifecycle

/// Runs an `EventSource` plugin as a Service that delivers into the engine and stops on graceful
/// shutdown.
public struct SourceService: Service {
    let source: any EventSource
    let sink: any EventSink
    let context: PluginContext

    public init(source: any EventSource, sink: any EventSink, context: PluginContext) {
        self.source = source
        self.sink = sink
        self.context = context
    }

    public func run() async throws {
        if source.handlesGracefulShutdown {
            // The source stops by itself on graceful shutdown: an exec source finishes the batch it
            // is committing, acknowledges it, then closes the plugin's stdin; the webhook answers
            // the requests in flight.
            try await source.run(sink: sink, context: context)
            return
        }
        try await cancelWhenGracefulShutdown {
            try await source.run(sink: sink, context: context)
        }
    }
}
