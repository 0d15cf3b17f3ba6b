public import EventbaseCore
public import Logging
package import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A NATS client on SwiftNIO: the ``Transport`` that the JetStream adapters run on.
///
/// It multiplexes requests over one wildcard inbox subscription, batches writes, reconnects with
/// backoff and jitter (re-subscribing and flushing publishes buffered while disconnected), detects
/// dead servers with PINGs, and bounds every buffer.
///
/// ```swift
/// let transport = NATSTransport(NATSOptions(servers: ["nats://127.0.0.1:4222"]))
/// try await transport.connect()
/// let subscription = try await transport.subscribe("greetings")
/// try await transport.publish("greetings", payload: Array("hello".utf8))
/// for try await message in subscription { print(message.subject) }
/// await transport.close()
/// ```
///
/// Call ``close()`` when done: the transport keeps its connection (and a background task that
/// reconnects it) until then.
public final class NATSTransport: Transport, Sendable {
    /// The options it was created with.
    public let options: NATSOptions
    /// The one event loop all of this transport's connections and timers run on, so that
    /// ``taskExecutor`` stays valid across reconnects.
    private let eventLoop: any EventLoop
    private let state: Mutex<NATSClientStateMachine>
    private let pool: Mutex<ServerPool>
    private let parsedServers: Result<[NATSServerAddress], EventbaseError>
    /// Numbers the requests: each one's token in the shared inbox.
    private let requestIDs = Atomic<UInt64>(1)
    /// Requests to send again while they wait for a reply, served by one timer.
    private let resends = Mutex(ResendQueue())
    private let logger: Logger
    private let reconnects = Atomic<Int>(0)
    /// The server of the newest handshake, for ``connectionStatus``.
    private let currentServer = Mutex<String?>(nil)

