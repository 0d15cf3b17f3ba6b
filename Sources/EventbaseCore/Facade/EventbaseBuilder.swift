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
    var optionsValue = EventbaseOptions()

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
    public func eventLog(_ log: any EventLog) -> Self { with { $0.eventLogPort = log } }

    /// Uses `store` as the local replica's storage (required).
    public func stateStore(_ store: any StateStore) -> Self { with { $0.stateStorePort = store } }

    /// Sends operation stats to `sink` (optional; without one, no stats are kept).
    public func statsSink(_ sink: (any StatsSink)?) -> Self { with { $0.statsSinkPort = sink } }

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
    package var hasStateStore: Bool { stateStorePort != nil }

    /// Owns `transport`: the instance connects it when it opens and closes it when it closes.
    public func transport(_ transport: any Transport) -> Self { with { $0.transportPort = transport } }

    /// Calls `handler` for every event the replica applies, in log order, including events replayed
    /// while opening (but not events already in a persisted checkpoint). A throwing handler is logged
    /// and never stops replication.
    public func onMessage(_ handler: @escaping @Sendable (LogEntry) throws -> Void) -> Self {
        with { $0.onMessageHandler = handler }
    }

    /// Logs through `logger` (default: no logging). Metadata gets the stream name.
    public func logger(_ logger: Logger) -> Self { with { $0.loggerValue = logger } }

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
    /// with the log as it was when opening began.
    /// - Throws: `.invalidStreamName`; `.invalidArgument` when a required port is missing or an
    ///   option is out of range; `.timeout` after ``EventbaseOptions/openTimeout``; what the ports throw.
    public func build() async throws -> Eventbase {
        try NameRules.validateStreamName(streamName)
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
        var logger = loggerValue
        logger[metadataKey: "eventbase.stream"] = "\(streamName)"
        let configuration = Eventbase.Configuration(
            streamName: streamName,
            eventLog: eventLogPort,
            stateStore: stateStorePort,
            statsSink: statsSink,
            transport: transportPort,
            onMessage: onMessageHandler,
            clock: clockSource,
            now: nowSource,
            logger: logger,
            options: options
        )
        return try await Eventbase.open(configuration)
    }
}
