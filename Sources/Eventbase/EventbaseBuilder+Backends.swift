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