    /// Creates a transport on the shared NIO event loops; it connects on ``connect()``.
    /// - Parameters:
    ///   - options: Servers, credentials, TLS, timeouts.
    ///   - logger: Where connection faults are reported: a lost connection and failed reconnects at
    ///     `warning`, giving up at `error`, a reconnect at `notice`, the rest at `debug` (default:
    ///     nowhere). Credentials are never logged.
    public convenience init(
        _ options: NATSOptions,
        logger: Logger = Logger(label: "eventbase.nats", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.init(options, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger)
    }

    /// Creates a transport on the given event loops.
    package init(
        _ options: NATSOptions, eventLoopGroup: any EventLoopGroup,
        logger: Logger = Logger(label: "eventbase.nats", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.options = options
        self.logger = logger
        self.eventLoop = eventLoopGroup.next()
        self.state = Mutex(
            NATSClientStateMachine(
                limits: .init(
                    reconnectBufferSize: options.reconnectBufferSize,
                    writeBufferLimit: options.writeBufferLimit,
                    maxOutstandingPings: max(1, options.maxOutstandingPings),
                    pendingMessageLimit: max(1, options.pendingMessageLimit)
                )
            )
        )
        self.parsedServers = Result {
            let servers = try options.servers.map { try NATSServerAddress(parsing: $0) }
            guard !servers.isEmpty else {
                throw EventbaseError(.invalidArgument, "NATSOptions.servers is empty; give at least one server URL.")
            }
            return servers
        }.mapError { $0 as? EventbaseError ?? EventbaseError(.invalidArgument, "Invalid server URL.", cause: $0) }
        let servers = (try? parsedServers.get()) ?? []
        self.pool = Mutex(ServerPool(servers: options.randomizeServers ? servers.shuffled() : servers))
    }

    // MARK: Transport

    /// Connects to the first server that answers (trying each once), or returns if already connected.
    ///
    /// After the first connection, the transport reconnects by itself whenever the connection drops.
    /// - Throws: `.invalidArgument` for bad options, `.authenticationFailed`, `.unavailable`, `.timeout`, `.closed`.
    public func connect() async throws {
        _ = try parsedServers.get()
        switch state.withLock({ $0.connectRequested() }) {
        case .alreadyConnected:
            return
        case .fail(let error):
            throw error
        case .startAndWait:
            // Stored, not structured: connect() returns once connected, while the connection (reads,
            // reconnects, pings) lives until close(), which awaits this task.
            let task = Task { await self.run() }
            let stale = state.withLock { state -> Bool in
                guard state.status != .closed else { return true }
                state.runTask = task
                return false
            }
            if stale { task.cancel() }
        case .wait:
            break
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            if let result = state.withLock({ $0.addConnectWaiter(continuation) }) {
                continuation.resume(with: result.mapError { $0 as any Error })
            }
        }
    }

    /// Publishes a message; see ``Transport/publish(_:payload:headers:replyTo:)``.
    ///
    /// While disconnected the message goes to a reconnect buffer of ``NATSOptions/reconnectBufferSize``
    /// bytes; when connected and the write buffer is full, it waits for room (bounded memory).
    /// - Throws: `.closed`, `.limitExceeded` above the server's max_payload, `.unavailable` when the
    ///   reconnect buffer is full or before `connect()`, `.invalidArgument` for an invalid subject or header.
    public func publish(_ subject: String, payload: [UInt8], headers: MessageHeaders?, replyTo: String?) async throws {
        try NATSValidation.subject(subject)
        if let replyTo { try NATSValidation.subject(replyTo, what: "reply subject") }
        // Encoded once, which also validates them.
        let headerBlock = try headers.map { try NATSHeaderCodec.encode($0) }
        while true {
            let action = state.withLock { state in
                // The hot path: encoded into the outbound buffer under the lock.
                state.publish(
                    subject: subject, replyTo: replyTo, headers: headers, headerBlock: headerBlock, payload: payload)
            }
            if case .waitForWrite = action {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    if !state.withLock({ $0.addWriteWaiter(continuation) }) { continuation.resume() }
                }
                continue
            }
            try perform(action)
            return
        }
    }

    /// Subscribes; see ``Transport/subscribe(_:queue:)``.
    ///
    /// The subscription holds at most ``NATSOptions/pendingMessageLimit`` undelivered messages; past that
    /// it ends with `.slowConsumer` (counted in ``slowConsumerCount``). Ending the iteration unsubscribes.
    ///
    /// While connected, it returns once the server has accepted the subscription (a PING after the SUB:
    /// one round trip), so a subject this user may not subscribe to throws `.permissionDenied` here and
    /// the connection stays usable. While disconnected it returns at once; a denial after a reconnect
    /// (or one that takes longer than ``NATSOptions/requestTimeout``) ends the subscription's sequence
    /// with `.permissionDenied` instead.
    /// - Throws: `.closed`, `.invalidArgument`, `.permissionDenied`.
    public func subscribe(_ subject: String, queue: String?) async throws -> TransportSubscription {
        try NATSValidation.subject(subject)
        if let queue { try NATSValidation.subject(queue, what: "queue group") }
        let buffer = TransportMessageBuffer(limit: max(1, options.pendingMessageLimit))
        let (sid, action, confirm) = state.withLock { state in
            let (sid, action) = state.subscribe(subject: subject, queue: queue, buffer: buffer)
            let confirm = state.status == .connected
            if confirm { state.startConfirming(sid: sid) }
            return (sid, action, confirm)
        }
        try perform(action)
        buffer.onTermination = { [weak self] in self?.unsubscribe(sid: sid) }
        if confirm {
            // The server answers a SUB it refuses with -ERR before the PONG of a later PING.
            _ = try? await flush(timeout: options.requestTimeout)
            if let denied = state.withLock({ $0.finishConfirming(sid: sid) }) { throw denied }
        }
        return TransportSubscription(subject: subject, buffer: buffer) { [weak self] in
            self?.unsubscribe(sid: sid)
        }
    }

    /// Sends a request over the shared inbox and waits for the first reply.
    /// - Throws: `.timeout`; `.noResponders` at once when nobody listens; `.permissionDenied` when the
    ///   server refuses the publish; `.unavailable` at once when the connection the request was sent
    ///   on is lost (the request may or may not have been processed); `.closed`; `.cancelled` when the
    ///   task is cancelled.
    public func request(
        _ subject: String,
        payload: [UInt8],
        headers: MessageHeaders?,
        timeout: Duration
    ) async throws -> TransportMessage {
        try await request(subject, payload: payload, headers: headers, timeout: timeout, resendInterval: nil)
    }

    /// Sends a request over the shared inbox and, while no reply has come, sends it again to the same
    /// reply subject every `resendInterval` (at least 10 ms) until `timeout`: the first reply to any
    /// copy answers it. Only for requests that are safe to repeat, such as a JetStream publish with
    /// a `Nats-Msg-Id`. Copies are sent only on the connection the request was made on (a request
    /// fails when that connection is lost). ``requestsResent`` counts them.
    /// - Throws: as ``request(_:payload:headers:timeout:)``.
    public func request(
        _ subject: String,
        payload: [UInt8],
        headers: MessageHeaders?,
        timeout: Duration,
        resendInterval: Duration?
    ) async throws -> TransportMessage {
        try NATSValidation.subject(subject)
        let headerBlock = try headers.map { try NATSHeaderCodec.encode($0) }
        let token = String(requestIDs.wrappingAdd(1, ordering: .relaxed).oldValue, radix: 36)
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation {
                (continuation: CheckedContinuation<TransportMessage, any Error>) in
                let (subscribeAction, publishAction, sweep) = state.withLock {
                    $0.request(
                        subject: subject, payload: payload, headers: headers, headerBlock: headerBlock, token: token,
                        deadline: deadline, limit: timeout, continuation: continuation,
                        newInboxPrefix: Self.newInboxPrefix)
                }
                do {
                    if let subscribeAction { try perform(subscribeAction) }
                    try perform(publishAction)
                } catch {
                    if case .fail = publishAction {
                        continuation.resume(throwing: error)
                    } else if let (pending, _) = state.withLock({ $0.removeRequest(token) }) {
                        pending.resume(throwing: error)
                    }
                    return
                }
                if let sweep { schedule(sweep) }
                if let resendInterval {
                    let interval = TimeAmount(max(resendInterval, .milliseconds(10)))
                    addResends([
                        (
                            NIODeadline.now() + interval,
                            Resend(
                                subject: subject, payload: payload, headers: headers, headerBlock: headerBlock,
                                token: token, interval: interval, deadline: deadline)
                        )
                    ])
                }
                // A cancellation that came before the request was registered found nothing to cancel: do it now.
                if Task.isCancelled, let (pending, _) = state.withLock({ $0.removeRequest(token) }) {
                    pending.resume(throwing: EventbaseError(.cancelled, "The request to '\(subject)' was cancelled."))
                }
            }
        } onCancel: {
            if let (pending, _) = state.withLock({ $0.removeRequest(token) }) {
                pending.resume(throwing: EventbaseError(.cancelled, "The request to '\(subject)' was cancelled."))
            }
        }
    }

