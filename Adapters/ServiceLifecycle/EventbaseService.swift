public import EventbaseCore
public import ServiceLifecycle

/// Runs an ``Eventbase`` instance as a swift-service-lifecycle `Service`.
///
/// `run()` runs the instance's background work (``Eventbase/run()``: following the log, purges,
/// stats, companions) in the service group's task until the group shuts down. On a graceful
/// shutdown it calls ``Eventbase/closeGracefully()``: new writes are refused, writes in flight
/// finish, then the instance closes (a durable state store writes its final snapshot; the
/// connection is closed). On cancellation it closes at once (writes in flight fail with `.closed`).
///
/// ```swift
/// let eventbase = try await Eventbase.builder(streamName: "todos").nats(options).buildUnstarted()
/// let group = ServiceGroup(
///     services: [EventbaseService(eventbase), httpServer],
///     gracefulShutdownSignals: [.sigterm, .sigint],
///     logger: logger)
/// try await group.run()
/// ```
///
/// Build the instance with `buildUnstarted()` so that its background work belongs to the group;
/// an instance from `build()` runs it in a task of its own, and the service then only closes it.
/// Put the service before the services that use the instance: a service group shuts its services
/// down in reverse order, so the HTTP server stops taking requests before the database closes.
public struct EventbaseService: Service {
    /// The instance this service runs.
    public let eventbase: Eventbase

    /// Creates a service for `eventbase` (open already: build it first, so a failed open stops
    /// the program before the group starts).
    public init(_ eventbase: Eventbase) {
        self.eventbase = eventbase
    }

    /// Runs the instance's background work until the group's graceful shutdown, then closes the
    /// instance gracefully and returns once it has closed; on cancellation, closes it at once.
    public func run() async throws {
        let eventbase = self.eventbase
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await eventbase.run() }
            do {
                try await gracefulShutdown()
                await eventbase.closeGracefully()
            } catch {
                await eventbase.close()
            }
            await group.waitForAll()
        }
    }
}
