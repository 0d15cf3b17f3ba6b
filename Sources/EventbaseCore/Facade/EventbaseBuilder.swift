public import Foundation
public import Logging

/// Configures and opens an ``Eventbase`` instance.
///
/// A value type: every setter returns a changed copy. ``build()`` validates, opens the ports and
/// returns once the local replica has caught up with the log.
///
/// ```swift
/// let eventbase = try await Eventbase.builder(streamName: "myapp")
///     .inMemory()
///     .onMessage { entry in print(entry) }
///     .build()
/// ```
///
/// The core builder takes any port, so custom adapters plug in with ``eventLog(_:)``,
/// ``stateStore(_:)``, ``statsSink(_:)`` and ``transport(_:)``.
public struct EventbaseBuilder: Sendable {
    /// The stream name.
    public let streamName: String
    var eventLogPort: (any EventLog)?
    var stateStorePort: (any StateStore)?
    var statsSinkPort: (any StatsSink)?
    var transportPort: (any Transport)?
    var statsStreamNameValue: String?
    var statsSinkFactory: (@Sendable (_ statsStreamName: String) -> any StatsSink)?
    var onMessageHandler: (@Sendable (LogEntry) throws -> Void)?
    var clockSource: any Clock<Duration>
    var nowSource: @Sendable () -> Date
    var loggerValue: Logger
    var loggerWasSet = false
    var optionsValue = EventbaseOptions()
    var backendFactory: (@Sendable (Logger) -> BackendPorts)?
    var stateStoreFactory: (@Sendable (Logger) -> any StateStore)?
    var extraStatsSinks: [any StatsSink] = []
    var companions: [@Sendable (Eventbase) async -> Void] = []

    /// Ports a backend convenience makes at build time, so they log through the builder's logger.
    package struct BackendPorts: Sendable {
        /// The event log.
        package var eventLog: any EventLog
        /// The transport the instance owns (connects on open, closes on close), if any.
        package var transport: (any Transport)?
        /// Makes the stats sink for ``EventbaseBuilder/statsStreamName(_:)``, if the backend has one.
        package var statsSink: (@Sendable (_ statsStreamName: String) -> any StatsSink)?

        /// Creates the ports.
        package init(
            eventLog: any EventLog, transport: (any Transport)?,
            statsSink: (@Sendable (_ statsStreamName: String) -> any StatsSink)?
        ) {
            self.eventLog = eventLog
            self.transport = transport
            self.statsSink = statsSink
        }
    }

    /// Creates a builder with explicit time sources.
    ///
    /// Most code uses `Eventbase.builder(streamName:)` from the `Eventbase` module, which supplies
    /// the system clocks; tests pass a manual clock.
    /// - Parameters:
    ///   - streamName: The stream to open (validated by ``build()``).
    ///   - clock: The clock for deadlines and retries.
    ///   - now: The wall clock for event timestamps and stats.
    public init(streamName: String, clock: any Clock<Duration>, now: @escaping @Sendable () -> Date) {
        self.streamName = streamName
        self.clockSource = clock
        self.nowSource = now
        self.loggerValue = Logger(label: "eventbase", factory: { _ in SwiftLogNoOpLogHandler() })
    }

    /// Uses `log` as the event log (required).
    public func eventLog(_ log: any EventLog) -> Self {
        with {
            $0.eventLogPort = log
            $0.backendFactory = nil
        }
    }

    /// Uses `store` as the local replica's storage (required).
    public func stateStore(_ store: any StateStore) -> Self {
        with {
            $0.stateStorePort = store
            $0.stateStoreFactory = nil
        }
    }

    /// Makes the state store at build time with the instance's logger (for backend conveniences
    /// such as `.fileStore(path:)`).
    package func stateStore(_ make: @escaping @Sendable (_ logger: Logger) -> any StateStore) -> Self {
        with {
            $0.stateStorePort = nil
            $0.stateStoreFactory = make
        }
    }

    /// Makes the event log, transport and stats sink factory at build time with the instance's
    /// logger (for backend conveniences such as `.nats(…)`). Each ``build()`` makes new ports.
    package func backend(_ make: @escaping @Sendable (_ logger: Logger) -> BackendPorts) -> Self {
        with {
            $0.eventLogPort = nil
            $0.transportPort = nil
            $0.statsSinkFactory = nil
            $0.backendFactory = make
        }
    }

    /// Sends operation stats to `sink` (optional; without one, no stats are kept).
    public func statsSink(_ sink: (any StatsSink)?) -> Self { with { $0.statsSinkPort = sink } }