    /// A request to send again while it waits for its reply.
    private struct Resend: Sendable {
        var subject: String
        var payload: [UInt8]
        var headers: MessageHeaders?
        var headerBlock: [UInt8]?
        var token: String
        var interval: TimeAmount
        var deadline: NIODeadline
    }

    /// Requests to send again, earliest first from `start`, and the one timer that serves them: a
    /// sweep runs at most every ``ResendQueue/granularity`` and sends the copies that are due, so a
    /// busy transport does not keep an event-loop timer per request. Entries of answered requests
    /// are dropped when their time comes.
    private struct ResendQueue: Sendable {
        static let granularity = TimeAmount.milliseconds(50)
        var entries: [(due: NIODeadline, resend: Resend)] = []
        var start = 0
        /// Identifies the latest scheduled sweep; an older one that fires does nothing.
        var generation: UInt64 = 0
        /// When the latest scheduled sweep runs, if one is scheduled.
        var sweepAt: NIODeadline?

        mutating func add(_ due: NIODeadline, _ resend: Resend) {
            entries.insertInOrder((due, resend), from: start, by: \.due)
        }

        /// Removes and returns the entries due at `now`.
        mutating func takeDue(now: NIODeadline) -> [(due: NIODeadline, resend: Resend)] {
            var due: [(due: NIODeadline, resend: Resend)] = []
            while start < entries.count, entries[start].due <= now {
                due.append(entries[start])
                start += 1
            }
            entries.compactConsumed(start: &start)
            return due
        }

