import EventbaseCore
import Foundation
import Logging
import Synchronization

/// One reader of a stream: an ordered consumer that replays from a start sequence and then
/// follows, never skipping, repeating or reordering an entry.
///
/// It keeps an ephemeral push consumer (no acks, flow control, idle heartbeats) and recreates it
/// from the last delivered sequence + 1 on a gap in consumer sequences, a heartbeat that disagrees,
/// missed heartbeats, a status message, or a reconnect. ``OrderedConsumerState`` makes those
/// decisions. Two tasks do the I/O: the reading loop, the only one that touches the state and the
/// ``BatchChannel``, iterates the delivery subscription directly (no hand-off per message); a
/// watchdog handles heartbeat ticks, connection events and the stream-deleted advisory, and
/// interrupts the reading loop by ending its subscription. It fails with `.streamDeleted` when the
/// stream is deleted or created again.
final class JetStreamLogReader: Sendable {
    enum WatchEvent: Sendable {
        case tick
        case connection(ConnectionEvent)
        case streamDeletedAdvisory
    }

    /// What the watchdog asks of the reading loop.
    enum Interrupt: Sendable {
        /// Recreate the consumer.
        case reset
        /// Stop with this error.
        case fail(EventbaseError)
    }

    /// State shared by the reading loop and the watchdog.
    struct Control: Sendable {
        var idleTicks = 0
        var connected = true
        var interrupt: Interrupt?
        var subscription: TransportSubscription?
        var identity: StreamIdentity?
        var knownLastSequence: UInt64 = 0

        /// Asks for `interrupt` (a failure wins over a reset) and returns the subscription to end.
        mutating func request(_ interrupt: Interrupt) -> TransportSubscription? {
            if case .fail? = self.interrupt { return nil }
            self.interrupt = interrupt
            return subscription
        }
    }

    let channel: BatchChannel
    private let context: JetStreamContext
    private let streamName: String
    private let startSequence: UInt64
    private let options: JetStreamStreamOptions
    private let clock: any Clock<Duration>
    private let logger: Logger
    private let control: Mutex<Control>
    private let task = Mutex<Task<Void, Never>?>(nil)
    /// How many silent heartbeat intervals are tolerated before the consumer is recreated.
    static let silentTickLimit = 2
    /// The deadline of each request made to create a consumer.
    static let attemptTimeout: Duration = .seconds(1)

    /// Creates a reader (call ``start()`` to run it).
    /// - Parameters:
    ///   - expectedIdentity: The stream incarnation the reader must follow; `nil` to take the
    ///     current one.
    init(
        context: JetStreamContext, streamName: String, start: UInt64, options: JetStreamStreamOptions,
        expectedIdentity: StreamIdentity?, clock: any Clock<Duration>, logger: Logger
    ) {
        self.logger = logger
        self.context = context
        self.streamName = streamName
        self.startSequence = start
        self.options = options
        self.clock = clock
        self.control = Mutex(Control(identity: expectedIdentity))
        self.channel = BatchChannel(capacity: options.readBufferSize, position: max(1, start) - 1)
    }

