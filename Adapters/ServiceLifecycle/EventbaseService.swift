public import EventbaseCore
public import ServiceLifecycle

/// Runs an ``Eventbase`` instance as a swift-service-lifecycle `Service`.
///
/// `run()` keeps the instance open until the service group shuts down. On a graceful shutdown it
/// calls ``Eventbase/closeGracefully()``: new writes are refused, writes in flight finish, then the
/// instance closes (a durable state store writes its final snapshot; the connection is closed).
/// On cancellation it closes at once (writes in flight fail with `.closed`).
///
/// ```swift
/// let eventbase = try await Eventbase.builder(streamName: "todos").nats(options).build()
/// let group = ServiceGroup(
///     services: [EventbaseService(eventbase), httpServer],
///     gracefulShutdownSignals: [.sigterm, .sigint],
///     logger: logger)
/// try await group.run()
/// ```
///
/// Put it before the services that use the instance: a service group shuts its services down in
/// reverse order, so the HTTP server stops taking requests before the database closes.
public struct EventbaseService: Service {
    /// The instance this service runs.
    public let eventbase: Eventbase

    /// Creates a service for `eventbase` (open already: build it first, so a failed open stops
    /// the program before the group starts).
    public init(_ eventbase: Eventbase) {
        self.eventbase = eventbase
    }

    /// Waits for the group's graceful shutdown, then closes the instance gracefully; on
    /// cancellation, closes it at once.
    public func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            await eventbase.close()
            return
        }
        await eventbase.closeGracefully()
    }
}
