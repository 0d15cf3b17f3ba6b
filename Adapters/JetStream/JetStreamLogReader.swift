import EventbaseCore
import Foundation
import Synchronization

/// One reader of a stream: an ordered consumer that replays from a start sequence and then
/// follows, never skipping, repeating or reordering an entry.
///
/// It keeps an ephemeral push consumer (no acks, flow control, idle heartbeats) and recreates it
/// from the last delivered sequence + 1 on a gap in consumer sequences, a heartbeat that disagrees,
/// missed heartbeats, a status message, or a reconnect. ``OrderedConsumerState`` makes those
/// decisions; this class does the I/O, in one task (`run()`), and hands entries to a
/// ``BatchChannel``. It fails with `.streamDeleted` when the stream is deleted (learnt from the
/// stream-deleted advisory or when recreating the consumer) or created again.
final class JetStreamLogReader: Sendable {
    enum Event: Sendable {
        case message(TransportMessage, generation: Int)
        case subscriptionEnded(generation: Int, error: EventbaseError?)
        case tick
        case connection(ConnectionEvent)
        case streamDeletedAdvisory
    }

    let channel: BatchChannel
    private let context: JetStreamContext
    private let streamName: String
    private let startSequence: UInt64
    private let options: JetStreamStreamOptions
    private let expectedIdentity: StreamIdentity?
    private let clock: any Clock<Duration>
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// Creates a reader (call ``start()`` to run it).
    /// - Parameters:
    ///   - expectedIdentity: The stream incarnation the reader must follow; `nil` to take the
    ///     current one.
    init(
        context: JetStreamContext, streamName: String, start: UInt64, options: JetStreamStreamOptions,
        expectedIdentity: StreamIdentity?, clock: any Clock<Duration>
    ) {
        self.context = context
        self.streamName = streamName
        self.startSequence = start
        self.options = options
        self.expectedIdentity = expectedIdentity
        self.clock = clock
        self.channel = BatchChannel(capacity: options.readBufferSize, position: max(1, start) - 1)
    }

    /// Starts the reader's task.
    func start() {
        let task = Task { await self.run() }
        self.task.withLock { $0 = task }
    }

    /// Ends the reader: its consumer gets what is buffered, then `error` (or the end).
    func stop(throwing error: (any Error)? = nil) async {
        channel.finish(throwing: error)
        let task = self.task.withLock { $0 }
        task?.cancel()
        await task?.value
    }

    /// Ends the reader without waiting for its task.
    func cancel() {
        channel.finish()
        task.withLock { $0 }?.cancel()
    }

    // MARK: Running

