import Foundation
import Logging
import Synchronization
import Testing

@testable import EventbaseCore

/// The replica's equality indexes hold the records the store holds: the very packed instances, and
/// never a batch the store refused.
@Suite struct ReplicaIndexTests {
    /// A store that keeps packed records and refuses batches on demand.
    final class RefusingStore: StateStore {
        struct State {
            var records: [String: PackedRecord] = [:]
            var applied: UInt64 = 0
            var refuses = false
        }
        let state = Mutex(State())

        var refuses: Bool {
            get { state.withLock { $0.refuses } }
            set { state.withLock { $0.refuses = newValue } }
        }
        func open(stream: String) async throws -> StoreCheckpoint { .empty }
        func record(forKey key: String) -> Record<JSONValue>? { packedRecord(forKey: key)?.record(key: key) }
        var count: Int { state.withLock { $0.records.count } }
        var lastAppliedSequence: UInt64 { state.withLock { $0.applied } }
        var keepsPackedRecords: Bool { true }
        func packedRecord(forKey key: String) -> PackedRecord? { state.withLock { $0.records[key] } }
        func forEachRecord(_ body: (_ key: String, _ record: Record<JSONValue>) throws -> Void) rethrows {
            for (key, record) in state.withLock({ $0.records }) { try body(key, record.record(key: key)) }
        }
        func forEachPackedRecord(_ body: (_ key: String, _ record: PackedRecord) throws -> Void) rethrows {
            for (key, record) in state.withLock({ $0.records }) { try body(key, record) }
        }
        func apply(_ batch: StateBatch) throws {
            try state.withLock { state in
                if state.refuses { throw EventbaseError(.storageFailure, "Refused.") }
                for change in batch.changes {
                    state.records[change.key] = change.packed ?? change.record.map(PackedRecord.init)
                }
                state.applied = batch.lastAppliedSequence
            }
        }
        func reset(identity: StreamIdentity) throws { state.withLock { $0 = State(refuses: $0.refuses) } }
        func checkpoint() async throws {}
        func close() async throws {}
    }

    func put(_ sequence: UInt64, _ key: String, _ city: JSONValue) -> LogBatch {
        let event = Event(kind: .put, key: key, data: ["city": city], timestamp: 1_700_000_000_000, changes: 1)
        return LogBatch(
            entries: [LogEntry(sequence: sequence, time: Date(timeIntervalSince1970: 1_700_000_000), event: event)],
            position: sequence)
    }

    @Test func indexesShareTheStoresPackedRecordsAndDropWhatItRefuses() throws {
        let store = RefusingStore()
        let replica = Replica(store: store, streamName: "s", logger: Logger(label: "test"), onMessage: nil)
        try replica.apply(put(1, "a", "Oslo"))
        let oslo = try Query(["city": "Oslo"])
        // Built from the store on first use, then kept up to date by each applied batch.
        #expect(replica.candidates(for: oslo, maxIndexes: 4)?.map(\.key) == ["a"])
        try replica.apply(put(2, "b", "Oslo"))
        let candidates = try #require(replica.candidates(for: oslo, maxIndexes: 4))
        #expect(candidates.map(\.key).sorted() == ["a", "b"])
        for (key, record) in candidates {
            // The instance the replica packed once and the store kept, not a copy.
            guard case .packed(let packed) = record, let stored = store.packedRecord(forKey: key) else {
                Issue.record("\(key) is not packed in the index or not in the store")
                continue
            }
            #expect(packed.buffer === stored.buffer)
        }
        store.refuses = true
        #expect(throws: EventbaseError.self) { try replica.apply(put(3, "c", "Oslo")) }
        // The index took the refused batch in before the store refused it: it is gone, and no new
        // one is built from a store the replica no longer follows.
        #expect(replica.candidates(for: oslo, maxIndexes: 4) == nil)
        #expect(store.packedRecord(forKey: "c") == nil)
    }
}
