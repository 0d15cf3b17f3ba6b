public import Foundation

/// The ordered, durable log of one stream: the source of truth that every replica folds.
///
/// ## Implementation requirements
///
/// - **Ordering**: sequences are assigned by the log, start at 1, strictly increase and are never
///   reused (purges leave gaps). ``entries(from:)`` delivers entries in sequence order, never
///   skipping a surviving entry, never repeating one, never reordering.
/// - **Durability**: ``append(_:condition:)`` returns only once the event is durable and readable by
///   every reader at the returned sequence.
/// - **Idempotency**: two appends with the same ``Event/eventID`` within the log's de-duplication
///   window store the event once; the second returns the first's sequence with
///   ``AppendAck/duplicate`` set.
/// - **Following**: the sequence returned by ``entries(from:)`` keeps following new appends until
///   the iterating task is cancelled, ``close()`` is called (it then finishes), or the log fails (it
///   then throws). Its ``LogBatch/position`` lets a reader know it is caught up even when the newest
///   entries were purged.
/// - **Deadlines**: every method that waits on a network or another process gives up after a
///   bounded, configurable time with `.timeout`; Eventbase relies on this for ``append(_:condition:)``
///   (it bounds only the wait for its own replica).
/// - **Thread safety**: every method may be called concurrently.
/// - **Errors** (``EventbaseError`` codes): `.timeout` when a deadline passes (the append may or may
///   not have happened: retry with the same event id); `.unavailable` when the backend cannot be
///   reached; `.conflict` when an ``AppendCondition`` fails; `.streamNotFound` / `.streamDeleted`
///   when the stream is gone; `.closed` after ``close()``.
///
/// The conformance suite `EventLogConformance` in EventbaseTestKit checks these.
public protocol EventLog: Sendable {
    /// The name of the stream this log stores.
    var streamName: String { get }

    /// Opens the log, creating the stream if it does not exist, and reports its current state.
    /// - Throws: `.unavailable`, `.timeout`, `.invalidStreamName`, `.permissionDenied`.
    func open() async throws -> LogState

    /// Appends an event and returns once it is durable.
    /// - Parameters:
    ///   - event: The event to append.
    ///   - condition: An optimistic-concurrency check, or `nil`.
    /// - Returns: The sequence and time the log assigned.
    /// - Throws: `.conflict` when `condition` fails; `.timeout`; `.unavailable`; `.limitExceeded`
    ///   for an event larger than the log accepts; `.streamDeleted`; `.closed`.
    func append(_ event: Event, condition: AppendCondition?) async throws -> AppendAck

    /// Reads entries in order starting at `sequence` (the first surviving entry at or after it) and
    /// keeps following new ones.
    func entries(from sequence: UInt64) -> LogEntries

    /// The current state: last sequence, message count, identity.
    /// - Throws: `.unavailable`, `.timeout`, `.streamDeleted`, `.closed`.
    func state() async throws -> LogState

    /// A sequence that a reader has seen every acknowledged append once it has applied: the newest
    /// entry's, or the log's last sequence. Reads at ``Consistency/latest`` wait for it, so it should
    /// cost one quick request. The default implementation returns ``state()``'s `lastSequence`.
    /// - Throws: `.timeout`; `.unavailable`; `.streamDeleted`; `.closed`.
    func latestSequence() async throws -> UInt64

    /// The entry stored at `sequence`, or `nil` when the log does not hold it (purged, or never
    /// written). Eventbase reads single entries only to answer a repeated idempotent write with what
    /// the first one stored. The default implementation returns `nil` (the log cannot read single
    /// entries).
    /// - Throws: `.timeout`; `.unavailable`; `.streamDeleted`; `.closed`.
    func entry(atSequence sequence: UInt64) async throws -> LogEntry?

    /// Purges the put events of `key` with a sequence lower than `sequence`.
    ///
    /// After a put at sequence S, purging below S keeps only the newest put (as eventbase v3 does,
    /// but without erasing a newer put written by someone else meanwhile).
    /// - Returns: How many entries were removed.
    func purgePuts(of key: String, before sequence: UInt64) async throws -> Int

    /// Purges the delete events of `key` with a sequence lower than `sequence` (its delete markers
    /// that a later write of the key supersedes). Eventbase calls it only after
    /// ``purgePuts(of:before:)`` with the same bound succeeded. The default implementation removes
    /// nothing (returns 0).
    /// - Returns: How many entries were removed.
    func purgeDeletes(of key: String, before sequence: UInt64) async throws -> Int

    /// Removes the delete event of `key` at `sequence` together with every older event of the key,
    /// but only if the key has no event after `sequence` (the delete is its last write): a delete
    /// marker whose retention has passed. A write of the key that arrives meanwhile is kept. The
    /// default implementation removes nothing (returns 0).
    /// - Returns: How many entries were removed (0 when the key was written again).
    func compactDeleted(_ key: String, at sequence: UInt64) async throws -> Int

    /// Deletes the whole stream. Readers of it fail with `.streamDeleted`.
    func destroy() async throws

    /// Stops every reader and releases resources. Idempotent.
    func close() async

    /// The state of the log's connection to its server, for ``Eventbase/health(timeout:)``; `nil` when the
    /// log has no connection (the default) or cannot tell. Must not block or do I/O.
    var connectionStatus: ConnectionStatus? { get }
}

extension EventLog {
    /// The log's last sequence, from ``state()``.
    public func latestSequence() async throws -> UInt64 { try await state().lastSequence }

