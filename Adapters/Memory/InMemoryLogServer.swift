public import EventbaseCore
public import Foundation
import Synchronization

/// An in-process stand-in for a JetStream server: it holds streams of events that any number of
/// ``InMemoryEventLog``s read and write.
///
/// Entries are kept as replicas read them: what JetStream's wire would carry (subject, JSON payload,
/// headers) decoded by ``EventCodec``. An appended event takes a shortcut that gives the same entry
/// without the round trip through JSON (see ``InMemoryEventLog/append(_:condition:)``); raw messages,
/// as another client (or eventbase v3) would publish them with
/// ``publishRaw(stream:subject:payload:headers:)``, are decoded once, when stored. Share one server
/// between instances to test several replicas of one stream.
public final class InMemoryLogServer: Sendable {
    /// The puts of one key still in a stream, oldest first (most keys have one).
    struct PutSequences {
        private var first: UInt64 = 0
        private var rest: [UInt64] = []

        var isEmpty: Bool { first == 0 }
        var last: UInt64? { rest.last ?? (first == 0 ? nil : first) }

        mutating func append(_ sequence: UInt64) {
            if first == 0 { first = sequence } else { rest.append(sequence) }
        }

        /// Removes the sequences below `bound`; returns them.
        mutating func remove(below bound: UInt64) -> [UInt64] {
            let all = first == 0 ? [] : [first] + rest
            let removed = all.filter { $0 < bound }
            guard !removed.isEmpty else { return [] }
            let kept = all.filter { $0 >= bound }
            first = kept.first ?? 0
            rest = Array(kept.dropFirst())
            return removed
        }
    }

    /// A reader waiting for entries, woken by the next append (or by the stream's end, or its log's close).
    struct Waiter {
        let owner: ObjectIdentifier
        let continuation: UnsafeContinuation<Void, Never>
    }

    struct Stream {
        let name: String
        let created: Date
        /// Tells this stream from an earlier one of the same name (deleted or recreated meanwhile).
        let incarnation: Int
        var lastSequence: UInt64 = 0
        /// The entries by sequence (`nil` once purged).
        var slots = LogSlots()
        /// The surviving puts of each key (byte for byte): the messages on its put subject, which
        /// purges and expected-last-subject-sequence checks address.
        var puts: [ExactKey: PutSequences] = [:]
        /// The surviving deletes of each key (its delete subject's messages).
        var deletes: [ExactKey: PutSequences] = [:]
        /// The ids of recent appends, for de-duplication, in two generations: the current one, and
        /// the one before it, dropped whole when the current one is full. So the last `window` ids
        /// are always remembered (and at most the last `2 × window`), without removing ids one by one.
        var recentIDs: [ExactKey: UInt64] = [:]
        var olderIDs: [ExactKey: UInt64] = [:]
        var waiters: [Int: Waiter] = [:]

        init(name: String, created: Date, incarnation: Int) {
            self.name = name
            self.created = created
            self.incarnation = incarnation
        }

        func entry(at sequence: UInt64) -> LogEntry? {
            slots.index(of: sequence).flatMap { slots[$0] }
        }

        /// Stores `entry` at the next sequence (which it must carry) and returns the readers to wake.
        mutating func store(_ entry: LogEntry, putKey: String?, deleteKey: String? = nil) -> [Waiter] {
            lastSequence = entry.sequence
            slots.append(entry)
            if let putKey { puts[ExactKey(putKey), default: PutSequences()].append(entry.sequence) }
            if let deleteKey { deletes[ExactKey(deleteKey), default: PutSequences()].append(entry.sequence) }
            guard !waiters.isEmpty else { return [] }
            defer { waiters.removeAll(keepingCapacity: true) }
            return Array(waiters.values)
        }

        /// Appends `event` unless its id is remembered (then acks the first append as a duplicate)
        /// or `condition` fails (as JetStream's Nats-Expected-Last-Subject-Sequence on the key's put
        /// subject). `makeEntry` builds the entry at the sequence and time given.
        /// - Returns: The ack, the readers to wake, and a forgotten generation of event ids (to be
        ///   released after the lock is).
        mutating func append(
            _ event: Event, condition: AppendCondition?, time: Date, window: Int,
            makeEntry: (UInt64, Date) -> LogEntry
        ) throws -> (AppendAck, [Waiter], [ExactKey: UInt64]?) {
            if let id = event.eventID, let existing = sequence(ofEventID: id) {
                return (AppendAck(sequence: existing, time: entry(at: existing)?.time, duplicate: true), [], nil)
            }
            if let condition {
                let lastPut = puts[ExactKey(event.key)]?.last
                switch condition {
                case .keyRevision(let revision) where lastPut != revision:
                    throw EventbaseError(
                        .conflict,
                        "The key \(event.key) changed since revision \(revision); read it again and retry.")
                case .keyAbsent where lastPut != nil:
                    throw EventbaseError(.conflict, "The key \(event.key) already exists.")
                case .lastSequence(let expected) where lastSequence != expected:
                    throw EventbaseError(
                        .conflict, "The stream's last sequence is \(lastSequence), not \(expected).")
                default:
                    break
                }
            }
            let sequence = lastSequence + 1
            let waiters = store(
                makeEntry(sequence, time), putKey: event.kind == .put ? event.key : nil,
                deleteKey: event.kind == .delete ? event.key : nil)
            var forgotten: [ExactKey: UInt64]?
            if let id = event.eventID, window > 0 { forgotten = remember(id, sequence: sequence, window: window) }
            return (AppendAck(sequence: sequence, time: time), waiters, forgotten)
        }

