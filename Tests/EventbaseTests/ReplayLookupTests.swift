import Eventbase
import EventbaseTestKit
import Foundation
import Synchronization
import Testing

/// A store that counts how often the replica asks it for a record's meta, and how many changes
/// it was given, and records the capacity hints it gets.
final class MetaCountingStore: StateStore {
    let inner = InMemoryStateStore()
    private let lookups = Atomic<Int>(0)
    private let changes = Atomic<Int>(0)
    private let hints = Mutex<[Int]>([])

    /// The ``reserveCapacity(_:)`` hints given, in order.
    var capacityHints: [Int] { hints.withLock { $0 } }
    func reserveCapacity(_ records: Int) {
        hints.withLock { $0.append(records) }
        inner.reserveCapacity(records)
    }

    var metaLookups: Int { lookups.load(ordering: .relaxed) }
    /// How many changes the applied batches held (each applied event is one).
    var appliedChanges: Int { changes.load(ordering: .relaxed) }

    func open(stream: String) async throws -> StoreCheckpoint { try await inner.open(stream: stream) }
    func record(forKey key: String) -> Record<JSONValue>? { inner.record(forKey: key) }
    func meta(forKey key: String) -> Meta? {
        lookups.add(1, ordering: .relaxed)
        return inner.meta(forKey: key)
    }
    var count: Int { inner.count }
    var lastAppliedSequence: UInt64 { inner.lastAppliedSequence }
    func forEachRecord(_ body: (_ key: String, _ record: Record<JSONValue>) throws -> Void) rethrows {
        try inner.forEachRecord(body)
    }
    func apply(_ batch: StateBatch) throws {
        changes.add(batch.changes.count, ordering: .relaxed)
        try inner.apply(batch)
    }
    func reset(identity: StreamIdentity) throws { try inner.reset(identity: identity) }
    func checkpoint() async throws { try await inner.checkpoint() }
    func close() async throws { try await inner.close() }
}

/// A replica replaying a stream looks up a key's old meta only for the events that need it.
@Suite struct ReplayLookupTests {
    @Test func aReplayLooksUpOldMetaOnlyForPutsThatDoNotCarryIt() async throws {
        let log = InMemoryEventLog(streamName: "replay")
        _ = try await log.open()
        let created: Int64 = 1_700_000_000_000
        // Written as Eventbase writes them: each put carries its change count (and creation time).
        _ = try await log.append(
            Event(kind: .put, key: "a", data: ["n": 1], timestamp: created, eventID: "e1", changes: 1), condition: nil)
        _ = try await log.append(
            Event(
                kind: .put, key: "a", data: ["n": 2], timestamp: created + 5, eventID: "e2", changes: 2,
                dateCreated: created), condition: nil)
        _ = try await log.append(
            Event(kind: .put, key: "b", data: ["n": 3], timestamp: created, eventID: "e3", changes: 7), condition: nil)
        _ = try await log.append(Event(kind: .delete, key: "b", timestamp: created, eventID: "e4"), condition: nil)
        _ = try await log.append(Event(kind: .delete, key: "never", timestamp: created, eventID: "e5"), condition: nil)
        // As eventbase v3 writes them (no carried meta): these need the key's old meta.
        _ = try await log.append(Event(kind: .put, key: "a", data: ["n": 4], timestamp: created), condition: nil)
        _ = try await log.append(Event(kind: .put, key: "c", data: ["n": 5], timestamp: created), condition: nil)

        let store = MetaCountingStore()
        let eventbase = try await Eventbase.builder(streamName: "replay").eventLog(log).stateStore(store).build()
        // One batch (the in-memory log hands a new reader everything stored): the last put of "a"
        // finds its old record among the batch's writes, so only "c" costs a look-up (four
        // would be made if every put and delete looked its key up).
        #expect(store.metaLookups == 1)
        let a = try #require(try await eventbase.get("a"))
        #expect(a.data["n"] == 4)
        #expect(a.meta.changes == 3)
        #expect(a.meta.revision == 6)
        #expect(try await eventbase.get("b") == nil)
        #expect(try await eventbase.get("c")?.meta.changes == 1)
        await eventbase.close()
    }

    /// A log of `count` puts of distinct keys.
    private static func log(_ name: String, puts count: Int) async throws -> InMemoryEventLog {
        let log = InMemoryEventLog(streamName: name)
        _ = try await log.open()
        for index in 0..<count {
            _ = try await log.append(
                Event(kind: .put, key: "k\(index)", data: ["n": .number(Double(index))], timestamp: 1), condition: nil)
        }
        return log
    }

    /// Before replaying into an empty store, the store hears how many records to expect: the stream's
    /// message count (one message a key under the default retention), once.
    @Test func aReplayIntoAnEmptyStoreReservesTheStreamsMessageCount() async throws {
        let log = try await Self.log("reserve", puts: 300)
        let store = MetaCountingStore()
        let eventbase = try await Eventbase.builder(streamName: "reserve").eventLog(log).stateStore(store).build()
        #expect(store.capacityHints == [300])
        #expect(try await eventbase.count() == 300)
        #expect(try await eventbase.get("k299")?.data["n"] == 299)
        await eventbase.close()
    }

    /// No hint when the stream keeps every event (its message count says nothing about its keys) or
    /// when the store already holds records (it resumes, it does not replay from the start).
    @Test func noReservationWhenTheStreamKeepsEveryEventOrTheStoreHoldsRecords() async throws {
        let everything = MetaCountingStore()
        let first = try await Eventbase.builder(streamName: "keepall")
            .eventLog(try await Self.log("keepall", puts: 50)).stateStore(everything)
            .configure { $0.retention = .everything }.build()
        #expect(everything.capacityHints.isEmpty)
        #expect(try await first.count() == 50)
        await first.close()

        // A store that applied the stream's first event (same incarnation): the instance resumes.
        let log = try await Self.log("resume", puts: 50)
        let resumed = MetaCountingStore()
        _ = try await resumed.open(stream: "resume")
        try resumed.reset(identity: try await log.state().identity)
        try resumed.apply(
            StateBatch(
                changes: [
                    StateBatch.Write(
                        key: "k0",
                        record: Record(
                            key: "k0", data: ["n": 0, "id": "k0"],
                            meta: Meta(dateCreated: Date(), dateModified: Date(), changes: 1, revision: 1)))
                ], lastAppliedSequence: 1))
        let second = try await Eventbase.builder(streamName: "resume").eventLog(log).stateStore(resumed).build()
        #expect(resumed.capacityHints.isEmpty)
        #expect(try await second.count() == 50)
        await second.close()
    }
}