        /// The sweep to schedule after a change, if the earliest entry needs one sooner than the
        /// scheduled sweep runs: its time and generation.
        mutating func nextSweep(now: NIODeadline) -> (NIODeadline, UInt64)? {
            guard start < entries.count else { return nil }
            let at = max(entries[start].due, now + Self.granularity)
            if let sweepAt, sweepAt <= at { return nil }
            generation += 1
            sweepAt = at
            return (at, generation)
        }
    }

    private func addResends(_ added: [(NIODeadline, Resend)]) {
        let sweep = resends.withLock { queue -> (NIODeadline, UInt64)? in
            for (due, resend) in added { queue.add(due, resend) }
            return queue.nextSweep(now: .now())
        }
        if let sweep { scheduleResendSweep(sweep) }
    }

    private func scheduleResendSweep(_ sweep: (at: NIODeadline, generation: UInt64)) {
        _ = eventLoop.scheduleTask(deadline: sweep.at) { [weak self] in
            self?.sweepResends(generation: sweep.generation)
        }
    }

    /// Sends the copies that are due of requests still waiting, and queues their next copies.
    private func sweepResends(generation: UInt64) {
        let now = NIODeadline.now()
        let due = resends.withLock { queue -> [(due: NIODeadline, resend: Resend)]? in
            guard queue.generation == generation else { return nil }
            queue.sweepAt = nil
            return queue.takeDue(now: now)
        }
        guard let due else { return }
        var again: [(NIODeadline, Resend)] = []
        for (dueAt, resend) in due {
            let action = state.withLock {
                $0.resendRequest(
                    subject: resend.subject, payload: resend.payload, headers: resend.headers,
                    headerBlock: resend.headerBlock, token: resend.token)
            }
            guard let action else { continue }
            try? perform(action)
            let next = max(dueAt + resend.interval, now + .nanoseconds(resend.interval.nanoseconds / 2))
            if next + TimeAmount.milliseconds(5) < resend.deadline { again.append((next, resend)) }
        }
        addResends(again)
    }

    /// Runs the sweep of request timeouts at its deadline (one timer for every pending request).
    private func schedule(_ sweep: NATSClientStateMachine.RequestSweep) {
        _ = eventLoop.scheduleTask(deadline: sweep.deadline) { [weak self] in
            self?.sweepRequests(sweep)
        }
    }

    private func sweepRequests(_ sweep: NATSClientStateMachine.RequestSweep) {
        let (expired, next) = state.withLock { $0.expireRequests(now: .now(), sweep: sweep) }
        for (continuation, subject, limit) in expired {
            continuation.resume(
                throwing: EventbaseError(.timeout, "No reply to the request on '\(subject)' within \(limit)."))
        }
        if let next { schedule(next) }
    }

