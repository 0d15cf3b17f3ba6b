import Eventbase
import EventbaseMetrics
import EventbaseTestKit
import Foundation
import MetricsTestKit
import Testing

@Suite struct MetricsTests {
    @Test func theStatsSinkCountsAndTimesEachOperation() async throws {
        let metrics = TestMetrics()
        let sink = MetricsStatsSink(dimensions: [("stream", "s")], factory: metrics)
        try await sink.record([
            Stat(operation: .put, id: "a", timestamp: 0, duration: 1.5),
            Stat(operation: .put, id: "b", timestamp: 0, duration: 2),
            Stat(operation: .query, query: [:], queryResultCount: 7, timestamp: 0, duration: 0.25),
        ])
        let puts = try metrics.expectCounter("eventbase_operations_total", [("stream", "s"), ("operation", "put")])
        #expect(puts.totalValue == 2)
        let putTimes = try metrics.expectTimer(
            "eventbase_operation_duration", [("stream", "s"), ("operation", "put")])
        #expect(putTimes.values == [1_500_000, 2_000_000])
        let queries = try metrics.expectCounter(
            "eventbase_operations_total", [("stream", "s"), ("operation", "query")])
        #expect(queries.totalValue == 1)
        let results = try metrics.expectRecorder("eventbase_query_results", [("stream", "s"), ("operation", "query")])
        #expect(results.values == [7])
    }

    @Test func healthBecomesGaugesAndCountersThatGrowByWhatChanged() async throws {
        let metrics = TestMetrics()
        let recorder = EventbaseHealthMetrics(dimensions: [("stream", "s")], factory: metrics)
        recorder.record(
            EventbaseHealth(
                streamName: "s", instanceID: "i", appliedSequence: 5, streamLastSequence: 8, invalidEntryCount: 1,
                connection: ConnectionStatus(state: .connected, reconnectCount: 2)))
        recorder.record(
            EventbaseHealth(
                streamName: "s", instanceID: "i", appliedSequence: 9, streamLastSequence: 9, invalidEntryCount: 3,
                droppedStatsCount: 4, connection: ConnectionStatus(state: .reconnecting, reconnectCount: 3)))
        let dimensions = [("stream", "s")]
        #expect(try metrics.expectGauge("eventbase_replica_lag", dimensions).values == [3, 0])
        #expect(try metrics.expectGauge("eventbase_replica_applied_sequence", dimensions).lastValue == 9)
        #expect(try metrics.expectGauge("eventbase_stream_last_sequence", dimensions).lastValue == 9)
        #expect(try metrics.expectCounter("eventbase_invalid_entries_total", dimensions).totalValue == 3)
        #expect(try metrics.expectCounter("eventbase_dropped_stats_total", dimensions).totalValue == 4)
        #expect(try metrics.expectCounter("eventbase_reconnects_total", dimensions).totalValue == 3)
        #expect(try metrics.expectGauge("eventbase_connected", dimensions).values == [1, 0])
        #expect(try metrics.expectGauge("eventbase_healthy", dimensions).values == [1, 0])
    }

    @Test func theBuilderOptionRecordsOperationsAndPollsHealthWhileTheInstanceIsOpen() async throws {
        let metrics = TestMetrics()
        let pollClock = ManualClock()
        let stats = InMemoryStatsSink()
        let eventbase = try await Eventbase.builder(streamName: "orders").inMemory()
            .statsSink(stats)
            .metrics(healthInterval: .seconds(10), clock: pollClock, factory: metrics)
            .build()
        // The poller records once, then sleeps on the clock.
        await pollClock.waitForSleepers(1)
        let stream = [("stream", "orders")]
        #expect(try metrics.expectGauge("eventbase_healthy", stream).lastValue == 1)
        _ = try await eventbase.put("a", ["n": 1])
        _ = try await eventbase.get("a")
        _ = try await eventbase.get("b")
        await eventbase.close()
        // Closing flushes queued stats to every sink and ends the poller.
        #expect(
            try metrics.expectCounter("eventbase_operations_total", stream + [("operation", "get")]).totalValue == 2)
        #expect(
            try metrics.expectCounter("eventbase_operations_total", stream + [("operation", "put")]).totalValue == 1)
        #expect(pollClock.sleeperCount == 0)
        // The stats sink set on the builder still gets every stat.
        #expect(stats.stats.map(\.operation) == [.put, .get, .get])
    }
}