    /// Starts the reader's task.
    func start() {
        // Stored, not structured: entries(from:) returns a sequence that keeps reading ahead of its
        // iterator (and recreates its consumer); stop() ends and awaits this task.
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

    static func deleted(_ stream: String, cause: (any Error)? = nil) -> EventbaseError {
        EventbaseError(
            .streamDeleted, "Stream \(stream) was deleted; open a new instance to recreate it.", cause: cause)
    }

    static func transportClosed(_ error: EventbaseError?) -> EventbaseError {
        EventbaseError(.closed, "The connection to NATS was closed; the log can no longer be read.", cause: error)
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

    private var transport: any Transport { context.transport }

    // MARK: Running

    private func run() async {
        let inbox = ReaderInbox<WatchEvent>()
        let events = transport.connectionEvents()
        let heartbeat = options.idleHeartbeat
        let clock = self.clock
        let advisory = try? await transport.subscribe("$JS.EVENT.ADVISORY.STREAM.DELETED." + streamName)
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
            if let advisory {
                group.addTask {
                    do {
                        for try await _ in advisory { inbox.push(.streamDeletedAdvisory) }
                    } catch {}
                }
            }
            group.addTask { await self.watch(inbox) }
            do {
                try await read()
            } catch {
                var failure = error
                if let error = error as? EventbaseError, error.code == .streamNotFound {
                    failure = Self.deleted(streamName, cause: error)
                }
                channel.finish(throwing: failure)
            }
            let subscription = control.withLock { control in
                defer { control.subscription = nil }
                return control.subscription
            }
            await subscription?.unsubscribe()
            await advisory?.unsubscribe()
            group.cancelAll()
        }
    }

    // MARK: Watchdog

    private func watch(_ inbox: ReaderInbox<WatchEvent>) async {
        while !Task.isCancelled {
            for event in await inbox.takeAll() {
                var interrupted: TransportSubscription?
                switch event {
                case .tick:
                    // Silence while the consumer of the entries holds the reader back is not a lost consumer.
                    let backedUp = channel.isFull
                    interrupted = control.withLock { control in
                        if backedUp { control.idleTicks = 0 }
                        guard control.connected, control.interrupt == nil, control.subscription != nil else {
                            return nil
                        }
                        control.idleTicks += 1
                        return control.idleTicks > Self.silentTickLimit ? control.request(.reset) : nil
                    }
                case .connection(.connected):
                    control.withLock { $0.connected = true }
                case .connection(.disconnected):
                    control.withLock { $0.connected = false }
                case .connection(.reconnected):
                    interrupted = control.withLock { control in
                        control.connected = true
                        return control.request(.reset)
                    }
                case .connection(.closed(let error)):
                    interrupted = control.withLock { $0.request(.fail(Self.transportClosed(error))) }
                case .streamDeletedAdvisory:
                    if let failure = await checkStream() {
                        interrupted = control.withLock { $0.request(.fail(failure)) }
                    }
                }
                await interrupted?.unsubscribe()
            }
        }
    }

    /// Whether the stream is gone or was created again (as a failure), after the advisory said so.
    private func checkStream() async -> EventbaseError? {
        do {
            let info = try await context.streamInfo(streamName)
            let (identity, known) = control.withLock { ($0.identity, $0.knownLastSequence) }
            if let identity, identity != info.logState.identity { return Self.deleted(streamName) }
            if info.lastSequence < known { return Self.deleted(streamName) }
            return nil
        } catch let error as EventbaseError where error.code == .streamNotFound {
            return Self.deleted(streamName, cause: error)
        } catch {
            return nil
        }
    }

    // MARK: Reading

    private func read() async throws {
        var machine = OrderedConsumerState(start: startSequence)
        var retryDelay: Duration = .milliseconds(50)
        while !Task.isCancelled {
            let subscription: TransportSubscription
            do {
                subscription = try await establish(&machine)
            } catch {
                if Self.isFatal(error) { throw error }
                if let error = error as? EventbaseError, error.code == .timeout {
                    // The attempt itself waited: try again soon, without backing off further.
                    logger.warning(
                        "Creating a consumer to read the stream got no answer; retrying",
                        metadata: ["error": "\(error)"])
                    try await clock.sleep(for: .milliseconds(50))
                    continue
                }
                logger.warning(
                    "Creating a consumer to read the stream failed; retrying",
                    metadata: ["error": "\(error)", "delay": "\(retryDelay)"])
                try await clock.sleep(for: retryDelay)
                retryDelay = min(retryDelay * 2, .seconds(1))
                continue
            }
            let before = machine.consumerSequence
            do {
                try await follow(subscription, &machine)
            } catch let error as EventbaseError where error.code == .closed {
                throw Self.transportClosed(error)
            } catch let error as EventbaseError where Self.isFatal(error) {
                throw error
            } catch {
                // The subscription failed (a slow consumer, for example): recreate the consumer.
                logger.debug("The consumer's subscription failed; recreating it", metadata: ["error": "\(error)"])
            }
            let interrupt = control.withLock { $0.interrupt }
            if case .fail(let failure)? = interrupt { throw failure }
            logger.trace(
                "Recreating the consumer",
                metadata: ["from": "\(machine.nextStart)", "reason": "\(interrupt.map { "\($0)" } ?? "ended")"])
            if interrupt == nil, machine.consumerSequence == before {
                // The server ended a consumer that delivered nothing: do not hammer it.
                try await clock.sleep(for: retryDelay)
                retryDelay = min(retryDelay * 2, .seconds(1))
            } else {
                retryDelay = .milliseconds(50)
            }
        }
    }

    /// Reads the stream and creates a consumer from the next sequence.
    private func establish(_ machine: inout OrderedConsumerState) async throws -> TransportSubscription {
        let previous = control.withLock { control in
            defer { control.subscription = nil }
            return control.subscription
        }
        await previous?.unsubscribe()
        if case .fail(let failure)? = control.withLock({ $0.interrupt }) { throw failure }
        // Short attempts, each a new request, which the read loop repeats: after a failover the
        // servers answer again as soon as the stream and the cluster have leaders, and a request
        // sent before that may stay unanswered. (A consumer created by an attempt that timed out
        // delivers to a subject nobody listens to any more, and the server removes it.)
        var attempt = context
        attempt.requestTimeout = min(context.requestTimeout, Self.attemptTimeout)
        attempt.infoResendInterval = nil
        let info = try await attempt.streamInfo(streamName)
        try check(info, &machine, beforeConsumer: true)
        let deliverSubject = "_INBOX." + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        let subscription = try await transport.subscribe(deliverSubject)
        control.withLock { control in
            control.subscription = subscription
            control.idleTicks = 0
            if case .reset? = control.interrupt { control.interrupt = nil }
        }
        let consumer: JetStreamConsumerInfo
        do {
            consumer = try await attempt.createOrderedConsumer(
                stream: streamName, start: machine.nextStart, deliverSubject: deliverSubject,
                idleHeartbeat: options.idleHeartbeat)
        } catch {
            control.withLock { $0.subscription = nil }
            await subscription.unsubscribe()
            throw error
        }
        machine.consumerCreated(pending: consumer.pending)
        await channel.send([], position: machine.position)
        return subscription
    }

    /// Checks that the stream is the incarnation being followed. Only a read made before creating a
    /// consumer may raise the consumer's known last sequence (see ``OrderedConsumerState``).
    private func check(_ info: JetStreamStreamInfo, _ machine: inout OrderedConsumerState, beforeConsumer: Bool) throws
    {
        let current = info.logState.identity
        let expected = control.withLock { $0.identity }
        if let expected, expected != current { throw Self.deleted(streamName) }
        guard info.lastSequence >= machine.knownLastSequence else { throw Self.deleted(streamName) }
        if beforeConsumer { _ = machine.streamRead(lastSequence: info.lastSequence, replicas: info.config.replicas) }
        let known = machine.knownLastSequence
        control.withLock { control in
            control.identity = current
            control.knownLastSequence = known
        }
    }

    /// Delivers the subscription's messages until it ends or the consumer must be recreated.
    ///
    /// Messages come in the batches the transport read them in; the entries of a batch go to the
    /// channel together, and always before a flow-control answer, a heartbeat's probe or a reset.
    private func follow(_ subscription: TransportSubscription, _ machine: inout OrderedConsumerState) async throws {
        var messages = subscription.makeAsyncIterator()
        var entries: [LogEntry] = []
        while let batch = try await messages.nextBatch() {
            let interrupt = control.withLock { control in
                control.idleTicks = 0
                return control.interrupt
            }
            switch interrupt {
            case .fail(let failure)?: throw failure
            case .reset?: return
            case nil: break
            }
            entries.reserveCapacity(batch.count)
            for message in batch {
                switch machine.receive(message) {
                case .deliver(let sequence, let time):
                    entries.append(entry(message, sequence: sequence, time: time))
                case .flowControl(let reply):
                    // Entries before it are in the channel: answering lets the server send more.
                    await send(&entries, position: machine.position)
                    try? await transport.publish(reply, payload: [])
                case .heartbeat(let stalled):
                    await send(&entries, position: machine.position)
                    if let stalled { try? await transport.publish(stalled, payload: []) }
                    if machine.position < machine.knownLastSequence { try await probe(&machine) }
                case .skip:
                    break
                case .reset(let reason):
                    // Lost deliveries or a consumer the server ended: recovered by recreating it.
                    logger.notice(
                        "The stream's consumer lost its place; recreating it from the next sequence",
                        metadata: ["reason": "\(reason)", "next": "\(machine.nextStart)"])
                    await send(&entries, position: machine.position)
                    return
                }
            }
            await send(&entries, position: machine.position)
        }
    }

    /// Hands `entries` (possibly none: the position may have moved) to the channel and empties them.
    private func send(_ entries: inout [LogEntry], position: UInt64) async {
        let batch = entries
        entries = []
        await channel.send(batch, position: position)
    }

    /// While idle and short of the stream's last sequence: reads the stream's last sequence, then the
    /// first message at or after the position; whatever lies between no longer exists.
    private func probe(_ machine: inout OrderedConsumerState) async throws {
        do {
            let info = try await context.streamInfo(streamName)
            try check(info, &machine, beforeConsumer: false)
            let next = try await context.message(
                stream: streamName, sequence: machine.position + 1,
                nextOnSubject: EventCodec.wildcardSubject(stream: streamName))
            machine.probed(lastSequence: info.lastSequence, nextExisting: next?.sequence)
            await channel.send([], position: machine.position)
        } catch {
            if Self.isFatal(error) { throw error }
        }
    }

    /// Decodes a delivered message; a message that is not a valid event becomes an `.invalid` entry.
    func entry(_ message: TransportMessage, sequence: UInt64, time: Date) -> LogEntry {
        EventCodec.entry(
            sequence: sequence, time: time, subject: message.subject, stream: streamName, payload: message.payload,
            header: { message.headers?[$0] })
    }
}
