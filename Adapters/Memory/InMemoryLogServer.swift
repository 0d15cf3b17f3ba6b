public import EventbaseCore
public import Foundation
import Synchronization

/// An in-process stand-in for a JetStream server: it holds streams of encoded messages that any
/// number of ``InMemoryEventLog``s read and write.
///
/// Messages are stored as their wire form (subject, JSON payload, headers) and decoded when read, so
/// the in-memory backend exercises the same codec as JetStream. Share one server between instances
/// to test several replicas of one stream; tests can also publish raw messages, as another client
/// (or eventbase v3) would, with ``publishRaw(stream:subject:payload:headers:)``.
public final class InMemoryLogServer: Sendable {
    struct Message: Sendable {
        let sequence: UInt64
        let time: Date
        let subject: String
        let payload: [UInt8]
        let headers: [(name: String, value: String)]
    }

    struct Follower {
        let continuation: AsyncThrowingStream<LogBatch, any Error>.Continuation
        let owner: ObjectIdentifier
    }

    struct Stream {
        let name: String
        let created: Date
        var lastSequence: UInt64 = 0
        var messages: [UInt64: Message] = [:]
        /// Sequences in order; may hold purged ones (skipped when reading), compacted now and then.
        var order: [UInt64] = []
        var purgedSinceCompaction = 0
        var subjectSequences: [String: [UInt64]] = [:]
        var lastBySubject: [String: UInt64] = [:]
        var deduplication: [String: UInt64] = [:]
        /// Ids in the order they were stored, as a ring of `deduplicationWindow` slots.
        var deduplicationRing: [String] = []
        var deduplicationNext = 0
        var followers: [Int: Follower] = [:]
    }

    struct State {
        var streams: [String: Stream] = [:]
        var nextFollower = 0
    }

    let now: @Sendable () -> Date
    let deduplicationWindow: Int
    let state = Mutex(State())

    /// Creates an empty server.
    /// - Parameters:
    ///   - deduplicationWindow: How many recent event ids each stream remembers for de-duplication.
    ///   - now: The server's clock, used to timestamp messages.
    public init(deduplicationWindow: Int = 100_000, now: @escaping @Sendable () -> Date = { Date() }) {
        self.deduplicationWindow = deduplicationWindow
        self.now = now
    }

    /// The names of the streams that exist.
    public var streamNames: [String] {
        state.withLock { $0.streams.keys.sorted() }
    }

    /// Deletes `stream` and creates an empty stream of the same name in one step (another identity:
    /// created `created`), as when a stream is deleted and created again while its instances are not
    /// looking. Readers of the old stream end with `.streamDeleted`.
    /// - Throws: `.streamNotFound` when the stream does not exist.
    public func recreateStream(_ stream: String, created: Date) throws {
        let followers = try state.withLock { state in
            guard let removed = state.streams.removeValue(forKey: stream) else {
                throw EventbaseError(.streamNotFound, "Stream \(stream) does not exist.")
            }
            state.streams[stream] = Stream(name: stream, created: created)
            return Array(removed.followers.values)
        }
        for follower in followers {
            follower.continuation.finish(throwing: EventbaseError.deleted(stream))
        }
    }

    /// Publishes a raw message to an existing stream, as another client would.
    /// - Returns: The sequence assigned.
    /// - Throws: `.streamNotFound` when the stream does not exist.
    @discardableResult
    public func publishRaw(
        stream: String, subject: String, payload: [UInt8], headers: [(name: String, value: String)] = []
    ) throws -> UInt64 {
        try state.withLock { state in
            guard state.streams[stream] != nil else {
                throw EventbaseError(.streamNotFound, "Stream \(stream) does not exist.")
            }
            return Self.store(
                in: &state.streams[stream]!, subject: subject, payload: payload, headers: headers, time: now())
        }
    }

    /// Every message of a stream in order, decoded (for tests that fold the log independently).
    public func entries(of stream: String) -> [LogEntry] {
        state.withLock { state in
            guard let data = state.streams[stream] else { return [] }
            return data.order.compactMap { data.messages[$0] }.map { Self.entry(from: $0, stream: stream) }
        }
    }

    static func store(
        in stream: inout Stream, subject: String, payload: [UInt8], headers: [(name: String, value: String)], time: Date
    ) -> UInt64 {
        stream.lastSequence += 1
        let sequence = stream.lastSequence
        let message = Message(sequence: sequence, time: time, subject: subject, payload: payload, headers: headers)
        stream.messages[sequence] = message
        stream.order.append(sequence)
        stream.subjectSequences[subject, default: []].append(sequence)
        stream.lastBySubject[subject] = sequence
        if !stream.followers.isEmpty {
            let batch = LogBatch(entries: [entry(from: message, stream: stream.name)], position: sequence)
            for follower in stream.followers.values { follower.continuation.yield(batch) }
        }
        return sequence
    }

    static func entry(from message: Message, stream: String) -> LogEntry {
        EventCodec.entry(
            sequence: message.sequence, time: message.time, subject: message.subject, stream: stream,
            payload: message.payload, header: { name in message.headers.first { $0.name == name }?.value })
    }
}
