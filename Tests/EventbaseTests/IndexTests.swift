import Eventbase
import EventbaseTestKit
import Synchronization
import Testing

@Suite struct IndexTests {
    @Test func indexedQueriesAnswerExactlyAsFullScans() async throws {
        let server = InMemoryLogServer()
        let indexed = try await Eventbase.builder(streamName: "index").inMemory(server: server).build()
        let scanning = try await Eventbase.builder(streamName: "index").inMemory(server: server)
            .configure { $0.maxAutomaticIndexes = 0 }.build()
        let queries: [JSONValue] = [
            ["city": "Oslo"], ["tags": "b"], ["city": ["$in": ["Rome", "Lima"]]], ["city": "Oslo", "n": ["$gt": 5]],
            ["nested.v": 2], ["tags": ["a", "b"]],
        ]
        var random = SeededGenerator(seed: 42)
        let cities: [JSONValue] = ["Oslo", "Rome", "Lima"]
        for step in 0..<400 {
            let key = "k\(Int.random(in: 0..<40, using: &random))"
            if Int.random(in: 0..<5, using: &random) == 0 {
                _ = try await indexed.delete(key)
            } else {
                var document: JSONObject = [
                    "n": .number(Double(Int.random(in: 0..<10, using: &random))),
                    "tags": .array(
                        (0..<Int.random(in: 0..<3, using: &random)).map { _ in
                            ["a", "b", "c"].randomElement(using: &random)!
                        }),
                    "nested": ["v": .number(Double(Int.random(in: 0..<3, using: &random)))],
                ]
                if Int.random(in: 0..<4, using: &random) > 0 {
                    document["city"] = cities.randomElement(using: &random)!
                }
                _ = try await indexed.put(key, .object(document))
            }
            if step % 50 == 49 {
                _ = try await scanning.put("sync", ["step": .number(Double(step))])
                _ = try await indexed.put("sync", ["step": .number(Double(step))])
                for query in queries {
                    let options = QueryOptions(sort: ["n": 1, "id": 1])
                    #expect(
                        try await indexed.query(query, options: options)
                            == (try await scanning.query(query, options: options)))
                    #expect(try await indexed.count(query) == (try await scanning.count(query)))
                }
            }
        }
        #expect(indexed.indexedFields == ["city", "nested.v", "tags"])
        #expect(scanning.indexedFields.isEmpty)
        await indexed.close()
        await scanning.close()
    }

    @Test func indexesAreCappedAndNullIsNeverAnsweredFromAnIndex() async throws {
        let eventbase = try await Eventbase.builder(streamName: "cap").inMemory()
            .configure { $0.maxAutomaticIndexes = 2 }.build()
        _ = try await eventbase.put("a", ["x": 1])
        _ = try await eventbase.put("b", ["y": 1])
        for field in ["x", "y", "z"] { _ = try await eventbase.query([field: 1]) }
        #expect(eventbase.indexedFields == ["x", "y"])
        #expect(try await eventbase.count(["x": nil]) == 1)
        #expect(try await eventbase.count(["z": 1]) == 0)
        await eventbase.close()
    }
}

@Suite struct SubscriptionIndexTests {
    final class Log: Sendable {
        let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var values: [String] { lines.withLock { $0 } }
    }

    @Test func indexedSubscriptionsSeeExactlyWhatScannedOnesSee() async throws {
        let eventbase = try await Eventbase.builder(streamName: "fanout").inMemory().build()
        let conditions: [JSONValue] = [
            ["room": "a"], ["room": ["$in": ["b", "c"]]], ["tags": "x"], ["room": "a", "n": ["$gt": 3]],
        ]
        var logs: [(Log, Log)] = []
        var subscriptions: [Subscription] = []
        for condition in conditions {
            let indexed = Log()
            let scanned = Log()
            subscriptions.append(
                try await eventbase.subscribe(condition) { key, _, _, change in indexed.append("\(change.kind):\(key)")
                })
            // Wrapped in $or, the same condition cannot use the subscription index.
            subscriptions.append(
                try await eventbase.subscribe(["$or": [condition]]) { key, _, _, change in
                    scanned.append("\(change.kind):\(key)")
                })
            logs.append((indexed, scanned))
        }
        var random = SeededGenerator(seed: 7)
        let rooms: [JSONValue] = ["a", "b", "c", "d"]
        for _ in 0..<300 {
            let key = "k\(Int.random(in: 0..<12, using: &random))"
            if Int.random(in: 0..<6, using: &random) == 0 {
                _ = try await eventbase.delete(key)
            } else {
                _ = try await eventbase.put(
                    key,
                    [
                        "room": rooms.randomElement(using: &random)!,
                        "n": .number(Double(Int.random(in: 0..<6, using: &random))),
                        "tags": Bool.random(using: &random) ? ["x", "y"] : ["y"],
                    ])
            }
        }
        for (indexed, scanned) in logs {
            #expect(!indexed.values.isEmpty)
            #expect(indexed.values == scanned.values)
        }
        for subscription in subscriptions { subscription.cancel() }
        await eventbase.close()
    }
}
