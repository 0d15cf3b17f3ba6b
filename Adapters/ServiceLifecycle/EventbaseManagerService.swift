public import EventbaseCore
public import ServiceLifecycle

/// Runs an ``EventbaseManager`` as a swift-service-lifecycle `Service`.
///
/// `run()` runs the manager's sweep of idle instances (``EventbaseManager/run()``) in the service
/// group's task and keeps its streams available until the group shuts down. On a graceful
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

    /// Runs the sweep until the group's graceful shutdown, then closes every stream gracefully; on
    /// cancellation, closes them at once.
    public func run() async throws {
        let manager = self.manager
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await manager.run() }
            do {
                try await gracefulShutdown()
                await manager.closeAllGracefully()
            } catch {
                await manager.closeAll()
            }
            await group.waitForAll()
        }
    }
}
