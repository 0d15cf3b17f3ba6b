public import CoreMetrics
public import EventbaseCore
import Synchronization

/// A ``StatsSink`` that turns operation stats into swift-metrics counters and timers, for any
/// metrics backend (Prometheus, StatsD, OpenTelemetry, …).
///
/// Per operation (`get`, `put`, `delete`, `keys`, `query`, `subscribe`, `subscribe_emit`, in the
/// `operation` dimension) it records:
///
/// | metric | type | what |
/// |---|---|---|
/// | `<prefix>_operations_total` | counter | operations done |
/// | `<prefix>_operation_duration` | timer | how long each took |
/// | `<prefix>_query_results` | recorder | how many records a query returned (`query` only) |
///
/// Add it with `EventbaseBuilder.metrics(…)`, or as any stats sink:
///
/// ```swift
/// let eventbase = try await Eventbase.builder(streamName: "orders")
///     .nats(options)
///     .addingStatsSink(MetricsStatsSink(dimensions: [("stream", "orders")]))
///     .build()
/// ```
///
/// Recording never fails and never blocks; stats carry no keys, patterns or queries into metrics
/// (their cardinality is unbounded).
public final class MetricsStatsSink: StatsSink {
    /// The prefix of every metric's label.
    public let labelPrefix: String
    /// The dimensions added to every metric (for example the stream name).
    public let dimensions: [(String, String)]
    private let factory: any MetricsFactory
    private let metrics = Mutex<[String: OperationMetrics]>([:])

    private struct OperationMetrics: Sendable {
        let count: Counter
        let duration: CoreMetrics.Timer
        let results: Recorder?
    }

    /// Creates a sink.
    /// - Parameters:
    ///   - labelPrefix: The prefix of every label (default `eventbase`).
    ///   - dimensions: Dimensions added to every metric, such as `[("stream", "orders")]`.
    ///   - factory: The metrics backend (default: the one bootstrapped in `MetricsSystem`).
    public init(
        labelPrefix: String = "eventbase",
        dimensions: [(String, String)] = [],
        factory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.labelPrefix = labelPrefix
        self.dimensions = dimensions
        self.factory = factory
    }

    /// Nothing to prepare.
    public func open() async throws {}

    /// Records each stat's count and duration under its operation.
    public func record(_ stats: [Stat]) async throws {
        for stat in stats {
            let metrics = self.metrics(for: stat.operation)
            metrics.count.increment()
            metrics.duration.recordNanoseconds(Int64((stat.duration * 1_000_000).rounded()))
            if let results = metrics.results, let count = stat.queryResultCount {
                results.record(count)
            }
        }
    }

    /// Nothing to release.
    public func close() async {}

    private func metrics(for operation: Stat.Operation) -> OperationMetrics {
        let name = operation.rawValue.lowercased()
        return metrics.withLock { cache in
            if let found = cache[name] { return found }
            let dimensions = self.dimensions + [("operation", name)]
            let made = OperationMetrics(
                count: Counter(label: "\(labelPrefix)_operations_total", dimensions: dimensions, factory: factory),
                duration: CoreMetrics.Timer(
                    label: "\(labelPrefix)_operation_duration", dimensions: dimensions, factory: factory),
                results: operation == .query
                    ? Recorder(label: "\(labelPrefix)_query_results", dimensions: dimensions, factory: factory) : nil
            )
            cache[name] = made
            return made
        }
    }
}