    /// Also sends operation stats to `sink`, besides the stats sink or stats stream (if any).
    ///
    /// Adapters use it to add themselves, for example `EventbaseMetrics`'s `.metrics()`. Each sink
    /// gets every batch; one failing does not affect the others.
    public func addingStatsSink(_ sink: any StatsSink) -> Self { with { $0.extraStatsSinks.append(sink) } }

    /// Runs `work` alongside the instance, from when it has caught up until it closes (the task is
    /// then cancelled, and ``Eventbase/close()`` waits for it to end).
    ///
    /// For periodic work tied to the instance's life, such as `EventbaseMetrics`'s health poller.
    /// `work` must return promptly when its task is cancelled.
    public func companion(_ work: @escaping @Sendable (Eventbase) async -> Void) -> Self {
        with { $0.companions.append(work) }
    }

    /// Publishes operation stats to the stats stream `name` (eventbase v3's `statsStreamName`), through
    /// the sink the backend makes for it (`.nats(…)` makes a JetStream stats sink). `nil` turns it off.
    ///
    /// An explicit ``statsSink(_:)`` takes precedence. ``build()`` throws `.invalidArgument` when a
    /// name is set but the backend makes no stats sink.
    public func statsStreamName(_ name: String?) -> Self { with { $0.statsStreamNameValue = name } }

    /// Sets how a backend convenience makes the stats sink for ``statsStreamName(_:)`` at build time.
    package func statsSinkFactory(_ factory: @escaping @Sendable (_ statsStreamName: String) -> any StatsSink) -> Self {
        with { $0.statsSinkFactory = factory }
    }

    /// Whether a state store was configured (for backend conveniences that supply a default).
    package var hasStateStore: Bool { stateStorePort != nil || stateStoreFactory != nil }

    /// Whether ``logger(_:)`` was called (the manager passes its logger on only when it was not).
    package var hasLogger: Bool { loggerWasSet }

    /// Owns `transport`: the instance connects it when it opens and closes it when it closes.
    public func transport(_ transport: any Transport) -> Self { with { $0.transportPort = transport } }

    /// Calls `handler` for every event the replica applies, in log order, including events replayed
    /// while opening (but not events already in a persisted checkpoint), one at a time, on the task
    /// that applied it (as subscription handlers are). A throwing handler is logged and never stops
    /// replication.
    public func onMessage(_ handler: @escaping @Sendable (LogEntry) throws -> Void) -> Self {
        with { $0.onMessageHandler = handler }
    }

    /// Logs through `logger` (default: no logging; an ``EventbaseManager`` passes its own).
    ///
    /// Every component of the instance logs through it, adapters made by backend conveniences
    /// (`.nats(…)`, `.fileStore(path:)`) included, with `eventbase.stream` (the stream name) and
    /// `eventbase.instance` (``Eventbase/instanceID``) in the metadata. Normal operation logs at
    /// `debug` and `trace` only; faults (lost connections, failed retries, skipped entries) at
    /// `warning` and `error`. Nothing at `info` or above contains credentials or document contents.
    public func logger(_ logger: Logger) -> Self {
        with {
            $0.loggerValue = logger
            $0.loggerWasSet = true
        }
    }

    /// Replaces the options.
    public func options(_ options: EventbaseOptions) -> Self { with { $0.optionsValue = options } }

    /// Changes some options: `.configure { $0.writeTimeout = .seconds(2) }`.
    public func configure(_ change: (inout EventbaseOptions) -> Void) -> Self {
        with { change(&$0.optionsValue) }
    }

    /// Uses `clock` for deadlines and `now` for timestamps.
    public func clock(_ clock: any Clock<Duration>, now: @escaping @Sendable () -> Date) -> Self {
        with {
            $0.clockSource = clock
            $0.nowSource = now
        }
    }

    private func with(_ change: (inout Self) -> Void) -> Self {
        var copy = self
        change(&copy)
        return copy
    }

    /// Validates the configuration, opens the ports and returns once the replica has caught up
    /// with the log as it was when opening began. The instance runs its background work (following
    /// the log, purges, stats, companions) in a task of its own until it closes; to run it in a
    /// task of yours, use ``withEventbase(_:)`` or ``buildUnstarted()``.
    /// - Throws: `.invalidStreamName`; `.invalidArgument` when a required port is missing or an
    ///   option is out of range; `.timeout` after ``EventbaseOptions/openTimeout``; what the ports throw.
    public func build() async throws -> Eventbase {
        try await Eventbase.open(configuration(), starting: true)
    }