        /// Removes the sequences of `key` below `bound` from `index` (`puts` or `deletes`) and their
        /// entries; returns how many entries were removed.
        mutating func purge(
            _ index: WritableKeyPath<Stream, [ExactKey: PutSequences]>, of key: String, below bound: UInt64
        ) -> Int {
            let key = ExactKey(key)
            guard let removed = self[keyPath: index][key]?.remove(below: bound), !removed.isEmpty else { return 0 }
            if self[keyPath: index][key]?.isEmpty == true { self[keyPath: index][key] = nil }
            var purged = 0
            for candidate in removed where remove(candidate) { purged += 1 }
            return purged
        }

        mutating func remove(_ sequence: UInt64) -> Bool {
            guard let index = slots.index(of: sequence) else { return false }
            return slots.clear(index)
        }

        /// The sequence of the append with event id `id`, if it is remembered.
        func sequence(ofEventID id: String) -> UInt64? {
            let id = ExactKey(id)
            return recentIDs[id] ?? olderIDs[id]
        }

        /// Remembers the event id of an append; returns the generation of ids it forgot, to be
        /// released after the lock is.
        mutating func remember(_ id: String, sequence: UInt64, window: Int) -> [ExactKey: UInt64]? {
            recentIDs[ExactKey(id)] = sequence
            guard recentIDs.count >= window else { return nil }
            let forgotten = olderIDs
            olderIDs = recentIDs
            recentIDs = Dictionary(minimumCapacity: min(window, 1 << 20))
            return forgotten
        }

        var logState: LogState {
            LogState(
                lastSequence: lastSequence, messageCount: UInt64(slots.entryCount),
                identity: StreamIdentity(name: name, created: created))
        }
    }

    struct State {
        var streams: [String: Stream] = [:]
        var nextIncarnation = 0
        var nextWaiter = 0

        mutating func makeStream(_ name: String, created: Date) -> Stream {
            nextIncarnation += 1
            return Stream(name: name, created: created, incarnation: nextIncarnation)
        }
    }

    let now: @Sendable () -> Date
    let deduplicationWindow: Int
    let state = Mutex(State())

    /// Creates an empty server.
    /// - Parameters:
    ///   - deduplicationWindow: How many recent event ids each stream remembers, at least, for
    ///     de-duplication (it may remember up to twice as many).
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
        let waiters = try state.withLock { state in
            guard let removed = state.streams.removeValue(forKey: stream) else {
                throw EventbaseError(.streamNotFound, "Stream \(stream) does not exist.")
            }
            state.streams[stream] = state.makeStream(stream, created: created)
            return Array(removed.waiters.values)
        }
        for waiter in waiters { waiter.continuation.resume() }
    }

    /// Publishes a raw message to an existing stream, as another client would. It is decoded as
    /// replicas decode JetStream's messages: one that is not a valid event is stored, and skipped by
    /// replicas.
    /// - Returns: The sequence assigned.
    /// - Throws: `.streamNotFound` when the stream does not exist.
    @discardableResult
    public func publishRaw(
        stream: String, subject: String, payload: [UInt8], headers: [(name: String, value: String)] = []
    ) throws -> UInt64 {
        let parsed = EventCodec.parseSubject(subject, stream: stream)
        // Only the canonical spelling of a key's put subject is that subject.
        let putKey = parsed.flatMap { parsed in
            parsed.kind == .put && EventCodec.subject(stream: stream, key: parsed.key, kind: .put) == subject
                ? parsed.key : nil
        }
        let deleteKey = parsed.flatMap { parsed in
            parsed.kind == .delete && EventCodec.subject(stream: stream, key: parsed.key, kind: .delete) == subject
                ? parsed.key : nil
        }
        let (sequence, waiters) = try state.withLock { state in
            guard state.streams[stream] != nil else {
                throw EventbaseError(.streamNotFound, "Stream \(stream) does not exist.")
            }
            let sequence = state.streams[stream]!.lastSequence + 1
            let entry = EventCodec.entry(
                sequence: sequence, time: now(), subject: subject, stream: stream, payload: payload,
                header: { name in headers.first { $0.name == name }?.value })
            return (sequence, state.streams[stream]!.store(entry, putKey: putKey, deleteKey: deleteKey))
        }
        for waiter in waiters { waiter.continuation.resume() }
        return sequence
    }

    /// Every entry of a stream in order (for tests that fold the log independently).
    public func entries(of stream: String) -> [LogEntry] {
        state.withLock { state in
            guard let data = state.streams[stream] else { return [] }
            return data.slots.entries(from: 0, limit: .max).entries
        }
    }
}
