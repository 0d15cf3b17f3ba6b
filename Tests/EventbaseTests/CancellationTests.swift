import Eventbase
import EventbaseTestKit
import Foundation
import Synchronization
import Testing

/// A store that counts how many records enumerations visit.
final class VisitCountingStore: StateStore {
    let inner = InMemoryStateStore()
    private let visits = Atomic<Int>(0)

    var visited: Int { visits.load(ordering: .relaxed) }
    func resetVisits() { visits.store(0, ordering: .relaxed) }

    func open(stream: String) async throws -> StoreCheckpoint { try await inner.open(stream: stream) }
    func record(forKey key: String) -> Record<JSONValue>? { inner.record(forKey: key) }
    var count: Int { inner.count }
    var lastAppliedSequence: UInt64 { inner.lastAppliedSequence }
    func forEachRecord(_ body: (_ key: String, _ record: Record<JSONValue>) throws -> Void) rethrows {
        try inner.forEachRecord { key, record in
            visits.add(1, ordering: .relaxed)
            try body(key, record)
        }
    }
    func apply(_ batch: StateBatch) throws { try inner.apply(batch) }
    func reset(identity: StreamIdentity) throws { try inner.reset(identity: identity) }
    func checkpoint() async throws { try await inner.checkpoint() }
    func close() async throws { try await inner.close() }
}

/// Long scans of the replica honour task cancellation between records.
@Suite struct CancellationTests {
    static let recordCount = 20_000

    private func filled() async throws -> (Eventbase, VisitCountingStore) {
        let store = VisitCountingStore()
        let log = InMemoryEventLog(streamName: "scan")
        let eventbase = try await Eventbase.builder(streamName: "scan").eventLog(log).stateStore(store)
            .configure { $0.maxAutomaticIndexes = 0 }.build()
        // One batch applied straight to the store keeps the set-up fast.
        let records = (0..<Self.recordCount).map { index in
            let key = "k\(index)"
            let date = Date(timeIntervalSince1970: 1)
            return StateBatch.Write(
                key: key,
                record: Record(
                    key: key, data: ["id": .string(key), "n": .number(Double(index))],
                    meta: Meta(dateCreated: date, dateModified: date, changes: 1, revision: 0)))
        }
        try store.inner.apply(StateBatch(changes: records, lastAppliedSequence: 0))
        return (eventbase, store)
    }

    /// Runs `operation` in a task that is cancelled before it starts scanning.
    private func cancelled<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async -> (any Error)? {
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await operation()
        }
        do {
            _ = try await task.value
            return nil
        } catch {
            return error
        }
    }

    @Test func aCancelledQueryStopsBetweenRecords() async throws {
        let (eventbase, store) = try await filled()
        #expect(try await eventbase.count(["n": ["$gte": 0]]) == Self.recordCount)
        for operation in ["query", "count", "keys", "records"] {
            store.resetVisits()
            let error = await cancelled {
                switch operation {
                case "query":
                    _ = try await eventbase.query(["n": ["$gte": 0]], options: QueryOptions(sort: ["n": .ascending]))
                case "count": _ = try await eventbase.count(["n": ["$gte": 0]])
                case "records": _ = try await eventbase.records(matching: ["n": ["$regex": "^1"]])
                default: _ = try await eventbase.keys("^k1")
                }
            }
            #expect(error is CancellationError, "\(operation): \(String(describing: error))")
            #expect(
                store.visited < Self.recordCount / 4, "\(operation) visited \(store.visited) records after cancellation"
            )
        }
        // The instance is unharmed.
        #expect(try await eventbase.count(["n": ["$lt": 10]]) == 10)
        await eventbase.close()
    }
}
