public import CoreMetrics
public import EventbaseCore

extension EventbaseBuilder {
    /// Reports the instance to swift-metrics: a ``MetricsStatsSink`` for per-operation counters and
    /// timers (besides any stats stream), and an ``EventbaseHealthMetrics`` poller for replica lag,
    /// applied sequence, poison messages skipped, dropped stats and reconnects, run alongside the
    /// instance until it closes.
    ///
    /// Every metric gets the dimension `stream` (the stream name) plus `dimensions`.
    ///
    /// ```swift
    /// MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    /// let eventbase = try await Eventbase.builder(streamName: "orders")
    ///     .nats(options)
    ///     .metrics()
    ///     .build()
    /// ```
    /// - Parameters:
    ///   - labelPrefix: The prefix of every label (default `eventbase`).
    ///   - dimensions: More dimensions for every metric.
    ///   - healthInterval: How often health is polled (default 10 seconds).
    ///   - clock: The clock the poller waits on.
    ///   - factory: The metrics backend (default: the one bootstrapped in `MetricsSystem`).
    /// - Returns: The builder with the sink and the poller added.
    public func metrics(
        labelPrefix: String = "eventbase",
        dimensions: [(String, String)] = [],
        healthInterval: Duration = .seconds(10),
        clock: any Clock<Duration> = ContinuousClock(),
        factory: any MetricsFactory = MetricsSystem.factory
    ) -> Self {
        let dimensions = [("stream", streamName)] + dimensions
        let health = EventbaseHealthMetrics(labelPrefix: labelPrefix, dimensions: dimensions, factory: factory)
        return
            self
            .addingStatsSink(MetricsStatsSink(labelPrefix: labelPrefix, dimensions: dimensions, factory: factory))
            .companion { eventbase in await health.poll(eventbase, every: healthInterval, clock: clock) }
    }
}
