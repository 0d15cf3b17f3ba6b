import Eventbase
import EventbaseTestKit
import Foundation
import Synchronization
import Testing

/// A store that counts how often the replica asks it for a record's meta, and how many changes
/// it was given.
final class MetaCountingStore: StateStore {
    let inner = InMemoryStateStore()
    private let lookups = Atomic<Int>(0)
    private let changes = Atomic<Int>(0)

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
}
