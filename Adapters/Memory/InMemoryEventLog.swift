public import EventbaseCore
import Foundation
import Synchronization

/// An ``EventLog`` kept in memory by an ``InMemoryLogServer``: fast, faithful to JetStream's
/// ordering, de-duplication, optimistic concurrency and purge semantics, and gone when the process ends.
public final class InMemoryEventLog: PollableEventLog {
    /// The stream this log stores.
    public let streamName: String
    /// The server holding the stream.
    public let server: InMemoryLogServer
    private let closed = Mutex(false)

    /// Creates a log of `streamName` on `server` (a new private server by default).
    public init(streamName: String, server: InMemoryLogServer = InMemoryLogServer()) {
        self.streamName = streamName
        self.server = server
    }

    private func checkOpen() throws {
        if closed.withLock({ $0 }) { throw EventbaseError.closedLog }
    }

    public func open() async throws -> LogState {
        try checkOpen()
        try NameRules.validateStreamName(streamName)
        return server.state.withLock { state in
            if state.streams[streamName] == nil {
                state.streams[streamName] = state.makeStream(streamName, created: server.now())
            }
            return state.streams[streamName]!.logState
        }
    }

    public func state() async throws -> LogState {
        try checkOpen()
        return try server.state.withLock { state in
            guard let stream = state.streams[streamName] else { throw EventbaseError.deleted(streamName) }
            return stream.logState
        }
    }

    public func append(_ event: Event, condition: AppendCondition?) async throws -> AppendAck {
        try checkOpen()
        // The entry replicas read: built from the event when that gives what decoding its wire form
        // would (the common case, without the JSON round trip); through the codec otherwise.
        let shortcut = WireEquivalent.entry(for: event)
        let subject = shortcut == nil ? EventCodec.subject(stream: streamName, key: event.key, kind: event.kind) : ""
        let payload = shortcut == nil ? EventCodec.encodePayload(event) : []
        let headers = shortcut == nil ? EventCodec.headers(for: event) : []
        let window = server.deduplicationWindow
        // A forgotten generation of event ids is released after the lock, where `_` drops it.
        let (ack, waiters, _) = try server.state.withLock {
            state -> (AppendAck, [InMemoryLogServer.Waiter], [ExactKey: UInt64]?) in
            // One look-up of the stream: the lock is contended by every writer.
            guard let index = state.streams.index(forKey: streamName) else { throw EventbaseError.deleted(streamName) }
            return try state.streams.values[index].append(
                event, condition: condition, time: server.now(), window: window
            ) { sequence, time in
                if let shortcut { return LogEntry(sequence: sequence, time: time, payload: shortcut) }
                return EventCodec.entry(
                    sequence: sequence, time: time, subject: subject, stream: streamName, payload: payload,
                    header: { name in headers.first { $0.name == name }?.value })
            }
        }
        for waiter in waiters { waiter.continuation.resume() }
        return ack
    }

    public func entries(from sequence: UInt64) -> LogEntries {
        let cursor = InMemoryLogCursor(log: self, from: sequence)
        return LogEntries(AsyncThrowingStream(unfolding: { try await cursor.next() }))
    }

    public func poller(from sequence: UInt64) -> any LogPoller {
        InMemoryLogCursor(log: self, from: sequence)
    }

    /// Whether ``close()`` was called.
    var isClosed: Bool { closed.withLock { $0 } }

    public func entry(atSequence sequence: UInt64) async throws -> LogEntry? {
        try checkOpen()
        return try server.state.withLock { state in
            guard let stream = state.streams[streamName] else { throw EventbaseError.deleted(streamName) }
            return stream.entry(at: sequence)
        }
    }

    public func purgePuts(of key: String, before sequence: UInt64) async throws -> Int {
        try checkOpen()
        return try server.state.withLock { state in
            guard state.streams[streamName] != nil else { throw EventbaseError.deleted(streamName) }
            return state.streams[streamName]!.purge(\.puts, of: key, below: sequence)
        }
    }

    public func purgeDeletes(of key: String, before sequence: UInt64) async throws -> Int {
        try checkOpen()
        return try server.state.withLock { state in
            guard state.streams[streamName] != nil else { throw EventbaseError.deleted(streamName) }
            return state.streams[streamName]!.purge(\.deletes, of: key, below: sequence)
        }
    }

    public func compactDeleted(_ key: String, at sequence: UInt64) async throws -> Int {
        try checkOpen()
        return try server.state.withLock { state in
            guard let stream = state.streams[streamName] else { throw EventbaseError.deleted(streamName) }
            let exact = ExactKey(key)
            guard stream.deletes[exact]?.last == sequence, (stream.puts[exact]?.last ?? 0) < sequence else { return 0 }
            return state.streams[streamName]!.purge(\.puts, of: key, below: sequence)
                + state.streams[streamName]!.purge(\.deletes, of: key, below: sequence + 1)
        }
    }

    public func destroy() async throws {
        try checkOpen()
        let waiters = try server.state.withLock { state in
            guard let removed = state.streams.removeValue(forKey: streamName) else {
                throw EventbaseError(.streamNotFound, "Stream \(streamName) does not exist.")
            }
            return Array(removed.waiters.values)
        }
        // Woken readers find the stream gone and end with `.streamDeleted`.
        for waiter in waiters { waiter.continuation.resume() }
    }

    public func close() async {
        let wasClosed = closed.withLock { closed in
            defer { closed = true }
            return closed
        }
        guard !wasClosed else { return }
        // Woken readers of this log find it closed and finish.
        let owner = ObjectIdentifier(self)
        let mine = server.state.withLock { state -> [InMemoryLogServer.Waiter] in
            guard let waiters = state.streams[streamName]?.waiters else { return [] }
            let mine = waiters.filter { $0.value.owner == owner }
            for id in mine.keys { state.streams[streamName]!.waiters[id] = nil }
            return Array(mine.values)
        }
        for waiter in mine { waiter.continuation.resume() }
    }
}

extension EventbaseError {
    static func deleted(_ stream: String) -> EventbaseError {
        EventbaseError(.streamDeleted, "Stream \(stream) was deleted; open a new instance to recreate it.")
    }

    static var closedLog: EventbaseError {
        EventbaseError(.closed, "This event log is closed.")
    }
}
