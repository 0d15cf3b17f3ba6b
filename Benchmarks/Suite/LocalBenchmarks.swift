import Eventbase
import Foundation

/// The benchmarks of local reads and live queries, on the in-memory backend: Eventbase against plain
/// Swift over the same records (a `Dictionary` lookup, hand-written loops) in the same run.
struct LocalBenchmarks {
    let configuration: BenchmarkConfiguration
    let environment: BenchmarkEnvironment
    let progress: @Sendable (String) -> Void

    func inMemory(_ stream: String) async throws -> Eventbase {
        try await Eventbase.builder(streamName: stream).inMemory().configure { $0.retention = .everything }.build()
    }

    /// get and the queries over one replica of `localRecords` records.
    /// - Parameter directGetRate: direct-get round trips per second on the server, if one was measured.
    func readGroup(_ names: Set<String>, directGetRate: Double?) async throws -> [BenchmarkResult] {
        let count = configuration.localRecords
        let eventbase = try await inMemory("bench_reads")
        try await Measure.concurrently(count, width: 64) { index in
            _ = try await eventbase.put(BenchmarkData.key(index), BenchmarkData.document(index))
        }
        var plain: [String: JSONValue] = [:]
        for index in 0..<count { plain[BenchmarkData.key(index)] = BenchmarkData.document(index) }
        var results: [BenchmarkResult] = []
        if names.contains("get") { results.append(try await get(eventbase, plain, directGetRate: directGetRate)) }
        let documents = Array(plain.values)
        for query in Self.queries where names.contains(query.name) {
            results.append(try await run(query, on: eventbase, documents: documents))
        }
        await eventbase.close()
        return results
    }

    /// get: Eventbase.get of every key (in a scattered order) vs a `Dictionary` lookup of the same keys.
    func get(
        _ eventbase: Eventbase, _ plain: [String: JSONValue], directGetRate: Double?
    ) async throws -> BenchmarkResult {
        let count = plain.count
        let keys = (0..<count).map { BenchmarkData.key(($0 &* 7919) % count) }
        var latencies: [Double] = []
        latencies.reserveCapacity(keys.count)
        let clock = ContinuousClock()
        var found = 0
        let seconds = try await Measure.time {
            for key in keys {
                let start = clock.now
                if try await eventbase.get(key) != nil { found += 1 }
                latencies.append(Measure.seconds(start.duration(to: clock.now)))
            }
        }
        var plainFound = 0
        let baselineSeconds = await Measure.time { for key in keys where plain[key] != nil { plainFound += 1 } }
        guard found == plainFound else {
            throw EventbaseError(.internalError, "get found \(found) records, the dictionary \(plainFound).")
        }
        let (p50, p99) = Measure.percentilesMicroseconds(latencies)
        return BenchmarkResult(
            name: "get", operations: count, seconds: seconds, opsPerSecond: Double(count) / seconds,
            p50Microseconds: p50, p99Microseconds: p99, unit: "gets/s", baseline: "Dictionary lookup",
            baselineOpsPerSecond: Double(count) / baselineSeconds,
            reference: directGetRate == nil ? "C client direct get round trip" : "direct get round trip (measured)",
            referenceOpsPerSecond: directGetRate ?? BenchmarkTarget.cDirectGet, environment: environment)
    }

    /// A query and the hand-written loop that computes the same result count.
    struct QueryCase: Sendable {
        var name: String
        var query: JSONValue
        var options = QueryOptions()
        var loop: @Sendable ([JSONValue]) -> Int
    }

    static let queries: [QueryCase] = [
        QueryCase(name: "query_eq", query: ["city": "Oslo"]) { documents in
            documents.reduce(0) { $0 + ($1["city"] == "Oslo" ? 1 : 0) }
        },
        QueryCase(name: "query_range", query: ["age": ["$gte": 30, "$lt": 40]]) { documents in
            documents.reduce(0) { count, document in
                guard case .number(let age)? = document["age"] else { return count }
                return count + (age >= 30 && age < 40 ? 1 : 0)
            }
        },
        QueryCase(name: "query_regex", query: ["email": ["$regex": "^user1[0-9]*@"]]) { documents in
            // Swift's Regex is not Sendable: compile it per call (once per loop, not per record).
            guard let pattern = try? Regex("^user1[0-9]*@") else { return -1 }
            return documents.reduce(0) { count, document in
                guard case .string(let email)? = document["email"] else { return count }
                return count + ((try? pattern.firstMatch(in: email)) != nil ? 1 : 0)
            }
        },
        QueryCase(
            name: "query_sorted_limit", query: ["active": true],
            options: QueryOptions(sort: ["age": .descending], limit: 10)
        ) { documents in
            let active = documents.filter { $0["active"] == true }
            let sorted = active.sorted { ($0["age"]?.doubleValue ?? 0) > ($1["age"]?.doubleValue ?? 0) }
            return sorted.prefix(10).count
        },
    ]

