@_exported public import EventbaseCore
@_exported public import EventbaseMemory
import Foundation
public import Logging

extension Eventbase {
    /// Starts configuring an instance on `streamName`, with the system clocks.
    ///
    /// ```swift
    /// let eventbase = try await Eventbase.builder(streamName: "myapp").inMemory().build()
    /// ```
    public static func builder(streamName: String) -> EventbaseBuilder {
        EventbaseBuilder(streamName: streamName, clock: ContinuousClock(), now: { Date() })
    }
}

extension EventbaseBuilder {
    /// Uses the in-memory backend: a private in-process log and an in-memory replica.
    ///
    /// Nothing is persisted and no server is needed: the quickest way to try the API and the
    /// backend for unit tests. Pass a shared ``InMemoryLogServer`` to let several instances
    /// (in one process) share the stream.
    public func inMemory(server: InMemoryLogServer = InMemoryLogServer()) -> Self {
        eventLog(InMemoryEventLog(streamName: streamName, server: server))
            .stateStore(InMemoryStateStore())
    }
}

extension EventbaseManager {
    /// Creates a manager with the system clocks that builds each instance with `factory`.
    ///
    /// ```swift
    /// let manager = EventbaseManager(keepAlive: .seconds(60), cleanupInterval: .seconds(10)) { name in
    ///     Eventbase.builder(streamName: name).inMemory()
    /// }
    /// ```
    public convenience init(
        keepAlive: Duration = .seconds(3600),
        cleanupInterval: Duration = .seconds(60),
        logger: Logger = Logger(label: "eventbase.manager", factory: { _ in SwiftLogNoOpLogHandler() }),
        factory: @escaping @Sendable (String) throws -> EventbaseBuilder
    ) {
        self.init(
            keepAlive: keepAlive, cleanupInterval: cleanupInterval, clock: ContinuousClock(), now: { Date() },
            logger: logger, factory: factory)
    }
}