    /// Opens the instance as ``build()`` does (catching up with the log on the calling task), but
    /// leaves its background work to ``Eventbase/run()``: run that in a task group or a service
    /// group (`EventbaseService` does), so that the work belongs to a task you own. Until it runs,
    /// the replica does not move: writes wait for it (and fail after the write timeout).
    ///
    /// ```swift
    /// let eventbase = try await Eventbase.builder(streamName: "users").nats(options).buildUnstarted()
    /// let group = ServiceGroup(services: [EventbaseService(eventbase), server], logger: logger)
    /// try await group.run()
    /// ```
    /// - Throws: as ``build()``.
    public func buildUnstarted() async throws -> Eventbase {
        try await Eventbase.open(configuration(), starting: false)
    }

    /// Opens the instance, runs its background work in a child task of the calling task while
    /// `body` uses it, then closes it gracefully (writes in flight finish) and returns what `body`
    /// returned, or throws what it threw. Nothing of the instance outlives the call.
    ///
    /// ```swift
    /// let count = try await Eventbase.builder(streamName: "users").inMemory().withEventbase { users in
    ///     _ = try await users.put("alice", ["name": "Alice"])
    ///     return try await users.count()
    /// }
    /// ```
    /// - Throws: as ``build()``; what `body` throws.
    public func withEventbase<Result: Sendable>(_ body: (Eventbase) async throws -> Result) async throws -> Result {
        let eventbase = try await buildUnstarted()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await eventbase.run() }
            let result: Swift.Result<Result, any Error>
            do {
                result = .success(try await body(eventbase))
            } catch {
                result = .failure(error)
            }
            await eventbase.closeGracefully()
            try await group.waitForAll()
            return try result.get()
        }
    }

    private func configuration() throws -> Eventbase.Configuration {
        try NameRules.validateStreamName(streamName)
        let instanceID = String(UUID().uuidString.lowercased().prefix(8))
        var logger = loggerValue
        logger[metadataKey: "eventbase.stream"] = "\(streamName)"
        logger[metadataKey: "eventbase.instance"] = "\(instanceID)"
        var eventLogPort = self.eventLogPort
        var transportPort = self.transportPort
        var statsSinkFactory = self.statsSinkFactory
        if let backendFactory {
            let ports = backendFactory(logger)
            eventLogPort = ports.eventLog
            transportPort = ports.transport
            statsSinkFactory = ports.statsSink
        }
        let stateStorePort = self.stateStorePort ?? stateStoreFactory?(logger)
        guard let eventLogPort else {
            throw EventbaseError(
                .invalidArgument, "No event log configured: call .inMemory(), .nats(…) or .eventLog(_:) before build()."
            )
        }
        guard let stateStorePort else {
            throw EventbaseError(
                .invalidArgument,
                "No state store configured: call .inMemory(), .fileStore(path:) or .stateStore(_:) before build().")
        }
        guard eventLogPort.streamName == streamName else {
            throw EventbaseError(
                .invalidArgument,
                "The event log is for stream \"\(eventLogPort.streamName)\", not \"\(streamName)\"; build it for the same stream."
            )
        }
        let options = optionsValue
        guard options.statsBufferSize > 0, options.changeBufferSize > 0, options.purgeBufferSize > 0 else {
            throw EventbaseError(.invalidArgument, "Buffer sizes in EventbaseOptions must be positive.")
        }
        var statsSink = statsSinkPort
        if statsSink == nil, let statsStreamNameValue {
            try NameRules.validateStreamName(statsStreamNameValue)
            guard let statsSinkFactory else {
                throw EventbaseError(
                    .invalidArgument,
                    "statsStreamName(\"\(statsStreamNameValue)\") needs a backend that publishes stats, such as .nats(…); or pass .statsSink(_:)."
                )
            }
            statsSink = statsSinkFactory(statsStreamNameValue)
        }
        if !extraStatsSinks.isEmpty {
            statsSink = FanOutStatsSink(sinks: (statsSink.map { [$0] } ?? []) + extraStatsSinks, logger: logger)
        }
        return Eventbase.Configuration(
            streamName: streamName,
            eventLog: eventLogPort,
            stateStore: stateStorePort,
            statsSink: statsSink,
            transport: transportPort,
            onMessage: onMessageHandler,
            clock: clockSource,
            now: nowSource,
            logger: logger,
            options: options,
            instanceID: instanceID,
            companions: companions
        )
    }
}