    /// A query run `queryRepeats` times vs its loop as many times over the same documents.
    func run(_ query: QueryCase, on eventbase: Eventbase, documents: [JSONValue]) async throws -> BenchmarkResult {
        let repeats = configuration.queryRepeats
        // One query first: it may build the field's equality index.
        let warmUp = try await Measure.time { _ = try await eventbase.query(query.query, options: query.options) }
        var count = 0
        let seconds = try await Measure.time {
            for _ in 0..<repeats { count = try await eventbase.query(query.query, options: query.options).count }
        }
        var expected = 0
        let baselineSeconds = await Measure.time { for _ in 0..<repeats { expected = query.loop(documents) } }
        guard count == expected else {
            throw EventbaseError(.internalError, "\(query.name) returned \(count) records, the loop \(expected).")
        }
        progress(
            query.name
                + String(
                    format: ": %.2f ms a query over %d records (%d results; first query %.2f ms)",
                    seconds / Double(repeats) * 1000, documents.count, count, warmUp * 1000))
        return BenchmarkResult(
            name: query.name, operations: repeats, seconds: seconds, opsPerSecond: Double(repeats) / seconds,
            unit: "queries/s", baseline: "hand-written loop", baselineOpsPerSecond: Double(repeats) / baselineSeconds,
            environment: environment)
    }

    /// subscribe_fanout: puts applied per second with `subscriptions` live queries vs with none.
    /// Timed in two alternating halves, baseline first, so both see the same load.
    func subscribeFanout() async throws -> BenchmarkResult {
        let half = max(1, configuration.fanoutEvents / 2)
        let eventbase = try await inMemory("bench_fanout")
        func apply(_ range: Range<Int>) async throws -> Double {
            try await Measure.time {
                for index in range { _ = try await eventbase.put("f\(index % 1000)", BenchmarkData.document(index)) }
            }
        }
        var baselineSeconds = 0.0
        var seconds = 0.0
        for round in 0..<2 {
            let start = round * 2 * half
            baselineSeconds += try await apply(start..<(start + half))
            var subscriptions: [Subscription] = []
            for index in 0..<configuration.subscriptions {
                subscriptions.append(
                    try await eventbase.subscribe(["age": .number(Double(index % 90))]) { _, _, _, _ in })
            }
            seconds += try await apply((start + half)..<(start + 2 * half))
            for subscription in subscriptions { subscription.cancel() }
        }
        let events = 2 * half
        await eventbase.close()
        return BenchmarkResult(
            name: "subscribe_fanout", operations: events, seconds: seconds, opsPerSecond: Double(events) / seconds,
            unit: "events/s", baseline: "no live queries", baselineOpsPerSecond: Double(events) / baselineSeconds,
            environment: environment)
    }

    /// put_conc_memory: `put` from `writers` concurrent writers on the in-memory backend vs the same
    /// events appended to an `InMemoryEventLog` (entry building, storing, de-duplication; no replica) with as
    /// many writers. Timed in two alternating halves, baseline first, so both see the same load.
    func putConcurrentlyInMemory() async throws -> BenchmarkResult {
        let half = max(1, configuration.puts / 2)
        let writers = configuration.writers
        let eventbase = try await Eventbase.builder(streamName: "bench_memory_put").inMemory().build()
        let log = InMemoryEventLog(streamName: "bench_memory_raw")
        _ = try await log.open()
        var eventbaseSeconds = 0.0
        var rawSeconds = 0.0
        for round in 0..<2 {
            let offset = round * half
            rawSeconds += try await Measure.time {
                try await Measure.concurrently(half, width: writers) { index in
                    let event = Event(
                        kind: .put, key: BenchmarkData.key(offset + index),
                        data: BenchmarkData.document(offset + index), timestamp: 1_700_000_000_000,
                        eventID: UUID().uuidString, changes: 1)
                    _ = try await log.append(event, condition: nil)
                }
            }
            eventbaseSeconds += try await Measure.time {
                try await Measure.concurrently(half, width: writers) { index in
                    _ = try await eventbase.put(
                        BenchmarkData.key(offset + index), BenchmarkData.document(offset + index))
                }
            }
        }
        await eventbase.close()
        await log.close()
        let operations = 2 * half
        return BenchmarkResult(
            name: "put_conc_memory", operations: operations, seconds: eventbaseSeconds,
            opsPerSecond: Double(operations) / eventbaseSeconds, unit: "puts/s",
            baseline: "in-memory log append, \(writers) writers", baselineOpsPerSecond: Double(operations) / rawSeconds,
            environment: environment)
    }
}
