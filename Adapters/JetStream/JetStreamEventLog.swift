public import EventbaseCore
import Foundation
public import Logging
import Synchronization

/// An ``EventLog`` on a NATS JetStream stream, compatible with eventbase v3: the stream
/// `<streamName>` captures `<streamName>.*`, and each event is a message on
/// `<streamName>.<base64(key)>-put` or `-delete` (see ``EventCodec``).
///
/// - Appends publish with `Nats-Msg-Id` (the event id, so a retried append is stored once) and wait
///   for the server's ack. Conditions become `Nats-Expected-Last-Subject-Sequence` on the key's
///   `-put` subject.
/// - Readers are ordered consumers (ephemeral push consumers without acks, with flow control and
///   idle heartbeats), recreated from the last delivered sequence on any gap, missed heartbeat or
///   reconnect; entries arrive in batches of whatever is buffered.
/// - Purges use the server's purge with a subject filter and an exclusive upper sequence.
///
/// It talks only to a ``Transport``; it neither connects nor closes it (whoever owns the transport
/// does, for example the ``Eventbase`` instance given it with `.transport(_:)`).
///
/// Errors: `.timeout` after ``JetStreamStreamOptions/requestTimeout``; `.unavailable` when JetStream is
/// not enabled or not reachable; `.conflict`; `.streamDeleted` once the stream is gone;
/// `.limitExceeded`; `.closed` after ``close()``.
public final class JetStreamEventLog: EventLog {
    /// The stream this log stores.
    public let streamName: String
    /// How the stream is created and read.
    public let options: JetStreamStreamOptions
    /// The JetStream API client it uses.
    public let context: JetStreamContext
    private let clock: any Clock<Duration>
    private let logger: Logger

    private struct State {
        var closed = false
        var opened: StreamIdentity?
        /// Whether the stream has one replica that answers direct gets (its answer is then current).
        var directReads = false
        var readers: [Int: JetStreamLogReader] = [:]
        var nextReader = 0
    }

    private let state = Mutex(State())

