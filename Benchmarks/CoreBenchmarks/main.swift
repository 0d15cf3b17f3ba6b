// The core's hot paths on the in-memory backend, each against a baseline measured in the same run.
//
//     swift run -c release CoreBenchmarks [--records N] [--json FILE]
//
// Absolute numbers vary between machines; the ratios are what the project holds itself to.
import Eventbase
import Foundation

struct Result: Codable {
    var name: String
    var operations: Int
    var seconds: Double
    var opsPerSecond: Double
    var p50Microseconds: Double?
    var p99Microseconds: Double?
    var baseline: String
    var baselineOpsPerSecond: Double
    var ratio: Double
}

final class Runner {
    var results: [Result] = []

    nonisolated func run() async throws {
        func measure(_ operations: Int, _ body: () async throws -> Void) async rethrows -> Double {
            let clock = ContinuousClock()
            let start = clock.now
            try await body()
            let elapsed = start.duration(to: clock.now)
            let (seconds, attoseconds) = elapsed.components
            _ = operations
            return Double(seconds) + Double(attoseconds) / 1e18
        }

        var arguments = CommandLine.arguments.dropFirst()
        var recordCount = 100_000
        var jsonPath: String?
        var putOnly = false
        while let argument = arguments.popFirst() {
            switch argument {
            case "--records": recordCount = Int(arguments.popFirst() ?? "") ?? recordCount
            case "--json": jsonPath = arguments.popFirst()
            case "--put-only": putOnly = true
            default:
                FileHandle.standardError.write(Data("usage: CoreBenchmarks [--records N] [--json FILE]\n".utf8))
                exit(2)
            }
        }

        func report(
            _ name: String, operations: Int, seconds: Double, baseline: String, baselineOperations: Int,
            baselineSeconds: Double,
            latencies: [Double]? = nil
        ) {
            let ops = Double(operations) / seconds
            let baselineOps = Double(baselineOperations) / baselineSeconds
            var p50: Double?
            var p99: Double?
            if var latencies, !latencies.isEmpty {
                latencies.sort()
                p50 = latencies[latencies.count / 2] * 1e6
                p99 = latencies[min(latencies.count - 1, latencies.count * 99 / 100)] * 1e6
            }
            let result = Result(
                name: name, operations: operations, seconds: seconds, opsPerSecond: ops, p50Microseconds: p50,
                p99Microseconds: p99, baseline: baseline, baselineOpsPerSecond: baselineOps, ratio: ops / baselineOps)
            results.append(result)
            let p99Text = p99.map { String(format: "%9.2f", $0) } ?? "        -"
            print(
                String(
                    format: "%-22@ %12.0f ops/s  p99 %@ us   vs %-26@ %14.0f ops/s   ratio %.3f", name as NSString, ops,
                    p99Text as NSString, baseline as NSString, baselineOps, ops / baselineOps))
        }

        let cities: [JSONValue] = ["Oslo", "Rome", "Lima", "Kyiv", "Pune", "Baku", "Doha", "Riga"]
        func document(_ index: Int) -> JSONValue {
            [
                "name": .string("user \(index)"), "age": .number(Double(index % 90)),
                "city": cities[index % cities.count],
                "email": .string("user\(index)@example.com"), "active": .bool(index % 3 == 0),
            ]
        }

        print("Eventbase core benchmarks: \(recordCount) records, in-memory backend, release build")
        let eventbase = try await Eventbase.builder(streamName: "bench").inMemory().configure {
            $0.retention = .everything
        }.build()

        // put_conc: 64 concurrent writers vs appending to the same in-memory log directly.
        let writers = 64
        let putsPerWriter = max(1, recordCount / writers)
        let putSeconds = try await measure(writers * putsPerWriter) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for index in 0..<putsPerWriter {
                            let key = "k\(writer * putsPerWriter + index)"
                            _ = try await eventbase.put(key, document(writer * putsPerWriter + index))
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        let rawLog = InMemoryEventLog(streamName: "raw")
        _ = try await rawLog.open()
        let rawSeconds = try await measure(writers * putsPerWriter) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for index in 0..<putsPerWriter {
                            let event = Event(
                                kind: .put, key: "k\(writer * putsPerWriter + index)", data: document(index),
                                timestamp: 0,
                                eventID: UUID().uuidString)
                            _ = try await rawLog.append(event, condition: nil)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        report(
            "put_conc (64 writers)", operations: writers * putsPerWriter, seconds: putSeconds,
            baseline: "raw in-memory append",
            baselineOperations: writers * putsPerWriter, baselineSeconds: rawSeconds)

        if putOnly { return }
        // Fill to recordCount (put_conc may have written slightly fewer).
        for index in (writers * putsPerWriter)..<recordCount {
            _ = try await eventbase.put("k\(index)", document(index))
        }
        var plain: [String: JSONValue] = [:]
        for index in 0..<recordCount { plain["k\(index)"] = document(index) }
        let keys = (0..<recordCount).map { "k\(($0 &* 7919) % recordCount)" }

        // get: Eventbase.get vs a plain Dictionary lookup of the same keys.
        var latencies: [Double] = []
        latencies.reserveCapacity(keys.count)
        let clock = ContinuousClock()
        var found = 0
        let getSeconds = try await measure(keys.count) {
            for key in keys {
                let start = clock.now
                if try await eventbase.get(key) != nil { found += 1 }
                let (s, a) = start.duration(to: clock.now).components
                latencies.append(Double(s) + Double(a) / 1e18)
            }
        }
        var plainFound = 0
        let dictionarySeconds = await measure(keys.count) {
            for key in keys where plain[key] != nil { plainFound += 1 }
        }
        precondition(found == plainFound)
        report(
            "get", operations: keys.count, seconds: getSeconds, baseline: "Dictionary lookup",
            baselineOperations: keys.count,
            baselineSeconds: dictionarySeconds, latencies: latencies)

        // Queries over every record vs hand-written loops in plain Swift over the same documents.
        let documents = Array(plain.values)
        func queryBench(
            _ name: String, _ query: JSONValue, options: QueryOptions = QueryOptions(), repeats: Int = 20,
            baseline: () -> Int
        ) async throws {
            // One query first: it may build the field's equality index (reported separately).
            let warmUp = try await measure(1) { _ = try await eventbase.query(query, options: options) }
            var count = 0
            let seconds = try await measure(repeats) {
                for _ in 0..<repeats { count = try await eventbase.query(query, options: options).count }
            }
            var expected = 0
            let baselineSeconds = await measure(repeats) {
                for _ in 0..<repeats { expected = baseline() }
            }
            precondition(count == expected, "\(name): \(count) != \(expected)")
            report(
                name, operations: repeats, seconds: seconds, baseline: "hand-written loop", baselineOperations: repeats,
                baselineSeconds: baselineSeconds)
            print(
                String(
                    format: "%-22@ %.2f ms per query over %d records (%d results; first query %.2f ms)",
                    name as NSString, seconds / Double(repeats) * 1000, recordCount, count, warmUp * 1000))
        }
        try await queryBench("query_eq", ["city": "Oslo"]) {
            documents.reduce(0) { $0 + ($1["city"] == "Oslo" ? 1 : 0) }
        }
        try await queryBench("query_range", ["age": ["$gte": 30, "$lt": 40]]) {
            documents.reduce(0) { count, document in
                guard case .number(let age)? = document["age"] else { return count }
                return count + (age >= 30 && age < 40 ? 1 : 0)
            }
        }
        let emailPattern = try Regex("^user1[0-9]*@")
        try await queryBench("query_regex", ["email": ["$regex": "^user1[0-9]*@"]]) {
            documents.reduce(0) { count, document in
                guard case .string(let email)? = document["email"] else { return count }
                return count + ((try? emailPattern.firstMatch(in: email)) != nil ? 1 : 0)
            }
        }
        try await queryBench(
            "query_sorted_limit", ["active": true], options: QueryOptions(sort: ["age": .descending], limit: 10)
        ) {
            let active = documents.filter { $0["active"] == true }
            let sorted = active.sorted { ($0["age"]?.doubleValue ?? 0) > ($1["age"]?.doubleValue ?? 0) }
            return min(10, sorted.prefix(10).count)
        }

        // subscribe_fanout: events applied per second with 1,000 live queries vs none.
        func applyRate(_ eventbase: Eventbase, count: Int) async throws -> Double {
            try await measure(count) {
                for index in 0..<count { _ = try await eventbase.put("f\(index % 1000)", document(index)) }
            }
        }
        let fanoutBase = try await Eventbase.builder(streamName: "fanout").inMemory().configure {
            $0.retention = .everything
        }
        .build()
        let fanoutEvents = 20_000
        let noSubscribers = try await applyRate(fanoutBase, count: fanoutEvents)
        var subscriptions: [Subscription] = []
        for index in 0..<1000 {
            subscriptions.append(try await fanoutBase.subscribe(["age": .number(Double(index % 90))]) { _, _, _, _ in })
        }
        let withSubscribers = try await applyRate(fanoutBase, count: fanoutEvents)
        report(
            "subscribe_fanout", operations: fanoutEvents, seconds: withSubscribers, baseline: "no subscriptions",
            baselineOperations: fanoutEvents, baselineSeconds: noSubscribers)
        for subscription in subscriptions { subscription.cancel() }
        await fanoutBase.close()
        await eventbase.close()

        if let jsonPath {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let lines = try results.map { String(decoding: try encoder.encode($0), as: UTF8.self) }.joined(
                separator: "\n")
            try (lines + "\n").write(toFile: jsonPath, atomically: true, encoding: .utf8)
            print("wrote \(jsonPath)")
        }

    }
}

try await Runner().run()