    /// Waits until the server has processed everything sent so far (PING/PONG).
    /// - Throws: `.timeout`, `.unavailable` while disconnected, `.closed`.
    public func flush(timeout: Duration) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let (id, action) = state.withLock { $0.flush(continuation) }
            if case .fail(let error) = action {
                continuation.resume(throwing: error)
                return
            }
            try? perform(action)
            let scheduled = eventLoop.scheduleTask(in: TimeAmount(timeout)) { [weak self] in
                if let waiter = self?.state.withLock({ $0.removeFlush(id) }) {
                    waiter.resume(
                        throwing: EventbaseError(.timeout, "The NATS server did not answer a flush within \(timeout)."))
                }
            }
            if let stale = state.withLock({ $0.setFlushTimeout(id, scheduled) }) { stale.cancel() }
        }
    }

    /// Connection state changes from now on; the stream finishes when the transport closes.
    public func connectionEvents() -> AsyncStream<ConnectionEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: ConnectionEvent.self, bufferingPolicy: .bufferingNewest(256))
        if let id = state.withLock({ $0.addEventContinuation(continuation) }) {
            continuation.onTermination = { [weak self] _ in self?.state.withLock { $0.removeEventContinuation(id) } }
        } else {
            continuation.finish()
        }
        return stream
    }

    /// The server's max_payload, once connected.
    public var maxPayload: Int? { state.withLock { $0.serverInfo?.maxPayload } }

    /// Closes: finishes every subscription, fails pending requests and flushes with `.closed`, closes the
    /// connection and stops reconnecting. Idempotent.
    public func close() async {
        logger.debug("Closing the NATS connection")
        await shutdown(error: nil, awaitRun: true)
    }

    // MARK: Beyond the port

    /// Unsubscribes every subscription (their buffered messages stay readable), waits for the server to
    /// process everything sent, then closes.
    /// - Parameter timeout: How long to wait for the server.
    /// - Throws: `.timeout` when the server did not answer in time (the transport is closed anyway).
    public func drain(timeout: Duration) async throws {
        let (continuations, action) = state.withLock { $0.unsubscribeAll() }
        try? perform(action)
        for continuation in continuations { continuation.finish() }
        var failure: (any Error)?
        do {
            try await flush(timeout: timeout)
        } catch let error as EventbaseError where error.code == .unavailable || error.code == .closed {
            // Nothing to drain to.
        } catch {
            failure = error
        }
        await close()
        if let failure { throw failure }
    }

    /// A task executor on the event loop that reads and writes this transport's connection.
    ///
    /// A task that handles messages and answers them (a responder) runs with fewer thread hops with it as
    /// its preference: a message is handed to the task on the thread that read it, and what the task
    /// publishes is written on that thread, without waking another one:
    ///
    /// ```swift
    /// let requests = try await transport.subscribe("service")
    /// try await withTaskExecutorPreference(transport.taskExecutor) {
    ///     for try await request in requests {
    ///         if let replyTo = request.replyTo {
    ///             try await transport.publish(replyTo, payload: answer(request.payload), headers: nil, replyTo: nil)
    ///         }
    ///     }
    /// }
    /// ```
    ///
    /// Keep such tasks short and never block in them: while they run, the connection is not read.
    public var taskExecutor: any TaskExecutor { NATSEventLoopTaskExecutor(eventLoop: eventLoop) }

    /// Whether the transport is connected right now.
    public var isConnected: Bool { state.withLock { $0.status == .connected } }

    /// The connection's state, how many times it reconnected, and the server it is connected to.
    public var connectionStatus: ConnectionStatus? {
        let status = state.withLock { $0.status }
        let server = currentServer.withLock { $0 }
        let mapped: ConnectionStatus.State =
            switch status {
            case .idle: .idle
            case .connecting: .connecting
            case .connected: .connected
            case .reconnecting: .reconnecting
            case .closed: .closed
            }
        return ConnectionStatus(
            state: mapped, reconnectCount: reconnects.load(ordering: .relaxed),
            server: status == .connected ? server : nil)
    }

    /// How many subscriptions were ended because their buffer overflowed.
    public var slowConsumerCount: Int { state.withLock { $0.slowConsumers } }

    /// How many copies of requests ``request(_:payload:headers:timeout:resendInterval:)`` sent again.
    public var requestsResent: Int { state.withLock { $0.requestsResent } }

    /// The last error the server reported (for example a publish permission violation), if any.
    public var lastServerError: EventbaseError? { state.withLock { $0.lastError } }

    /// The servers known now: configured and discovered through INFO.
    public var knownServers: [String] { pool.withLock { $0.servers.map(\.description) } }

    /// Marks the transport as connecting over `channel`, for tests that drive a ``NATSChannelHandler`` on a
    /// test channel instead of a socket.
    package func attachForTesting(_ channel: any Channel) -> Bool {
        state.withLock {
            _ = $0.connectRequested()
            return $0.attach(channel)
        }
    }

    // MARK: Internals called from the channel handler (on its event loop)

    func receivedInfo(_ info: NATSServerInfo) {
        let urls = state.withLock { $0.receivedInfo(info) }
        guard options.discoverServers, !urls.isEmpty else { return }
        let addresses = urls.compactMap { try? NATSServerAddress(parsing: $0) }
        pool.withLock { $0.add(discovered: addresses) }
    }

    func handshakeCompleted(channel: any Channel, info: NATSServerInfo, server: NATSServerAddress) {
        guard let action = state.withLock({ $0.connected(channel: channel, info: info, server: server.description) })
        else {
            return
        }
        currentServer.withLock { $0 = server.description }
        logger.debug("Connected to NATS", metadata: ["server": "\(server)"])
        write(action.ops, on: channel)
        if action.drainBuffered { writeOutbound(on: channel) }
        for waiter in action.writeWaiters { waiter.resume() }
        for waiter in action.connectWaiters { waiter.resume() }
        if let event = action.event {
            for listener in action.events { listener.yield(event) }
        }
    }

    func received(_ message: NATSInboundMessage) {
        received([message])
    }

    /// Hands messages read together to their subscriptions (one hand-off per subscription) and requests.
    func received(_ messages: [NATSInboundMessage]) {
        let delivery = state.withLock { $0.deliver(messages) }
        for (continuation, result, timeout) in delivery.replies {
            timeout?.cancel()
            continuation.resume(with: result.mapError { $0 as any Error })
        }
        for (sid, subject, buffer, batch) in delivery.yields where !buffer.append(contentsOf: batch) {
            let (ended, action) = state.withLock { $0.slowConsumer(sid: sid) }
            logger.warning(
                "A subscription fell behind and was ended (slow consumer)",
                metadata: ["subject": "\(subject)", "limit": "\(options.pendingMessageLimit)"])
            try? perform(action)
            ended?.finish(
                throwing: EventbaseError(
                    .slowConsumer,
                    "The subscription to '\(subject)' fell more than \(options.pendingMessageLimit) messages behind and was ended."
                )
            )
        }
    }

    func pongReceived() {
        if let waiter = state.withLock({ $0.pongReceived() }) {
            waiter.timeout?.cancel()
            waiter.continuation.resume()
        }
    }

    func pingTimerFired(_ channel: any Channel) {
        switch state.withLock({ $0.pingTimerFired(channel) }) {
        case .none:
            break
        case .send(let action):
            try? perform(action)
        case .staleConnection(let channel, _):
            logger.warning("The NATS server stopped answering PINGs; closing the connection to reconnect")
            channel.close(promise: nil)
        }
    }

    func serverError(_ text: String, channel: any Channel) {
        logger.warning("The NATS server reported an error", metadata: ["error": "\(text)"])
        let action = state.withLock { $0.serverError(text) }
        for continuation in action.endedSubscriptions { continuation.finish(throwing: action.error) }
        for (continuation, timeout) in action.failedRequests {
            timeout?.cancel()
            continuation.resume(throwing: action.error)
        }
    }

    func connectionFailed(_ error: EventbaseError, channel: any Channel) {
        state.withLock { $0.setDisconnectReason(error) }
    }

    /// Writes what is queued, in one buffer (one syscall for a burst), if the channel can take it.
    func writeOutbound(on channel: any Channel) {
        guard channel.isWritable else {
            state.withLock { $0.flushDeferred() }
            return
        }
        let (encoded, ops, waiters, drainAgain) = state.withLock { $0.takeOutboundAndKeepDraining(for: channel) }
        write(ops, after: encoded, on: channel)
        for waiter in waiters { waiter.resume() }
        // Come back on the next tick (no wake-up: this is the loop) for what publishers append meanwhile.
        if drainAgain { channel.eventLoop.execute { [weak self] in self?.writeOutbound(on: channel) } }
    }

    // MARK: Private

    /// Writes `encoded` then `ops` in one buffer and flushes.
    private func write(_ ops: [NATSClientOp], after encoded: ByteBuffer = ByteBuffer(), on channel: any Channel) {
        guard !ops.isEmpty else {
            if encoded.readableBytes > 0 { channel.writeAndFlush(encoded, promise: nil) }
            return
        }
        var buffer = encoded
        buffer.reserveCapacity(
            minimumWritableBytes: ops.reduce(0) { $0 + NATSClientStateMachine.size(of: $1) })
        for op in ops {
            // Subjects and headers were validated when queued, so encoding cannot fail here.
            try? op.encode(into: &buffer)
        }
        channel.writeAndFlush(buffer, promise: nil)
    }

    private func perform(_ action: NATSClientStateMachine.EnqueueAction) throws {
        switch action {
        case .queued, .waitForWrite:
            break
        case .fail(let error):
            throw error
        case .scheduleFlush(let channel):
            channel.eventLoop.execute { [weak self] in self?.writeOutbound(on: channel) }
        }
    }

    private func unsubscribe(sid: UInt64) {
        let (continuation, action) = state.withLock { $0.unsubscribe(sid: sid) }
        try? perform(action)
        continuation?.finish()
    }

    private static func newInboxPrefix() -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        var generator = SystemRandomNumberGenerator()
        return "_INBOX." + String((0..<22).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
    }

    private func shutdown(error: EventbaseError?, awaitRun: Bool) async {
        guard let action = state.withLock({ $0.close() }) else { return }
        let closed = NATSClientStateMachine.closedError
        for continuation in action.subscriptions {
            if let error { continuation.finish(throwing: error) } else { continuation.finish() }
        }
        for (continuation, timeout) in action.requests {
            timeout?.cancel()
            continuation.resume(throwing: closed)
        }
        for flush in action.flushes {
            flush.timeout?.cancel()
            flush.continuation.resume(throwing: closed)
        }
        for waiter in action.connectWaiters { waiter.resume(throwing: error ?? closed) }
        for waiter in action.writeWaiters { waiter.resume() }
        if let channel = action.channel {
            channel.close(promise: nil)
        }
        if let task = action.runTask {
            task.cancel()
            if awaitRun { await task.value }
        }
        for listener in action.events {
            listener.yield(.closed(error: error))
            listener.finish()
        }
    }

    /// Connects, then keeps the connection up: the transport's one background task.
    private func run() async {
        let servers = pool.withLock { $0.servers }
        var lastError = EventbaseError(.unavailable, "No NATS server could be reached.")
        var channel: (any Channel)?
        for server in servers where !Task.isCancelled {
            do {
                channel = try await connectOnce(to: server)
                pool.withLock { $0.connected(to: server) }
                break
            } catch {
                lastError = Self.map(error, server: server)
                logger.debug(
                    "Connecting to a NATS server failed", metadata: ["server": "\(server)", "error": "\(lastError)"])
                if lastError.code == .authenticationFailed || lastError.code == .invalidArgument
                    || lastError.code == .closed
                {
                    break
                }
            }
        }
        guard var current = channel else {
            logger.warning("Could not connect to NATS", metadata: ["error": "\(lastError)"])
            let waiters = state.withLock { $0.initialConnectFailed(lastError) }
            for waiter in waiters { waiter.resume(throwing: lastError) }
            return
        }
        while !Task.isCancelled {
            try? await current.closeFuture.get()
            guard let lost = state.withLock({ $0.connectionLost(current) }) else { return }
            for flush in lost.failedFlushes {
                flush.timeout?.cancel()
                flush.continuation.resume(
                    throwing: EventbaseError(.unavailable, "The connection to NATS was lost during a flush."))
            }
            for (request, timeout) in lost.failedRequests {
                timeout?.cancel()
                request.resume(
                    throwing: EventbaseError(
                        .unavailable,
                        "The connection to NATS was lost before the reply arrived; the request may or may not have been processed. A JetStream publish retried with the same message id is stored once.",
                        cause: lost.reason))
            }
            for waiter in lost.writeWaiters { waiter.resume() }
            for listener in lost.events { listener.yield(.disconnected(error: lost.reason)) }
            logger.warning(
                "The connection to NATS was lost; reconnecting",
                metadata: ["error": "\(lost.reason.map { "\($0)" } ?? "closed by the server")"])
            guard let next = await reconnect() else { return }
            reconnects.add(1, ordering: .relaxed)
            logger.notice("Reconnected to NATS")
            current = next
        }
    }

    /// Tries servers in turn with backoff until one connects; `nil` when cancelled or out of attempts.
    private func reconnect() async -> (any Channel)? {
        var attempt = 0
        var lastError: EventbaseError?
        while !Task.isCancelled {
            if let max = options.maxReconnectAttempts, attempt >= max {
                let error = EventbaseError(
                    .unavailable,
                    "Could not reconnect to NATS after \(attempt) attempts; the transport is closed.",
                    cause: lastError
                )
                logger.error(
                    "Gave up reconnecting to NATS; the transport is closed", metadata: ["attempts": "\(attempt)"])
                await shutdown(error: error, awaitRun: false)
                return nil
            }
            do {
                try await Task.sleep(for: backoff(attempt: attempt))
            } catch {
                return nil
            }
            attempt += 1
            let server = pool.withLock { $0.next() }
            do {
                let channel = try await connectOnce(to: server)
                pool.withLock { $0.connected(to: server) }
                return channel
            } catch {
                let failure = Self.map(error, server: server)
                lastError = failure
                // The first failure and every tenth are warnings; the rest would only repeat them.
                let level: Logger.Level = attempt == 1 || attempt % 10 == 0 ? .warning : .debug
                logger.log(
                    level: level, "Reconnecting to NATS failed; retrying",
                    metadata: ["server": "\(server)", "attempt": "\(attempt)", "error": "\(failure)"])
            }
        }
        return nil
    }

    private func backoff(attempt: Int) -> Duration {
        Self.backoff(
            attempt: attempt,
            base: options.reconnectBackoffBase,
            max: options.reconnectBackoffMax,
            jitter: options.reconnectJitter,
            random: Double.random(in: 0...1)
        )
    }

    /// The delay before reconnect attempt `attempt` (0-based): `base * 2^attempt` capped at `max`, plus up to
    /// `jitter` of itself scaled by `random` (0...1).
    package static func backoff(attempt: Int, base: Duration, max cap: Duration, jitter: Double, random: Double)
        -> Duration
    {
        let exponential = attempt >= 30 ? cap : min(cap, base * (1 << attempt))
        return exponential + exponential * (jitter.clamped() * random.clamped())
    }

    private func connectOnce(to server: NATSServerAddress) async throws -> any Channel {
        let setup = try NATSConnectionSetup(options: options)
        let eventLoop = eventLoop
        let handshake = eventLoop.makePromise(of: NATSServerInfo.self)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(options.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    // Attach before the channel is active: on loopback the whole handshake can finish before
                    // `connect` returns to this task, and `handshakeCompleted` only accepts the attached channel.
                    guard self.state.withLock({ $0.attach(channel) }) else {
                        throw NATSClientStateMachine.closedError
                    }
                    let sync = channel.pipeline.syncOperations
                    if setup.tlsFirst {
                        try sync.addHandler(setup.makeTLSHandler(server: server))
                    }
                    try sync.addHandler(
                        NATSChannelHandler(transport: self, server: server, setup: setup, handshake: handshake))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: server.host, port: server.port).get()
        } catch {
            handshake.fail(error)
            throw error
        }
        do {
            _ = try await handshake.futureResult.get()
        } catch {
            channel.close(promise: nil)
            throw error
        }
        return channel
    }

    private static func map(_ error: any Error, server: NATSServerAddress) -> EventbaseError {
        if let error = error as? EventbaseError { return error }
        if error is ChannelError {
            return EventbaseError(.unavailable, "Could not connect to the NATS server at \(server).", cause: error)
        }
        return EventbaseError(.unavailable, "Could not connect to the NATS server at \(server).", cause: error)
    }
}