    /// Removes nothing: 0.
    public func purgeDeletes(of key: String, before sequence: UInt64) async throws -> Int { 0 }

    /// Removes nothing: 0.
    public func compactDeleted(_ key: String, at sequence: UInt64) async throws -> Int { 0 }

    /// Cannot read single entries: `nil`.
    public func entry(atSequence sequence: UInt64) async throws -> LogEntry? { nil }

    /// No connection to report: `nil`.
    public var connectionStatus: ConnectionStatus? { nil }
}

/// A log that can also hand out what it already stores without waiting: a log in this process, such
/// as `InMemoryEventLog`.
///
/// Eventbase reads such a log through a ``LogPoller`` instead of ``EventLog/entries(from:)``, and a
/// writer applies what is stored as soon as its append returns (when no other task is applying)
/// instead of waking the replica's reader for each write.
///
/// ## Implementation requirements
///
/// A poller reads exactly what ``EventLog/entries(from:)`` would, in the same batches' order: the
/// ordering, following and position rules of ``EventLog`` apply to the batches its polls return, and
/// a failure that ends the entries is thrown by ``LogPoller/poll()``.
public protocol PollableEventLog: EventLog {
    /// A reader from `sequence` (the first surviving entry at or after it) that is polled.
    func poller(from sequence: UInt64) -> any LogPoller
}

/// A reader of a ``PollableEventLog``: ``poll()`` takes what is stored, ``waitForEntries()`` waits for
/// more.
///
/// Any task may poll. Successive polls return consecutive batches that never overlap, so a caller that
/// polls from several tasks applies each batch before the next poll (Eventbase holds one lock across
/// both).
public protocol LogPoller: Sendable {
    /// Takes everything stored since the last poll (at most a number of entries the log chooses):
    /// `.empty` when nothing is, `.finished` once the log closed (and on every later call).
    /// Cancelling the polling task does not end the reader.
    /// - Throws: what iterating ``EventLog/entries(from:)`` would throw (`.streamDeleted`, for
    ///   example), on this and every later call.
    func poll() throws -> LogPoll

    /// Returns once there may be something to poll: an append, the log closing or failing, or the
    /// calling task being cancelled. Returns at once when something was stored since the last poll.
    func waitForEntries() async
}

/// What a ``LogPoller/poll()`` found.
public enum LogPoll: Sendable {
    /// Entries (possibly none, when only the position moved). `caughtUp`: they reach everything the
    /// log stored when polled (another poll now would find nothing).
    case batch(LogBatch, caughtUp: Bool)
    /// Nothing since the last poll.
    case empty
    /// The log closed; nothing more will come.
    case finished
}

/// The state of a log.
public struct LogState: Sendable, Hashable {
    /// The sequence of the newest entry ever appended (0 for a new stream), even if it was purged.
    public var lastSequence: UInt64
    /// How many entries the log holds now.
    public var messageCount: UInt64
    /// Identifies this incarnation of the stream: a stream deleted and created again has a new one.
    public var identity: StreamIdentity

    /// Creates a state.
    public init(lastSequence: UInt64, messageCount: UInt64, identity: StreamIdentity) {
        self.lastSequence = lastSequence
        self.messageCount = messageCount
        self.identity = identity
    }
}

/// Identifies one incarnation of a stream, so a replica can tell that the stream it followed was
/// deleted and created again (and rebuild instead of silently skipping events).
public struct StreamIdentity: Sendable, Hashable, Codable {
    /// The stream's name.
    public var name: String
    /// When this incarnation was created, to the millisecond, if the log knows.
    public var created: Date?

    /// Creates an identity.
    public init(name: String, created: Date?) {
        self.name = name
        self.created = created.map { Date(millisecondsSince1970: $0.millisecondsSince1970) }
    }
}

/// An optimistic-concurrency check on an append.
public enum AppendCondition: Sendable, Hashable {
    /// The key's newest event must be at this sequence (its current ``Meta/revision``).
    case keyRevision(UInt64)
    /// The key must have no put event in the log (it must not exist).
    case keyAbsent
    /// The log's last sequence must be exactly this one: nothing was appended since (JetStream's
    /// `Nats-Expected-Last-Sequence`).
    case lastSequence(UInt64)
}

/// What the log says once an append is durable.
public struct AppendAck: Sendable, Hashable {
    /// The sequence assigned to the event.
    public var sequence: UInt64
    /// The log's timestamp for the event.
    public var time: Date?
    /// Whether the log had already stored an event with the same id (nothing new was written).
    public var duplicate: Bool

    /// Creates an ack.
    public init(sequence: UInt64, time: Date? = nil, duplicate: Bool = false) {
        self.sequence = sequence
        self.time = time
        self.duplicate = duplicate
    }
}

/// The entries of a log, read in order and followed live, as an `AsyncSequence` of batches.
///
/// Adapters build it from an `AsyncThrowingStream` they feed; iteration ends when the log closes
/// and throws when reading fails.
public struct LogEntries: AsyncSequence, Sendable {
    public typealias Element = LogBatch

    private let stream: AsyncThrowingStream<LogBatch, any Error>

    /// Wraps a stream of batches.
    public init(_ stream: AsyncThrowingStream<LogBatch, any Error>) {
        self.stream = stream
    }

    public func makeAsyncIterator() -> AsyncThrowingStream<LogBatch, any Error>.AsyncIterator {
        stream.makeAsyncIterator()
    }
}
