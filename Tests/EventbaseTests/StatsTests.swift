import Eventbase
import EventbaseTestKit
import Foundation
import Testing

@Suite struct StatsTests {
    @Test func everyOperationRecordsOneStatWithTheOriginalFields() async throws {
        let sink = InMemoryStatsSink()
        let eventbase = try await Eventbase.builder(streamName: "stats").inMemory().statsSink(sink).build()
        let updates = sink.updates()
        _ = try await eventbase.put("k", ["age": 30])
        _ = try await eventbase.get("k")
        _ = try await eventbase.keys("^k")
        _ = try await eventbase.query(["age": ["$gt": 1]])
        let subscription = try await eventbase.subscribe(["age": 30]) { _, _, _, _ in }
        _ = try await eventbase.put("k", ["age": 30])
        _ = try await eventbase.delete("k")
        subscription.cancel()
        var received: [Stat] = []
        for await stat in updates {
            received.append(stat)
            if stat.operation == .delete { break }
        }
        await eventbase.close()
        let operations = received.map(\.operation.rawValue)
        #expect(
            operations == [
                "PUT", "GET", "KEYS", "QUERY", "SUBSCRIBE", "SUBSCRIBE_EMIT", "PUT", "SUBSCRIBE_EMIT", "DELETE",
            ])
        #expect(received[0].id == "k")
        #expect(received[2].pattern == "^k")
        #expect(received[3].query == ["age": ["$gt": 1]])
        #expect(received[3].queryResultCount == 1)
        #expect(received.allSatisfy { $0.duration >= 0 && $0.timestamp > 0 })
    }

    @Test func aFailingStatsSinkNeverFailsAnOperation() async throws {
        struct Broken: StatsSink {
            func open() async throws { throw EventbaseError(.unavailable, "down") }
            func record(_ stats: [Stat]) async throws { throw EventbaseError(.unavailable, "down") }
            func close() async {}
        }
        let eventbase = try await Eventbase.builder(streamName: "stats").inMemory().statsSink(Broken()).build()
        for index in 0..<100 {
            _ = try await eventbase.put("k\(index)", ["n": .number(Double(index))])
        }
        #expect(try await eventbase.count() == 100)
        await eventbase.close()
    }

    @Test func aStuckStatsSinkDropsStatsInsteadOfBlocking() async throws {
        final class Stuck: StatsSink {
            let gate = AsyncStream<Void>.makeStream()
            func open() async throws {}
            func record(_ stats: [Stat]) async throws {
                for await _ in gate.stream { break }
            }
            func close() async { gate.continuation.finish() }
        }
        let eventbase = try await Eventbase.builder(streamName: "stats").inMemory().statsSink(Stuck())
            .configure {
                $0.statsBufferSize = 10
                $0.statsTimeout = .milliseconds(10)
            }
            .build()
        for index in 0..<50 {
            _ = try await eventbase.get("k\(index)")
        }
        #expect(eventbase.droppedStatsCount > 0)
        await eventbase.close()
    }
}
