@_exported public import EventbaseCore
@_exported public import EventbaseFileStore
@_exported public import EventbaseJetStream
@_exported public import EventbaseMemory
@_exported public import EventbaseNATS
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
    ///   - logger: Where skipped snapshots and failed background writes are reported (default:
    ///     the builder's ``EventbaseBuilder/logger(_:)``, with its stream and instance metadata).
    /// - Returns: The builder with the file store as its state store.
    public func fileStore(
        path: String?,
        options: FileStateStore.Options = .init(),
        logger: Logger? = nil
    ) -> Self {
        let directory =
            path
            ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("eventbase-\(UUID().uuidString)", isDirectory: true).path
        return stateStore { builderLogger in
            FileStateStore(directory: directory, options: options, logger: logger ?? builderLogger)
        }
    }
}

extension EventbaseBuilder {
    /// Uses NATS JetStream: a new connection made from `options` (owned by the instance: connected
    /// when it opens, closed when it closes), a ``JetStreamEventLog`` on the stream, and, when
    /// ``statsStreamName(_:)`` is set, a ``JetStreamStatsSink`` on the same connection.
    ///
    /// Without ``fileStore(path:options:logger:)`` or ``stateStore(_:)`` the local replica is kept in
    /// memory (rebuilt from the stream on every start). The connection, log and sink are made by
    /// ``build()``, so each built instance has its own connection, and they log through the builder's
    /// logger.
    ///
    /// ```swift
    /// let eventbase = try await Eventbase.builder(streamName: "myapp")
    ///     .nats(NATSOptions(servers: ["nats://127.0.0.1:4222"]))
    ///     .statsStreamName("myapp_stats")
    ///     .build()
    /// ```
    /// - Parameters:
    ///   - options: How to connect to NATS.
    ///   - stream: How the stream is created and read (replicas, limits, deadlines).
    public func nats(_ options: NATSOptions, stream: JetStreamStreamOptions = JetStreamStreamOptions()) -> Self {
        let streamName = streamName
        let builder = backend { logger in
            let transport = NATSTransport(options, logger: logger)
            return BackendPorts(
                eventLog: JetStreamEventLog(
                    streamName: streamName, transport: transport, options: stream, logger: logger),
                transport: transport,
                statsSink: { name in JetStreamStatsSink(statsStreamName: name, transport: transport, options: stream) }
            )
        }
        return builder.hasStateStore ? builder : builder.stateStore(InMemoryStateStore())
    }
}

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
