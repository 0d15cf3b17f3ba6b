import Foundation
public import Logging

extension EventbaseManager {
    /// Creates a manager of streams on NATS JetStream (eventbase v3's `createEventbaseManager`).
    ///
    /// Each stream gets its own instance, built with ``EventbaseBuilder/nats(_:stream:)`` when first
    /// asked for and closed after `keepAlive` without use (and without subscriptions).
    ///
    /// ```swift
    /// let manager = EventbaseManager(nats: NATSOptions(servers: ["nats://127.0.0.1:4222"]),
    ///                                statsStreamName: { "\($0)_stats" })
    /// let users = try await manager.stream("users")
    /// ```
    /// - Parameters:
    ///   - nats: How to connect to NATS (one connection per open stream).
    ///   - dbPath: Where local replicas are persisted (a ``FileStateStore`` there keeps one folder per
    ///     stream), so a restart resumes from its snapshot. `nil` keeps replicas in memory (each
    ///     open replays its stream).
    ///   - keepAlive: How long an unused stream stays open.
    ///   - cleanupInterval: How often ``EventbaseManager/run()`` looks for idle streams.
    ///   - statsStreamName: The stats stream for a stream name, or `nil` for no stats.
    ///   - stream: How streams are created and read.
    ///   - onMessage: Called for every event any managed stream applies.
    ///   - logger: Where the manager and every instance log (default: nowhere).
    ///   - configure: Changes each stream's builder last (options, `.metrics()`, a companion, …).
    public convenience init(
        nats: NATSOptions,
        dbPath: String? = nil,
        keepAlive: Duration = .seconds(3600),
        cleanupInterval: Duration = .seconds(60),
        statsStreamName: (@Sendable (String) -> String?)? = nil,
        stream: JetStreamStreamOptions = JetStreamStreamOptions(),
        onMessage: (@Sendable (LogEntry) throws -> Void)? = nil,
        logger: Logger = Logger(label: "eventbase.manager", factory: { _ in SwiftLogNoOpLogHandler() }),
        configure: (@Sendable (EventbaseBuilder) -> EventbaseBuilder)? = nil
    ) {
        self.init(keepAlive: keepAlive, cleanupInterval: cleanupInterval, logger: logger) { name in
            var builder = Eventbase.builder(streamName: name)
            builder = dbPath.map { builder.fileStore(path: $0) } ?? builder.stateStore(InMemoryStateStore())
            builder = builder.nats(nats, stream: stream)
            if let statsName = statsStreamName?(name) { builder = builder.statsStreamName(statsName) }
            if let onMessage { builder = builder.onMessage(onMessage) }
            return configure?(builder) ?? builder
        }
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
