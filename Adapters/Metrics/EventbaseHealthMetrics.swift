public import CoreMetrics
public import EventbaseCore
import Synchronization

/// Records an ``EventbaseHealth`` snapshot as swift-metrics gauges and counters, and polls an
/// instance's health periodically.
///
/// | metric | type | what |
/// |---|---|---|
/// | `<prefix>_replica_lag` | gauge | entries the replica is behind the stream |
/// | `<prefix>_replica_applied_sequence` | gauge | the last sequence the replica applied |
/// | `<prefix>_stream_last_sequence` | gauge | the stream's last sequence |
/// | `<prefix>_invalid_entries_total` | counter | poison messages skipped |
/// | `<prefix>_dropped_stats_total` | counter | stats dropped because the buffer was full |
/// | `<prefix>_reconnects_total` | counter | reconnects of the log's connection |
/// | `<prefix>_connected` | gauge | 1 while the log's connection is up, else 0 (only for logs with a connection) |
/// | `<prefix>_healthy` | gauge | 1 when ``EventbaseHealth/isHealthy``, else 0 |
///
/// The counters increase by what changed since the previous snapshot, so one recorder must be
/// used per instance. `EventbaseBuilder.metrics(…)` runs one alongside the instance.
public final class EventbaseHealthMetrics: Sendable {
    /// The prefix of every metric's label.
    public let labelPrefix: String
    private let handles: Handles
    private let previous = Mutex<Counts?>(nil)

    private struct Counts {
        var invalid: Int
        var dropped: Int
        var reconnects: Int
    }

    private struct Handles: Sendable {
        let lag: Gauge
        let applied: Gauge
        let last: Gauge
        let invalid: Counter
        let dropped: Counter
        let reconnects: Counter
        let connected: Gauge
        let healthy: Gauge
    }

    /// Creates a recorder.
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
        func gauge(_ name: String) -> Gauge {
            Gauge(label: "\(labelPrefix)_\(name)", dimensions: dimensions, factory: factory)
        }
        func counter(_ name: String) -> Counter {
            Counter(label: "\(labelPrefix)_\(name)", dimensions: dimensions, factory: factory)
        }
        self.handles = Handles(
            lag: gauge("replica_lag"),
            applied: gauge("replica_applied_sequence"),
            last: gauge("stream_last_sequence"),
            invalid: counter("invalid_entries_total"),
            dropped: counter("dropped_stats_total"),
            reconnects: counter("reconnects_total"),
            connected: gauge("connected"),
            healthy: gauge("healthy")
        )
    }

    /// Records one snapshot: sets the gauges, and increases the counters by what changed since the
    /// previous snapshot.
    public func record(_ health: EventbaseHealth) {
        handles.applied.record(Double(health.appliedSequence))
        if let last = health.streamLastSequence { handles.last.record(Double(last)) }
        if let lag = health.lag { handles.lag.record(Double(lag)) }
        if let connection = health.connection {
            handles.connected.record(connection.state == .connected ? 1 : 0)
        }
        handles.healthy.record(health.isHealthy ? 1 : 0)
        let now = Counts(
            invalid: health.invalidEntryCount, dropped: health.droppedStatsCount,
            reconnects: health.connection?.reconnectCount ?? 0)
        let before = previous.withLock { previous in
            defer { previous = now }
            return previous ?? Counts(invalid: 0, dropped: 0, reconnects: 0)
        }
        // Counts only grow for one instance; a smaller one means a new instance: count it whole.
        func delta(_ new: Int, _ old: Int) -> Int64 { Int64(new >= old ? new - old : new) }
        let invalid = delta(now.invalid, before.invalid)
        let dropped = delta(now.dropped, before.dropped)
        let reconnects = delta(now.reconnects, before.reconnects)
        if invalid > 0 { handles.invalid.increment(by: invalid) }
        if dropped > 0 { handles.dropped.increment(by: dropped) }
        if reconnects > 0 { handles.reconnects.increment(by: reconnects) }
    }

    /// Records `eventbase`'s health now and then every `interval`, until the task is cancelled or
    /// the instance closes.
    /// - Parameters:
    ///   - eventbase: The instance to watch.
    ///   - interval: Time between snapshots.
    ///   - clock: The clock to wait on (tests pass a manual one).
    public func poll(
        _ eventbase: Eventbase, every interval: Duration, clock: any Clock<Duration> = ContinuousClock()
    ) async {
        while !Task.isCancelled {
            let health = await eventbase.health(timeout: interval)
            record(health)
            if health.isClosed { return }
            do {
                try await clock.sleep(for: interval)
            } catch {
                return
            }
        }
    }
}