    /// Creates a log of `streamName` over `transport`.
    /// - Parameters:
    ///   - streamName: The stream (created by ``open()`` if missing).
    ///   - transport: The connection to NATS; the log does not own it.
    ///   - options: The stream's configuration and the client's deadlines.
    ///   - clock: The clock for heartbeat checks and retry delays.
    ///   - logger: Where readers report failed consumers and retries (`warning`) and consumer
    ///     recreation (`debug`, `trace`) (default: nowhere).
    public init(
        streamName: String, transport: any Transport, options: JetStreamStreamOptions = JetStreamStreamOptions(),
        clock: any Clock<Duration> = ContinuousClock(),
        logger: Logger = Logger(label: "eventbase.jetstream", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.logger = logger
        self.streamName = streamName
        self.options = options
        var context = JetStreamContext(
            transport: transport, requestTimeout: options.requestTimeout, domain: options.domain)
        context.infoResendInterval = options.resendInterval
        self.context = context
        self.clock = clock
    }

    private func checkOpen() throws {
        if state.withLock({ $0.closed }) { throw EventbaseError(.closed, "This event log is closed.") }
    }

    /// The connection's state, as the transport reports it.
    public var connectionStatus: ConnectionStatus? { context.transport.connectionStatus }

    /// Whether the stream was opened, so that "not found" means it was deleted.
    private var wasOpened: Bool { state.withLock { $0.opened != nil } }

    private func gone(_ error: EventbaseError) -> EventbaseError {
        guard error.code == .streamNotFound, wasOpened else { return error }
        return JetStreamLogReader.deleted(streamName, cause: error)
    }

    /// Creates the stream if it does not exist and reports its state.
    /// - Throws: `.invalidStreamName`; `.unavailable` (with what to do when JetStream is not
    ///   enabled); `.timeout`; `.permissionDenied`; `.closed`.
    public func open() async throws -> LogState {
        try checkOpen()
        try NameRules.validateStreamName(streamName)
        let config = options.streamConfig(name: streamName)
        try Self.refuseDivergingLimits(config.divergingLimits, stream: streamName, existing: false)
        let info = try await context.createStreamIfMissing(config)
        try Self.refuseDivergingLimits(info.config.divergingLimits, stream: streamName, existing: true)
        let logState = info.logState
        let directReads = info.config.replicas == 1 && info.config.allowDirect
        state.withLock {
            $0.opened = logState.identity
            $0.directReads = directReads
        }
        return logState
    }

    /// Refuses limits that make the server remove events that are not superseded: replicas that
    /// were running would keep what a replica started afterwards never sees.
    private static func refuseDivergingLimits(_ limits: [String], stream: String, existing: Bool) throws {
        guard !limits.isEmpty else { return }
        let names = limits.joined(separator: ", ")
        if existing {
            throw EventbaseError(
                .invalidArgument,
                "Stream \(stream) has \(names) set: the server would remove events that running replicas still hold, and replicas would disagree. Remove the limit (for example `nats stream edit \(stream) --max-age=0 --max-bytes=-1 --max-msgs=-1`) or use another stream."
            )
        }
        throw EventbaseError(
            .invalidArgument,
            "JetStreamStreamOptions sets \(names): the server would remove events that running replicas still hold, and replicas would disagree. Leave them unset; to bound the stream, keep the default retention (older puts of a key are purged)."
        )
    }

    /// The stream's last sequence, message count and identity.
    /// - Throws: `.streamDeleted` when the stream is gone; `.timeout`; `.unavailable`; `.closed`.
    public func state() async throws -> LogState {
        try checkOpen()
        do {
            return try await context.streamInfo(streamName).logState
        } catch let error as EventbaseError where error.code == .streamNotFound {
            throw JetStreamLogReader.deleted(streamName, cause: error)
        }
    }

    /// Publishes the event and waits for the server's ack.
    /// - Throws: `.conflict` when `condition` fails; `.invalidArgument` for a key condition on a delete;
    ///   `.timeout` (the outcome is unknown: an append retried with the same event id is stored once); `.unavailable` (also while a
    ///   replicated stream has no leader);
    ///   `.limitExceeded`; `.streamDeleted`; `.closed`.
    public func append(_ event: Event, condition: AppendCondition?) async throws -> AppendAck {
        try checkOpen()
        var options = JetStreamPublishOptions(resendInterval: self.options.resendInterval)
        switch condition {
        case nil:
            break
        case .keyRevision(let revision)?:
            guard event.kind == .put else { throw Self.conditionalDelete }
            options.expectedLastSubjectSequence = revision
        case .keyAbsent?:
            guard event.kind == .put else { throw Self.conditionalDelete }
            options.expectedLastSubjectSequence = 0
        case .lastSequence(let sequence)?:
            options.expectedLastSequence = sequence
        }
        let fields = EventCodec.headers(for: event)
        let headers = fields.isEmpty ? nil : MessageHeaders(fields: fields)
        let subject = EventCodec.subject(stream: streamName, key: event.key, kind: event.kind)
        do {
            let ack = try await context.publish(
                subject, payload: EventCodec.encodePayload(event), headers: headers, options: options)
            return AppendAck(sequence: ack.sequence, time: nil, duplicate: ack.duplicate)
        } catch let error as EventbaseError {
            if error.code == .conflict {
                throw EventbaseError(
                    .conflict,
                    "The key \(event.key) changed since the expected revision; read it again and retry. (\(error.message))",
                    cause: error.cause ?? error)
            }
            if error.code == .streamNotFound, wasOpened {
                throw await unanswered(error)
            }
            throw gone(error)
        }
    }

    /// What a publish that no stream answered means. A replicated stream answers only through its
    /// leader, so while a new leader is elected (after the old one crashed or hung) a publish gets
    /// no responders although the stream exists: that is `.unavailable` (retry with the same
    /// event), not `.streamDeleted`. Only when the stream's info says it is gone is it deleted.
    ///
    /// The check gets at most a second: without a leader the info request goes unanswered too, and
    /// waiting a full request timeout would stretch every write's failure during an election.
    private func unanswered(_ error: EventbaseError) async -> EventbaseError {
        var probe = context
        probe.requestTimeout = min(context.requestTimeout, .seconds(1))
        do {
            _ = try await probe.streamInfo(streamName)
        } catch let info as EventbaseError where info.code == .streamNotFound {
            return JetStreamLogReader.deleted(streamName, cause: error)
        } catch {
            // The stream's state is unknown too: report what is certain, that nothing answered.
        }
        return EventbaseError(
            .unavailable,
            "No JetStream server accepted the write to stream \(streamName) (no stream leader, for example during a leader election); it may or may not have been stored (retry with an idempotency key to be safe).",
            cause: error)
    }

    private static var conditionalDelete: EventbaseError {
        EventbaseError(
            .invalidArgument,
            "JetStreamEventLog checks key conditions on puts only; append the delete without one, or with a .lastSequence condition."
        )
    }

    /// Reads entries in order from `sequence`, then follows new ones, through an ordered consumer.
    public func entries(from sequence: UInt64) -> LogEntries {
        let reader = JetStreamLogReader(
            context: context, streamName: streamName, start: sequence, options: options,
            expectedIdentity: state.withLock { $0.opened }, clock: clock, logger: logger)
        let id = state.withLock { state -> Int? in
            guard !state.closed else { return nil }
            let id = state.nextReader
            state.nextReader += 1
            state.readers[id] = reader
            return id
        }
        guard let id else {
            let (stream, continuation) = AsyncThrowingStream<LogBatch, any Error>.makeStream()
            continuation.finish(throwing: EventbaseError(.closed, "This event log is closed."))
            return LogEntries(stream)
        }
        reader.start()
        let lease = ReaderLease(reader: reader) { [weak self] in
            _ = self?.state.withLock { $0.readers.removeValue(forKey: id) }
        }
        return LogEntries(AsyncThrowingStream(unfolding: { try await lease.next() }))
    }

    /// The sequence of the stream's newest message (0 when it holds none): a reader that has applied
    /// it has seen every acknowledged write, since a message is purged only below a newer write. One
    /// request: a direct get on a stream of one replica, otherwise a get that the stream's leader
    /// answers (a follower's direct get may lag it).
    /// - Throws: `.streamDeleted`; `.timeout`; `.unavailable`; `.closed`.
    public func latestSequence() async throws -> UInt64 {
        try checkOpen()
        do {
            let message = try await context.lastMessage(
                stream: streamName, subject: EventCodec.wildcardSubject(stream: streamName),
                direct: state.withLock { $0.directReads })
            return message?.sequence ?? 0
        } catch let error as EventbaseError {
            throw gone(error)
        }
    }

    /// The message at `sequence` as an entry (a direct get when the stream allows it), or `nil` when
    /// the stream does not hold it.
    /// - Throws: `.streamDeleted`; `.timeout`; `.unavailable`; `.closed`.
    public func entry(atSequence sequence: UInt64) async throws -> LogEntry? {
        try checkOpen()
        let message: JetStreamStoredMessage?
        do {
            message = try await context.message(stream: streamName, sequence: sequence)
        } catch let error as EventbaseError {
            throw gone(error)
        }
        guard let message, message.sequence == sequence else { return nil }
        return EventCodec.entry(
            sequence: sequence, time: message.time ?? Date(timeIntervalSince1970: 0), subject: message.subject,
            stream: streamName, payload: message.payload, header: { message.headers?[$0] })
    }

    /// Purges the key's put messages with a sequence below `sequence`.
    /// - Returns: How many messages were removed.
    /// - Throws: `.streamDeleted`; `.timeout`; `.unavailable`; `.closed`.
    public func purgePuts(of key: String, before sequence: UInt64) async throws -> Int {
        try checkOpen()
        // A purge with no upper sequence would remove every put of the key.
        guard sequence > 1 else { return 0 }
        do {
            let purged = try await context.purgeStream(
                streamName, subject: EventCodec.subject(stream: streamName, key: key, kind: .put), sequence: sequence)
            return Int(clamping: purged)
        } catch let error as EventbaseError {
            throw gone(error)
        }
    }

    /// Purges the key's delete messages with a sequence below `sequence`.
    /// - Returns: How many messages were removed.
    /// - Throws: `.streamDeleted`; `.timeout`; `.unavailable`; `.closed`.
    public func purgeDeletes(of key: String, before sequence: UInt64) async throws -> Int {
        try checkOpen()
        guard sequence > 1 else { return 0 }
        do {
            let purged = try await context.purgeStream(
                streamName, subject: EventCodec.subject(stream: streamName, key: key, kind: .delete),
                sequence: sequence)
            return Int(clamping: purged)
        } catch let error as EventbaseError {
            throw gone(error)
        }
    }

    /// Removes the key's delete message at `sequence` and every older message of the key, if the
    /// stream's leader holds no message of the key after it: two reads of the last message on the
    /// key's subjects, then purges below `sequence` (puts) and `sequence + 1` (deletes), which leave a
    /// write that arrives meanwhile alone.
    /// - Returns: How many messages were removed.
    /// - Throws: `.streamDeleted`; `.timeout`; `.unavailable`; `.closed`.
    public func compactDeleted(_ key: String, at sequence: UInt64) async throws -> Int {
        try checkOpen()
        let putSubject = EventCodec.subject(stream: streamName, key: key, kind: .put)
        let deleteSubject = EventCodec.subject(stream: streamName, key: key, kind: .delete)
        do {
            let lastPut = try await context.lastMessage(stream: streamName, subject: putSubject)
            if let lastPut, lastPut.sequence > sequence { return 0 }
            guard try await context.lastMessage(stream: streamName, subject: deleteSubject)?.sequence == sequence else {
                return 0
            }
            var purged: UInt64 = 0
            if lastPut != nil {
                purged += try await context.purgeStream(streamName, subject: putSubject, sequence: sequence)
            }
            purged += try await context.purgeStream(streamName, subject: deleteSubject, sequence: sequence + 1)
            return Int(clamping: purged)
        } catch let error as EventbaseError {
            throw gone(error)
        }
    }

    /// Deletes the stream; this log's readers end with `.streamDeleted` (other processes' readers
    /// learn it from the server).
    /// - Throws: `.streamNotFound` when it does not exist; `.timeout`; `.unavailable`; `.closed`.
    public func destroy() async throws {
        try checkOpen()
        try await context.deleteStream(streamName)
        let readers = state.withLock { state in
            defer { state.readers = [:] }
            return Array(state.readers.values)
        }
        for reader in readers { await reader.stop(throwing: JetStreamLogReader.deleted(streamName)) }
    }

    /// Stops every reader (they finish) and rejects further calls. Does not close the transport. Idempotent.
    public func close() async {
        let readers = state.withLock { state in
            state.closed = true
            defer { state.readers = [:] }
            return Array(state.readers.values)
        }
        for reader in readers { await reader.stop() }
    }
}

/// Keeps a reader alive while its entries are being iterated; when the sequence is dropped, the
/// reader stops.
private final class ReaderLease: Sendable {
    let reader: JetStreamLogReader
    let release: @Sendable () -> Void

    init(reader: JetStreamLogReader, release: @escaping @Sendable () -> Void) {
        self.reader = reader
        self.release = release
    }

    func next() async throws -> LogBatch? {
        try await reader.channel.next()
    }

    deinit {
        reader.cancel()
        release()
    }
}
