public import EventbaseCore
public import ServiceLifecycle

/// Runs an ``EventbaseManager`` as a swift-service-lifecycle `Service`.
///
/// `run()` keeps the manager's streams available until the service group shuts down. On a graceful
/// shutdown it calls ``EventbaseManager/closeAllGracefully()``: every open instance refuses new
/// writes, finishes those in flight, writes its final snapshot and closes its connection. On
/// cancellation it calls ``EventbaseManager/closeAll()``.
///
/// ```swift
/// let manager = EventbaseManager(nats: options, dbPath: "./data")
/// let group = ServiceGroup(services: [EventbaseManagerService(manager), httpServer],
///                          gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
public struct EventbaseManagerService: Service {
    /// The manager this service runs.
    public let manager: EventbaseManager

    /// Creates a service for `manager`.
    public init(_ manager: EventbaseManager) {
        self.manager = manager
    }

    /// Waits for the group's graceful shutdown, then closes every stream gracefully; on
    /// cancellation, closes them at once.
    public func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            await manager.closeAll()
            return
        }
        await manager.closeAllGracefully()
    }
}
