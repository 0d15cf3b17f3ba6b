@_exported public import EventbaseCore
@_exported public import EventbaseFileStore
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

extension EventbaseBuilder {
    /// Keeps the local replica in a ``FileStateStore`` under `path`, so a restart resumes from the
    /// newest snapshot instead of replaying the whole log.
    ///
    /// Each stream gets its own folder under `path`. Pass `nil` for a fresh temporary directory (never
    /// the working directory): the replica is then durable only for this process, since the next
    /// process gets another directory.
    ///
    /// ```swift
    /// let eventbase = try await Eventbase.builder(streamName: "myapp")
    ///     .nats(options)
    ///     .fileStore(path: "./data")
    ///     .build()
    /// ```
    /// - Parameters:
    ///   - path: The directory for snapshots, or `nil` for a new temporary directory.
    ///   - options: When to write snapshots and the limits to read them with.
    ///   - logger: Where skipped snapshots and failed background writes are reported (default: the
    ///     `swift-log` handler the application bootstrapped, label `eventbase.filestore`).
    /// - Returns: The builder with the file store as its state store.
    public func fileStore(
        path: String?,
        options: FileStateStore.Options = .init(),
        logger: Logger = Logger(label: "eventbase.filestore")
    ) -> Self {
        let directory =
            path
            ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("eventbase-\(UUID().uuidString)", isDirectory: true).path
        return stateStore(FileStateStore(directory: directory, options: options, logger: logger))
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