    private func run() async {
        let inbox = ReaderInbox<Event>()
        let events = context.transport.connectionEvents()
        let heartbeat = options.idleHeartbeat
        let clock = self.clock
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in events { inbox.push(.connection(event)) }
            }
            group.addTask {
                while true {
                    do { try await clock.sleep(for: heartbeat) } catch { return }
                    inbox.push(.tick)
                }
            }
            var session = Session(reader: self, inbox: inbox)
            do {
                try await session.follow(group: &group)
            } catch {
                channel.finish(throwing: Self.final(error, stream: streamName))
            }
            await session.close()
            group.cancelAll()
        }
    }

    private static func final(_ error: any Error, stream: String) -> any Error {
        guard let error = error as? EventbaseError else { return error }
        if error.code == .streamNotFound { return deleted(stream, cause: error) }
        return error
    }

    static func deleted(_ stream: String, cause: (any Error)? = nil) -> EventbaseError {
        EventbaseError(
            .streamDeleted, "Stream \(stream) was deleted; open a new instance to recreate it.", cause: cause)
    }

    /// Whether an error ends the reader rather than being retried.
    static func isFatal(_ error: any Error) -> Bool {
        if error is CancellationError { return true }
        guard let error = error as? EventbaseError else { return false }
        switch error.code {
        case .streamDeleted, .streamNotFound, .closed, .cancelled, .permissionDenied, .authenticationFailed:
            return true
        default:
            return false
        }
    }

    /// The reader's mutable state while it runs.
    private struct Session {
        let reader: JetStreamLogReader
        let inbox: ReaderInbox<Event>
        var machine: OrderedConsumerState
        var generation = 0
        var subscription: TransportSubscription?
        var advisory: TransportSubscription?
        var identity: StreamIdentity?
        var connected = true
        var needsReset = true
        var retryDelay: Duration = .milliseconds(50)

        init(reader: JetStreamLogReader, inbox: ReaderInbox<Event>) {
            self.reader = reader
            self.inbox = inbox
            self.machine = OrderedConsumerState(start: reader.startSequence)
            self.identity = reader.expectedIdentity
        }

        var transport: any Transport { reader.context.transport }
        var streamName: String { reader.streamName }

        mutating func follow(group: inout TaskGroup<Void>) async throws {
            let inbox = self.inbox
            if let advisory = try? await transport.subscribe("$JS.EVENT.ADVISORY.STREAM.DELETED." + streamName) {
                self.advisory = advisory
                group.addTask {
                    do {
                        for try await _ in advisory { inbox.push(.streamDeletedAdvisory) }
                    } catch {}
                }
            }
            while !Task.isCancelled {
                if needsReset {
                    try await establish(group: &group)
                    continue
                }
                let events = await inbox.takeAll()
                try await handle(events)
            }
        }

        func close() async {
            await subscription?.unsubscribe()
            await advisory?.unsubscribe()
        }

        // MARK: Consumer

        /// Reads the stream and creates a consumer from the next sequence, retrying transient
        /// failures with a growing delay.
        mutating func establish(group: inout TaskGroup<Void>) async throws {
            if let subscription {
                await subscription.unsubscribe()
                self.subscription = nil
            }
            // Events queued for the old consumer no longer matter, except the end of everything.
            for event in inbox.takeAvailable() {
                switch event {
                case .connection(.closed(let error)):
                    throw Self.transportClosed(error)
                case .streamDeletedAdvisory:
                    break  // The stream read below tells.
                default:
                    break
                }
            }
            do {
                let info = try await reader.context.streamInfo(streamName)
                try check(info, beforeConsumer: true)
                generation += 1
                let generation = self.generation
                let deliverSubject = "_INBOX." + UUID().uuidString.replacingOccurrences(of: "-", with: "")
                let subscription = try await transport.subscribe(deliverSubject)
                self.subscription = subscription
                let inbox = self.inbox
                group.addTask {
                    do {
                        for try await message in subscription { inbox.push(.message(message, generation: generation)) }
                        inbox.push(.subscriptionEnded(generation: generation, error: nil))
                    } catch {
                        inbox.push(.subscriptionEnded(generation: generation, error: error as? EventbaseError))
                    }
                }
                let consumer = try await reader.context.createOrderedConsumer(
                    stream: streamName, start: machine.nextStart, deliverSubject: deliverSubject,
                    idleHeartbeat: reader.options.idleHeartbeat)
                machine.consumerCreated(pending: consumer.pending)
                needsReset = false
                retryDelay = .milliseconds(50)
                await reader.channel.send([], position: machine.position)
            } catch {
                if JetStreamLogReader.isFatal(error) { throw error }
                try await reader.clock.sleep(for: retryDelay)
                retryDelay = min(retryDelay * 2, .seconds(2))
            }
        }

        /// Checks that the stream is the incarnation being followed. Only a read made before creating
        /// a consumer may raise the consumer's known last sequence (see ``OrderedConsumerState``).
        mutating func check(_ info: JetStreamStreamInfo, beforeConsumer: Bool) throws {
            let current = info.logState.identity
            if let identity, identity != current {
                throw JetStreamLogReader.deleted(streamName)
            }
            identity = current
            guard info.lastSequence >= machine.knownLastSequence else {
                throw JetStreamLogReader.deleted(streamName)
            }
            if beforeConsumer { _ = machine.streamRead(lastSequence: info.lastSequence) }
        }

        static func transportClosed(_ error: EventbaseError?) -> EventbaseError {
            EventbaseError(.closed, "The connection to NATS was closed; the log can no longer be read.", cause: error)
        }

        // MARK: Events

        mutating func handle(_ events: [Event]) async throws {
            var entries: [LogEntry] = []
            var replies: [String] = []
            var checkStream = false
            var probe = false
            for event in events {
                switch event {
                case .message(let message, let generation):
                    guard generation == self.generation, !needsReset else { continue }
                    switch machine.receive(message) {
                    case .deliver(let sequence, let time):
                        entries.append(reader.entry(message, sequence: sequence, time: time))
                    case .flowControl(let reply):
                        replies.append(reply)
                    case .heartbeat(let stalled):
                        if let stalled { replies.append(stalled) }
                    case .skip:
                        break
                    case .reset:
                        needsReset = true
                    }
                case .subscriptionEnded(let generation, let error):
                    guard generation == self.generation else { continue }
                    if error?.code == .closed { throw Self.transportClosed(error) }
                    needsReset = true
                case .tick:
                    guard connected, !needsReset else { continue }
                    switch machine.tick() {
                    case .none: break
                    case .probe: probe = true
                    case .reset: needsReset = true
                    }
                case .connection(let change):
                    switch change {
                    case .connected: connected = true
                    case .disconnected: connected = false
                    case .reconnected:
                        connected = true
                        needsReset = true
                    case .closed(let error): throw Self.transportClosed(error)
                    }
                case .streamDeletedAdvisory:
                    checkStream = true
                }
            }
            await reader.channel.send(entries, position: machine.position)
            if !needsReset {
                for reply in replies { try? await transport.publish(reply, payload: []) }
            }
            if checkStream {
                do {
                    try check(try await reader.context.streamInfo(streamName), beforeConsumer: false)
                } catch {
                    if JetStreamLogReader.isFatal(error) { throw error }
                }
            }
            if probe, !needsReset {
                do {
                    let info = try await reader.context.streamInfo(streamName)
                    try check(info, beforeConsumer: false)
                    let next = try await reader.context.message(
                        stream: streamName, sequence: machine.position + 1,
                        nextOnSubject: EventCodec.wildcardSubject(stream: streamName))
                    machine.probed(lastSequence: info.lastSequence, nextExisting: next?.sequence)
                    await reader.channel.send([], position: machine.position)
                } catch {
                    if JetStreamLogReader.isFatal(error) { throw error }
                }
            }
        }
    }

    /// Decodes a delivered message; a message that is not a valid event becomes an `.invalid` entry.
    func entry(_ message: TransportMessage, sequence: UInt64, time: Date) -> LogEntry {
        do {
            let event = try EventCodec.decode(
                subject: message.subject, stream: streamName, payload: message.payload,
                header: { message.headers?[$0] })
            return LogEntry(sequence: sequence, time: time, event: event)
        } catch {
            let reason = (error as? EventbaseError)?.message ?? "\(error)"
            return LogEntry(sequence: sequence, time: time, payload: .invalid(subject: message.subject, reason: reason))
        }
    }
}