/// Runs tasks' jobs on a NIO event loop.
final class NATSEventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

extension Double {
    fileprivate func clamped() -> Double { Swift.min(1, Swift.max(0, self)) }
}

/// The servers to try, in order, with those discovered from INFO.
package struct ServerPool: Sendable {
    private(set) package var servers: [NATSServerAddress]
    private var index = 0

    package init(servers: [NATSServerAddress]) {
        self.servers = servers
    }

    package mutating func next() -> NATSServerAddress {
        let server = servers[index % servers.count]
        index = (index + 1) % servers.count
        return server
    }

    /// Records the server a connection was made to: the next reconnect tries every other server
    /// before it. A server that just hung still accepts TCP connections (the kernel does), so trying
    /// it first would cost a whole connect timeout before a healthy server is tried.
    package mutating func connected(to server: NATSServerAddress) {
        guard let position = servers.firstIndex(where: { $0.host == server.host && $0.port == server.port }) else {
            return
        }
        index = (position + 1) % servers.count
    }

    package mutating func add(discovered: [NATSServerAddress]) {
        for var address in discovered
        where !servers.contains(where: { $0.host == address.host && $0.port == address.port }) {
            address.discovered = true
            address.tlsRequired = servers.first?.tlsRequired ?? false
            servers.append(address)
        }
    }
}
