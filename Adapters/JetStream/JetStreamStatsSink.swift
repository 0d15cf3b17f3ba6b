public import EventbaseCore

/// A ``StatsSink`` that publishes each stat as eventbase v3 does: JSON on `<statsStreamName>.stats`,
/// in the stream `<statsStreamName>` (subjects `<statsStreamName>.*`), which ``open()`` creates.
///
/// A batch is published without waiting for acks, then one flush waits for the server (bounded by
/// ``JetStreamStreamOptions/requestTimeout``). Eventbase drains stats in the background, so a slow
/// or failing sink never slows an operation.
public final class JetStreamStatsSink: StatsSink {
    /// The stats stream.
    public let statsStreamName: String
    /// The stats stream's configuration and the client's deadlines.
    public let options: JetStreamStreamOptions
    private let context: JetStreamContext

    /// Creates a sink.
    /// - Parameters:
    ///   - statsStreamName: The stats stream (created on ``open()`` if missing).
    ///   - transport: The connection to NATS; the sink does not own it.
    ///   - options: The stream's configuration and deadlines.
    public init(
        statsStreamName: String, transport: any Transport, options: JetStreamStreamOptions = JetStreamStreamOptions()
    ) {
        self.statsStreamName = statsStreamName
        self.options = options
        self.context = JetStreamContext(
            transport: transport, requestTimeout: options.requestTimeout, domain: options.domain)
    }

    /// The subject stats are published on: `<statsStreamName>.stats`.
    public var subject: String { statsStreamName + ".stats" }

    /// Creates the stats stream if it does not exist.
    /// - Throws: `.invalidStreamName`; `.unavailable`; `.timeout`.
    public func open() async throws {
        try NameRules.validateStreamName(statsStreamName)
        _ = try await context.createStreamIfMissing(options.streamConfig(name: statsStreamName))
    }

    /// Publishes the stats in order, then flushes once.
    /// - Throws: `.timeout`; `.unavailable`; `.closed`.
    public func record(_ stats: [Stat]) async throws {
        for stat in stats {
            try await context.transport.publish(subject, payload: stat.jsonValue.jsonBytes())
        }
        try await context.transport.flush(timeout: options.requestTimeout)
    }

    /// Nothing to release: the transport belongs to its owner.
    public func close() async {}
}
