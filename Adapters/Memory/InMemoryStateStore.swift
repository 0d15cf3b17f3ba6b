public import EventbaseCore
import Synchronization

/// A ``StateStore`` that keeps records in memory only: every open replays the log from the start.
public final class InMemoryStateStore: StateStore {
    private struct State {
        /// Keyed byte-exactly: canonically equivalent keys (NFC and NFD) are distinct keys.
        var records: [ExactKey: Record<JSONValue>] = [:]
        var lastApplied: UInt64 = 0
        var identity: StreamIdentity?
        var closed = false
    }

    private let state = Mutex(State())

    /// Creates an empty store.
    public init() {}

    public func open(stream: String) async throws -> StoreCheckpoint {
        state.withLock { state in
            state.closed = false
            return StoreCheckpoint(lastAppliedSequence: state.lastApplied, identity: state.identity)
        }
    }

    public func record(forKey key: String) -> Record<JSONValue>? {
        state.withLock { $0.records[ExactKey(key)] }
    }

    public var count: Int { state.withLock { $0.records.count } }

    public var lastAppliedSequence: UInt64 { state.withLock { $0.lastApplied } }

    public func forEachRecord(_ body: (_ key: String, _ record: Record<JSONValue>) throws -> Void) rethrows {
        // Copy-on-write makes this an O(1) consistent view; the lock is not held while visiting.
        let records = state.withLock { $0.records }
        for (key, record) in records {
            try body(key.string, record)
        }
    }

    public func apply(_ batch: StateBatch) throws {
        try state.withLock { state in
            guard !state.closed else { throw EventbaseError(.closed, "This state store is closed.") }
            for change in batch.changes {
                state.records[ExactKey(change.key)] = change.record
            }
            state.lastApplied = max(state.lastApplied, batch.lastAppliedSequence)
        }
    }

    public func reset(identity: StreamIdentity) throws {
        state.withLock { state in
            state.records.removeAll()
            state.lastApplied = 0
            state.identity = identity
        }
    }

    public func checkpoint() async throws {}

    public func close() async throws {
        state.withLock { $0.closed = true }
    }
}
