public import EventbaseCore
import Foundation
import Synchronization

/// A ``StateStore`` that keeps records in memory only: every open replays the log from the start.
///
/// Records are kept as ``PackedRecord``s (meta and document in one compact buffer), so a replica of
/// a million small documents needs about twice their JSON size; reads decode the document.
public final class InMemoryStateStore: StateStore {
    private struct State {
        /// Keyed byte-exactly: canonically equivalent keys (NFC and NFD) are distinct keys.
        var records: [ExactKey: PackedRecord] = [:]
        var lastApplied: UInt64 = 0
        var lastAppliedTime: Date?
        var identity: StreamIdentity?
        var closed = false
    }

    private let state = Mutex(State())

    /// Creates an empty store.
    public init() {}

    public func open(stream: String) async throws -> StoreCheckpoint {
        state.withLock { state in
            state.closed = false
            return StoreCheckpoint(
                lastAppliedSequence: state.lastApplied, identity: state.identity, lastAppliedTime: state.lastAppliedTime
            )
        }
    }

    public func record(forKey key: String) -> Record<JSONValue>? {
        state.withLock { $0.records[ExactKey(key)] }?.record(key: key)
    }

    public func meta(forKey key: String) -> Meta? {
        state.withLock { $0.records[ExactKey(key)]?.meta }
    }

    public var count: Int { state.withLock { $0.records.count } }

    public var lastAppliedSequence: UInt64 { state.withLock { $0.lastApplied } }

    public func forEachRecord(_ body: (_ key: String, _ record: Record<JSONValue>) throws -> Void) rethrows {
        // Copy-on-write makes this an O(1) consistent view; the lock is not held while visiting.
        let records = state.withLock { $0.records }
        for (key, record) in records {
            try body(key.string, record.record(key: key.string))
        }
    }

    public var keepsPackedRecords: Bool { true }

    public func packedRecord(forKey key: String) -> PackedRecord? {
        state.withLock { $0.records[ExactKey(key)] }
    }

    public func forEachPackedRecord(_ body: (_ key: String, _ record: PackedRecord) throws -> Void) rethrows {
        let records = state.withLock { $0.records }
        for (key, record) in records {
            try body(key.string, record)
        }
    }

    public func forEachKey(_ body: (_ key: String) throws -> Void) rethrows {
        let records = state.withLock { $0.records }
        for key in records.keys {
            try body(key.string)
        }
    }

    public func apply(_ batch: StateBatch) throws {
        // Packed before taking the lock, so readers wait only for the dictionary updates.
        let packed = batch.changes.map { (ExactKey($0.key), $0.packed ?? $0.record.map(PackedRecord.init)) }
        try state.withLock { state in
            guard !state.closed else { throw EventbaseError(.closed, "This state store is closed.") }
            for (key, record) in packed {
                state.records[key] = record
            }
            state.lastApplied = max(state.lastApplied, batch.lastAppliedSequence)
            if let time = batch.lastAppliedTime { state.lastAppliedTime = time }
        }
    }

    /// Makes room for `records` records at once (a replay into this store grows it no step at a time).
    public func reserveCapacity(_ records: Int) {
        state.withLock { state in
            guard !state.closed, records > state.records.count else { return }
            state.records.reserveCapacity(records)
        }
    }

    public func reset(identity: StreamIdentity) throws {
        state.withLock { state in
            state.records.removeAll()
            state.lastApplied = 0
            state.lastAppliedTime = nil
            state.identity = identity
        }
    }

    public func checkpoint() async throws {}

    public func close() async throws {
        state.withLock { $0.closed = true }
    }
}
