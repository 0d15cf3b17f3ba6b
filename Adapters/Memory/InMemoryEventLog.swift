public import EventbaseCore
import Foundation
import Synchronization

/// An ``EventLog`` kept in memory by an ``InMemoryLogServer``: fast, faithful to JetStream's
/// ordering, de-duplication, optimistic concurrency and purge semantics, and gone when the process ends.
public final class InMemoryEventLog: EventLog {
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
                state.streams[streamName] = InMemoryLogServer.Stream(name: streamName, created: server.now())
            }
            return Self.logState(state.streams[streamName]!)
        }
    }

    private static func logState(_ stream: InMemoryLogServer.Stream) -> LogState {
        LogState(
            lastSequence: stream.lastSequence,
            messageCount: UInt64(stream.messages.count),
            identity: StreamIdentity(name: stream.name, created: stream.created)
        )
    }

    public func state() async throws -> LogState {
        try checkOpen()
        return try server.state.withLock { state in
            guard let stream = state.streams[streamName] else { throw EventbaseError.deleted(streamName) }
            return Self.logState(stream)
        }
    }

    public func append(_ event: Event, condition: AppendCondition?) async throws -> AppendAck {
        try checkOpen()
        let subject = EventCodec.subject(stream: streamName, key: event.key, kind: event.kind)
        let payload = EventCodec.encodePayload(event)
        let headers = EventCodec.headers(for: event)
        let putSubject = EventCodec.subject(stream: streamName, key: event.key, kind: .put)
        return try server.state.withLock { state in
            guard state.streams[streamName] != nil else { throw EventbaseError.deleted(streamName) }
            let window = server.deduplicationWindow
            if let id = event.eventID, let existing = state.streams[streamName]!.deduplication[id] {
                return AppendAck(
                    sequence: existing, time: state.streams[streamName]!.messages[existing]?.time, duplicate: true)
            }
            // As JetStream's Nats-Expected-Last-Subject-Sequence on the key's put subject.
            let lastPut = state.streams[streamName]!.lastBySubject[putSubject].flatMap { sequence in
                state.streams[streamName]!.messages[sequence] != nil ? sequence : nil
            }
            switch condition {
            case .keyRevision(let revision)? where lastPut != revision:
                throw EventbaseError(
                    .conflict,
                    "The key \(event.key) changed since revision \(revision); read it again and retry.")
            case .keyAbsent? where lastPut != nil:
                throw EventbaseError(.conflict, "The key \(event.key) already exists.")
            default:
                break
            }
            let time = server.now()
            let sequence = InMemoryLogServer.store(
                in: &state.streams[streamName]!, subject: subject, payload: payload, headers: headers, time: time)
            if let id = event.eventID, window > 0 {
                Self.remember(id, sequence: sequence, window: window, in: &state.streams[streamName]!)
            }
            return AppendAck(sequence: sequence, time: time)
        }
    }

    private static func remember(_ id: String, sequence: UInt64, window: Int, in stream: inout InMemoryLogServer.Stream)
    {
        stream.deduplication[id] = sequence
        if stream.deduplicationRing.count < window {
            stream.deduplicationRing.append(id)
        } else {
            stream.deduplication[stream.deduplicationRing[stream.deduplicationNext]] = nil
            stream.deduplicationRing[stream.deduplicationNext] = id
        }
        stream.deduplicationNext = (stream.deduplicationNext + 1) % window
    }

    public func entries(from sequence: UInt64) -> LogEntries {
        let (stream, continuation) = AsyncThrowingStream<LogBatch, any Error>.makeStream()
        if closed.withLock({ $0 }) {
            continuation.finish(throwing: EventbaseError.closedLog)
            return LogEntries(stream)
        }
        let owner = ObjectIdentifier(self)
        let id: Int? = server.state.withLock { state in
            guard let data = state.streams[streamName] else {
                continuation.finish(throwing: EventbaseError.deleted(streamName))
                return nil
            }
            // The backlog, in batches, then live entries as they are stored (under the same lock, so
            // nothing is missed or repeated).
            let start = data.order.partitionPoint { $0 < sequence }
            var batch: [LogEntry] = []
            for position in data.order[start...] {
                guard let message = data.messages[position] else { continue }
                batch.append(InMemoryLogServer.entry(from: message, stream: streamName))
                if batch.count == 1024 {
                    continuation.yield(LogBatch(entries: batch, position: message.sequence))
                    batch.removeAll(keepingCapacity: true)
                }
            }
            continuation.yield(LogBatch(entries: batch, position: data.lastSequence))
            let id = state.nextFollower
            state.nextFollower += 1
            state.streams[streamName]!.followers[id] = InMemoryLogServer.Follower(
                continuation: continuation, owner: owner)
            return id
        }
        if let id {
            let server = self.server
            let name = streamName
            continuation.onTermination = { _ in
                server.state.withLock { state in
                    _ = state.streams[name]?.followers.removeValue(forKey: id)
                }
            }
        }
        return LogEntries(stream)
    }

    public func purgePuts(of key: String, before sequence: UInt64) async throws -> Int {
        try checkOpen()
        let subject = EventCodec.subject(stream: streamName, key: key, kind: .put)
        return try server.state.withLock { state in
            guard state.streams[streamName] != nil else { throw EventbaseError.deleted(streamName) }
            let sequences = state.streams[streamName]!.subjectSequences[subject] ?? []
            var kept: [UInt64] = []
            var purged = 0
            for candidate in sequences {
                if candidate < sequence {
                    if state.streams[streamName]!.messages.removeValue(forKey: candidate) != nil { purged += 1 }
                } else {
                    kept.append(candidate)
                }
            }
            state.streams[streamName]!.subjectSequences[subject] = kept.isEmpty ? nil : kept
            state.streams[streamName]!.purgedSinceCompaction += purged
            if state.streams[streamName]!.purgedSinceCompaction > 4096 {
                let messages = state.streams[streamName]!.messages
                state.streams[streamName]!.order.removeAll { messages[$0] == nil }
                state.streams[streamName]!.purgedSinceCompaction = 0
            }
            return purged
        }
    }

    public func destroy() async throws {
        try checkOpen()
        let followers = try server.state.withLock { state in
            guard let removed = state.streams.removeValue(forKey: streamName) else {
                throw EventbaseError(.streamNotFound, "Stream \(streamName) does not exist.")
            }
            return Array(removed.followers.values)
        }
        for follower in followers {
            follower.continuation.finish(throwing: EventbaseError.deleted(streamName))
        }
    }

    public func close() async {
        let wasClosed = closed.withLock { closed in
            defer { closed = true }
            return closed
        }
        guard !wasClosed else { return }
        let owner = ObjectIdentifier(self)
        let mine = server.state.withLock { state -> [InMemoryLogServer.Follower] in
            guard var stream = state.streams[streamName] else { return [] }
            let mine = stream.followers.filter { $0.value.owner == owner }
            for id in mine.keys { stream.followers[id] = nil }
            state.streams[streamName] = stream
            return Array(mine.values)
        }
        for follower in mine { follower.continuation.finish() }
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

extension Array where Element == UInt64 {
    /// The index of the first element for which `predicate` is false (the array is partitioned).
    func partitionPoint(_ predicate: (UInt64) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if predicate(self[middle]) { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
