package import EventbaseCore
package import NIOCore

/// The NATS client's decisions, free of I/O: what to send, whom to wake, what to drop.
///
/// It lives inside the ``NATSTransport``'s `Mutex`. Every mutating method returns what the caller must
/// do once the lock is released (yield a message, resume a waiter, schedule a write), so nothing is ever
/// called out under the lock.
package struct NATSClientStateMachine {
    /// Where the connection is.
    package enum Status: Sendable, Equatable {
        /// Never connected, or the first connection failed.
        case idle
        /// The first connection is being made.
        case connecting
        /// Connected and handshaken.
        case connected
        /// Lost the connection; reconnecting.
        case reconnecting
        /// Closed for good.
        case closed
    }

    /// Limits taken from ``NATSOptions``.
    package struct Limits: Sendable {
        package var reconnectBufferSize: Int
        package var writeBufferLimit: Int
        package var maxOutstandingPings: Int
        package var pendingMessageLimit: Int

        package init(
            reconnectBufferSize: Int = 8 << 20,
            writeBufferLimit: Int = 4 << 20,
            maxOutstandingPings: Int = 2,
            pendingMessageLimit: Int = 65_536
        ) {
            self.reconnectBufferSize = reconnectBufferSize
            self.writeBufferLimit = writeBufferLimit
            self.maxOutstandingPings = maxOutstandingPings
            self.pendingMessageLimit = pendingMessageLimit
        }
    }

    package struct Subscription {
        var subject: String
        var queue: String?
        var buffer: TransportMessageBuffer
    }

    package struct Request {
        var subject: String
        var continuation: CheckedContinuation<TransportMessage, any Error>
        var timeout: Scheduled<Void>?
        /// How long it may wait for its reply, for the timeout's message.
        var limit: Duration = .zero
    }

    /// When the sweep of request timeouts runs next, and which sweep that is: a sweep that is no longer
    /// the latest one expires requests but schedules nothing.
    package struct RequestSweep: Sendable, Equatable {
        package var deadline: NIODeadline
        package var generation: UInt64
    }

    package struct FlushWaiter {
        package var continuation: CheckedContinuation<Void, any Error>
        package var timeout: Scheduled<Void>?
    }

    private(set) package var status: Status = .idle
    private(set) package var serverInfo: NATSServerInfo? {
        didSet { maxPayload = serverInfo?.maxPayload }
    }
    /// The server's max_payload, kept apart from ``serverInfo`` for the publish path.
    private var maxPayload: Int?
    private(set) package var channel: (any Channel)?
    private(set) package var slowConsumers = 0
    /// Requests sent again by ``resendRequest(subject:payload:headers:headerBlock:token:)``.
    private(set) package var requestsResent = 0
    private(set) package var lastError: EventbaseError?
    /// Commands waiting to be written, in order; while disconnected only publishes are kept.
    private(set) package var outbound: [NATSClientOp] = []
    private(set) package var outboundBytes = 0
    /// Header-less publishes made while connected, already encoded: the publish hot path. They always
    /// precede ``outbound``: once an op is queued there, publishes queue behind it until the next write.
    private(set) package var outboundEncoded = ByteBuffer()
    private(set) package var outstandingPings = 0
    let limits: Limits

    var subscriptions: [UInt64: Subscription] = [:]
    /// Subscriptions whose `subscribe()` waits for the server to accept them, with the denial once one arrives.
    private var confirmingSubscriptions: [UInt64: EventbaseError?] = [:]
    private var nextSID: UInt64 = 1
    private(set) package var inbox: (prefix: String, sid: UInt64)?
    private var requests: [String: Request] = [:]
    /// The deadlines of requests, earliest first from `requestDeadlinesStart`; entries of requests that
    /// were answered stay until they are swept or compacted away. One timer (the sweep) serves them all,
    /// instead of one event-loop timer per request.
    private var requestDeadlines: [(deadline: NIODeadline, token: String)] = []
    private var requestDeadlinesStart = 0
    private var requestSweep: RequestSweep?
    private var requestSweepGeneration: UInt64 = 0
    private var flushWaiters: [UInt64: FlushWaiter] = [:]
    private var nextFlushID: UInt64 = 1
    /// What each PING in flight is for, in the order they were queued: a flush id, or `nil` for a keep-alive.
    private var pongQueue: [UInt64?] = []
    private var flushScheduled = false
    private var writeWaiters: [CheckedContinuation<Void, Never>] = []
    private var connectWaiters: [CheckedContinuation<Void, any Error>] = []
    private var disconnectReason: EventbaseError?
    private var eventContinuations: [UInt64: AsyncStream<ConnectionEvent>.Continuation] = [:]
    private var nextEventID: UInt64 = 1
    package var runTask: Task<Void, Never>?

    package init(limits: Limits) {
        self.limits = limits
    }

    // MARK: Connecting

    /// What ``NATSTransport/connect()`` should do.
    package enum ConnectAction {
        case alreadyConnected
        case fail(EventbaseError)
        case startAndWait
        case wait
    }

    package mutating func connectRequested() -> ConnectAction {
        switch status {
        case .connected: return .alreadyConnected
        case .closed: return .fail(Self.closedError)
        case .idle:
            status = .connecting
            return .startAndWait
        case .connecting, .reconnecting: return .wait
        }
    }

    /// Registers a caller of `connect()`; returns the result at once when it is already known.
    package mutating func addConnectWaiter(_ waiter: CheckedContinuation<Void, any Error>) -> Result<
        Void, EventbaseError
    >? {
        switch status {
        case .connected: return .success(())
        case .closed: return .failure(Self.closedError)
        case .idle: return .failure(lastError ?? EventbaseError(.unavailable, "Not connected to NATS."))
        case .connecting, .reconnecting:
            connectWaiters.append(waiter)
            return nil
        }
    }

    /// The first connection failed: back to idle so that a later `connect()` may try again.
    package mutating func initialConnectFailed(_ error: EventbaseError) -> [CheckedContinuation<Void, any Error>] {
        if status == .connecting { status = .idle }
        lastError = error
        runTask = nil
        defer { connectWaiters = [] }
        return connectWaiters
    }

    /// A TCP connection is being handshaken; `false` when the transport closed meanwhile.
    package mutating func attach(_ channel: any Channel) -> Bool {
        guard status != .closed else { return false }
        self.channel = channel
        return true
    }

    /// The server's INFO arrived; returns servers it announced.
    package mutating func receivedInfo(_ info: NATSServerInfo) -> [String] {
        serverInfo = info
        return info.connectURLs ?? []
    }

    /// What to do once a connection completed its handshake.
    package struct ConnectedAction {
        /// Commands to write first, in order: SUBs to re-establish, then buffered publishes.
        package var ops: [NATSClientOp]
        /// Whether publishes buffered while disconnected remain queued: write them right after ``ops``.
        package var drainBuffered: Bool
        package var connectWaiters: [CheckedContinuation<Void, any Error>]
        package var writeWaiters: [CheckedContinuation<Void, Never>]
        package var event: ConnectionEvent?
        package var events: [AsyncStream<ConnectionEvent>.Continuation]
    }

    /// The handshake on `channel` completed (CONNECT sent, PONG received).
    package mutating func connected(
        channel: any Channel,
        info: NATSServerInfo,
        server: String
    ) -> ConnectedAction? {
        guard status != .closed, self.channel === channel else { return nil }
        let wasReconnect = status == .reconnecting
        status = .connected
        serverInfo = info
        outstandingPings = 0
        pongQueue = []
        disconnectReason = nil
        var ops = [NATSClientOp]()
        for (sid, sub) in subscriptions.sorted(by: { $0.key < $1.key }) {
            ops.append(.subscribe(subject: sub.subject, queue: sub.queue, sid: sid))
        }
        if let inbox {
            ops.append(.subscribe(subject: inbox.prefix + ".*", queue: nil, sid: inbox.sid))
        }
        let drainBuffered = outboundEncoded.readableBytes > 0
        if drainBuffered {
            // Encoded publishes go after the SUBs and before the queued ops: leave both queued for the
            // write that follows the SUBs.
            flushScheduled = true
        } else {
            ops += outbound
            outbound = []
            outboundBytes = 0
            flushScheduled = false
        }
        defer {
            connectWaiters = []
            writeWaiters = []
        }
        return ConnectedAction(
            ops: ops,
            drainBuffered: drainBuffered,
            connectWaiters: connectWaiters,
            writeWaiters: writeWaiters,
            event: wasReconnect ? .reconnected(server: server) : .connected(server: server),
            events: Array(eventContinuations.values)
        )
    }

    /// What to do after a connection was lost.
    package struct DisconnectedAction {
        package var reason: EventbaseError?
        package var failedFlushes: [FlushWaiter]
        /// Requests sent on the lost connection: their replies cannot come any more.
        package var failedRequests: [(CheckedContinuation<TransportMessage, any Error>, Scheduled<Void>?)]
        package var writeWaiters: [CheckedContinuation<Void, Never>]
        package var events: [AsyncStream<ConnectionEvent>.Continuation]
        /// Whether the transport should reconnect (it was connected and is not closed).
        package var reconnect: Bool
    }

    /// The connection on `channel` closed.
    package mutating func connectionLost(_ channel: any Channel) -> DisconnectedAction? {
        guard self.channel === channel else { return nil }
        self.channel = nil
        guard status == .connected else { return nil }
        status = .reconnecting
        outbound.removeAll { op in
            if case .publish = op { return false }
            return true
        }
        outboundBytes = outbound.reduce(outboundEncoded.readableBytes) { $0 + Self.size(of: $1) }
        flushScheduled = false
        let failed = Array(flushWaiters.values)
        flushWaiters = [:]
        // A reply travels on the connection its request was sent on: with it gone, waiting for the
        // request's deadline only stretches the outage. (Their deadline entries are skipped by the
        // sweep once the requests are gone.)
        let failedRequests = requests.values.map { ($0.continuation, $0.timeout) }
        requests = [:]
        pongQueue = []
        outstandingPings = 0
        let reason = disconnectReason
        disconnectReason = nil
        defer { writeWaiters = [] }
        return DisconnectedAction(
            reason: reason,
            failedFlushes: failed,
            failedRequests: failedRequests,
            writeWaiters: writeWaiters,
            events: Array(eventContinuations.values),
            reconnect: true
        )
    }

    /// Records why the current connection is about to close (a server `-ERR`, a stale connection).
    package mutating func setDisconnectReason(_ error: EventbaseError) {
        disconnectReason = error
        lastError = error
    }

    // MARK: Writing

    /// What a publisher (or any command) should do.
    package enum EnqueueAction {
        /// Queued; schedule a write on `channel`.
        case scheduleFlush(any Channel)
        /// Queued; a write is already scheduled, or the connection is down and the op waits for it.
        case queued
        /// The write buffer is full: wait for the next write, then try again.
        case waitForWrite
        /// Refused.
        case fail(EventbaseError)
    }

    /// Queues a publish.
    package mutating func publish(_ op: NATSClientOp) -> EnqueueAction {
        let size = Self.size(of: op)
        if case .publish(_, _, let headers, let payload) = op, let max = maxPayload {
            let headerSize = headers.map { (try? NATSHeaderCodec.encode($0).count) ?? 0 } ?? 0
            if headerSize + payload.count > max {
                return .fail(
                    EventbaseError(
                        .limitExceeded,
                        "The message is \(headerSize + payload.count) bytes; the server accepts at most \(max). Send smaller messages or raise max_payload."
                    )
                )
            }
        }
        switch status {
        case .closed:
            return .fail(Self.closedError)
        case .idle:
            return .fail(EventbaseError(.unavailable, "Not connected to NATS: call connect() first."))
        case .connecting, .reconnecting:
            guard outboundBytes + size <= limits.reconnectBufferSize else {
                return .fail(
                    EventbaseError(
                        .unavailable,
                        "Disconnected from NATS and the reconnect buffer (\(limits.reconnectBufferSize) bytes) is full; the message was not sent."
                    )
                )
            }
            outbound.append(op)
            outboundBytes += size
            return .queued
        case .connected:
            if outboundBytes > 0, outboundBytes + size > limits.writeBufferLimit { return .waitForWrite }
            return enqueue(op, size: size)
        }
    }

    /// Queues a header-less publish, encoded at once when connected (the hot path: no op to keep, nothing
    /// to encode on the event loop); otherwise as ``publish(_:)``.
    package mutating func publish(subject: String, replyTo: String?, payload: [UInt8]) -> EnqueueAction {
        publish(subject: subject, replyTo: replyTo, headers: nil, headerBlock: nil, payload: payload)
    }

    /// Queues a publish whose headers (if any) are already encoded as `headerBlock`: encoded at once into
    /// the outbound buffer when connected; otherwise queued as ``publish(_:)``.
    package mutating func publish(
        subject: String, replyTo: String?, headers: MessageHeaders?, headerBlock: [UInt8]?, payload: [UInt8]
    ) -> EnqueueAction {
        let headerSize = headerBlock?.count ?? 0
        guard status == .connected, outbound.isEmpty, let channel, headerSize + payload.count <= maxPayload ?? Int.max
        else {
            return publish(.publish(subject: subject, replyTo: replyTo, headers: headers, payload: payload))
        }
        let size = subject.utf8.count + (replyTo?.utf8.count ?? 0) + headerSize + payload.count + 32
        if outboundBytes > 0, outboundBytes + size > limits.writeBufferLimit { return .waitForWrite }
        if let headerBlock {
            outboundEncoded.writeNATSHeaderPublish(
                subject: subject, replyTo: replyTo, headerBlock: headerBlock, payload: payload)
        } else {
            outboundEncoded.writeNATSPublish(subject: subject, replyTo: replyTo, payload: payload)
        }
        outboundBytes += size
        if flushScheduled { return .queued }
        flushScheduled = true
        return .scheduleFlush(channel)
    }

    /// Registers a publisher that waits for buffer room; returns `false` when there is room already.
    package mutating func addWriteWaiter(_ waiter: CheckedContinuation<Void, Never>) -> Bool {
        guard status == .connected, outboundBytes > 0 else { return false }
        writeWaiters.append(waiter)
        return true
    }

    private mutating func enqueue(_ op: NATSClientOp, size: Int) -> EnqueueAction {
        outbound.append(op)
        outboundBytes += size
        guard status == .connected, let channel else { return .queued }
        if flushScheduled { return .queued }
        flushScheduled = true
        return .scheduleFlush(channel)
    }

    private mutating func enqueueControl(_ op: NATSClientOp) -> EnqueueAction {
        guard status == .connected else { return .queued }
        return enqueue(op, size: Self.size(of: op))
    }

    /// Takes everything queued for `channel` to write it in one go: the encoded publishes, then the ops.
    package mutating func takeAllOutbound(for channel: any Channel) -> (
        encoded: ByteBuffer, ops: [NATSClientOp], waiters: [CheckedContinuation<Void, Never>]
    ) {
        guard status == .connected, self.channel === channel else {
            flushScheduled = false
            return (ByteBuffer(), [], [])
        }
        let encoded = outboundEncoded
        // The next batch starts at this one's size rather than regrowing.
        outboundEncoded = ByteBuffer()
        outboundEncoded.reserveCapacity(encoded.readableBytes)
        let (ops, waiters) = takeOutbound(for: channel)
        return (encoded, ops, waiters)
    }

    /// Takes the queued ops for `channel` to write them in one go.
    package mutating func takeOutbound(for channel: any Channel) -> (
        ops: [NATSClientOp], waiters: [CheckedContinuation<Void, Never>]
    ) {
        flushScheduled = false
        guard status == .connected, self.channel === channel else { return ([], []) }
        let ops = outbound
        outbound = []
        // A burst goes on at about the same rate: start the next batch at this one's size, not regrowing.
        outbound.reserveCapacity(ops.count)
        outboundBytes = 0
        defer { writeWaiters = [] }
        return (ops, writeWaiters)
    }

    /// Takes everything queued for `channel`, like ``takeOutbound(for:)``, for a write loop that drains again
    /// on its next event-loop tick: when something was taken the flush stays scheduled, so publishers in a
    /// burst append without waking the event loop. `drainAgain` says whether to come back.
    package mutating func takeOutboundAndKeepDraining(for channel: any Channel) -> (
        encoded: ByteBuffer, ops: [NATSClientOp], waiters: [CheckedContinuation<Void, Never>], drainAgain: Bool
    ) {
        let (encoded, ops, waiters) = takeAllOutbound(for: channel)
        guard !ops.isEmpty || encoded.readableBytes > 0 else { return (encoded, ops, waiters, false) }
        flushScheduled = true
        return (encoded, ops, waiters, true)
    }

    /// The channel was not writable: the next writability change writes, so the flush stays scheduled
    /// and publishers do not wake the event loop meanwhile.
    package mutating func flushDeferred() {
        flushScheduled = true
    }

    /// Whether anything waits to be written.
    package var hasOutbound: Bool { !outbound.isEmpty || outboundEncoded.readableBytes > 0 }

    static func size(of op: NATSClientOp) -> Int {
        switch op {
        case .publish(let subject, let replyTo, let headers, let payload):
            let headerSize =
                headers.map { $0.fields.reduce(12) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 } } ?? 0
            return subject.utf8.count + (replyTo?.utf8.count ?? 0) + headerSize + payload.count + 32
        case .subscribe(let subject, let queue, _):
            return subject.utf8.count + (queue?.utf8.count ?? 0) + 32
        default:
            return 16
        }
    }

    // MARK: Subscriptions

    /// Registers a subscription and queues its SUB when connected.
    package mutating func subscribe(
        subject: String,
        queue: String?,
        buffer: TransportMessageBuffer
    ) -> (sid: UInt64, action: EnqueueAction) {
        guard status != .closed else { return (0, .fail(Self.closedError)) }
        let sid = nextSID
        nextSID += 1
        subscriptions[sid] = Subscription(subject: subject, queue: queue, buffer: buffer)
        return (sid, enqueueControl(.subscribe(subject: subject, queue: queue, sid: sid)))
    }

    /// Marks `sid` as awaiting the server's verdict: a permission denial for it is kept for
    /// ``finishConfirming(sid:)``.
    package mutating func startConfirming(sid: UInt64) {
        confirmingSubscriptions[sid] = .some(nil)
    }

    /// Ends the wait for `sid`; returns the server's denial, if one arrived.
    package mutating func finishConfirming(sid: UInt64) -> EventbaseError? {
        confirmingSubscriptions.removeValue(forKey: sid) ?? nil
    }

    /// Removes a subscription and queues its UNSUB; returns its continuation to finish, if it was active.
    package mutating func unsubscribe(sid: UInt64) -> (TransportMessageBuffer?, EnqueueAction) {
        guard let sub = subscriptions.removeValue(forKey: sid) else { return (nil, .queued) }
        return (sub.buffer, enqueueControl(.unsubscribe(sid: sid, max: nil)))
    }

    /// Removes every subscription (for drain), queuing UNSUBs.
    package mutating func unsubscribeAll() -> ([TransportMessageBuffer], EnqueueAction) {
        var buffers = [TransportMessageBuffer]()
        var action = EnqueueAction.queued
        for sid in subscriptions.keys.sorted() {
            let (buffer, next) = unsubscribe(sid: sid)
            if let buffer { buffers.append(buffer) }
            if case .scheduleFlush = next { action = next }
        }
        return (buffers, action)
    }

    /// Where an incoming message goes.
    package enum DeliverAction {
        case yield(TransportMessageBuffer, TransportMessage)
        case reply(
            CheckedContinuation<TransportMessage, any Error>, Result<TransportMessage, EventbaseError>, Scheduled<Void>?
        )
        case drop
    }

    package mutating func deliver(_ message: NATSInboundMessage) -> DeliverAction {
        let transportMessage = TransportMessage(
            subject: message.subject,
            replyTo: message.replyTo,
            headers: message.headers,
            payload: message.payload
        )
        if let inbox, message.sid == inbox.sid {
            return reply(to: message.subject, inboxPrefix: inbox.prefix, transportMessage)
        }
        guard let sub = subscriptions[message.sid] else { return .drop }
        return .yield(sub.buffer, transportMessage)
    }

    /// Where a batch of incoming messages goes, in order per subscription.
    package struct BatchDelivery {
        /// Each subscription's messages, in the order received.
        package var yields:
            [(sid: UInt64, subject: String, buffer: TransportMessageBuffer, messages: [TransportMessage])] =
                []
        /// Replies to requests: resume each continuation with its result, after cancelling its timeout.
        package var replies:
            [(
                CheckedContinuation<TransportMessage, any Error>, Result<TransportMessage, EventbaseError>,
                Scheduled<Void>?
            )] =
                []
    }

    /// Routes messages read together: one lock for the batch, one hand-off per subscription.
    package mutating func deliver(_ messages: [NATSInboundMessage]) -> BatchDelivery {
        var delivery = BatchDelivery()
        var last = -1
        for message in messages {
            let transportMessage = TransportMessage(
                subject: message.subject,
                replyTo: message.replyTo,
                headers: message.headers,
                payload: message.payload
            )
            if let inbox, message.sid == inbox.sid {
                if case .reply(let continuation, let result, let timeout) = reply(
                    to: message.subject, inboxPrefix: inbox.prefix, transportMessage)
                {
                    delivery.replies.append((continuation, result, timeout))
                }
                continue
            }
            if last >= 0, delivery.yields[last].sid == message.sid {
                delivery.yields[last].messages.append(transportMessage)
                continue
            }
            if let index = delivery.yields.firstIndex(where: { $0.sid == message.sid }) {
                last = index
                delivery.yields[index].messages.append(transportMessage)
                continue
            }
            guard let sub = subscriptions[message.sid] else { continue }
            last = delivery.yields.count
            var group = [transportMessage]
            // Most reads carry one subscription's messages: no regrowing.
            group.reserveCapacity(messages.count)
            delivery.yields.append((message.sid, sub.subject, sub.buffer, group))
        }
        return delivery
    }

    private mutating func reply(to subject: String, inboxPrefix: String, _ message: TransportMessage) -> DeliverAction {
        let token = String(subject.dropFirst(inboxPrefix.utf8.count + 1))
        guard let request = requests.removeValue(forKey: token) else { return .drop }
        if message.headers?.status == 503 {
            return .reply(
                request.continuation,
                .failure(EventbaseError(.noResponders, "No one is listening on '\(request.subject)'.")),
                request.timeout
            )
        }
        return .reply(request.continuation, .success(message), request.timeout)
    }

    /// A subscription's buffer overflowed: remove it, count it, queue its UNSUB.
    package mutating func slowConsumer(sid: UInt64) -> (TransportMessageBuffer?, EnqueueAction) {
        let result = unsubscribe(sid: sid)
        if result.0 != nil { slowConsumers += 1 }
        return result
    }

    // MARK: Requests

    /// Registers a request under `token` (unique on this connection) with its encoded headers; returns the
    /// SUB of the shared inbox (for the first request), the PUB, and a sweep to schedule when `deadline` is
    /// the earliest one.
    package mutating func request(
        subject: String,
        payload: [UInt8],
        headers: MessageHeaders?,
        headerBlock: [UInt8]?,
        token: String,
        deadline: NIODeadline?,
        limit: Duration,
        continuation: CheckedContinuation<TransportMessage, any Error>,
        newInboxPrefix: () -> String
    ) -> (subscribe: EnqueueAction?, publish: EnqueueAction, sweep: RequestSweep?) {
        var subscribeAction: EnqueueAction?
        if inbox == nil, status != .closed {
            let prefix = newInboxPrefix()
            let sid = nextSID
            nextSID += 1
            inbox = (prefix, sid)
            subscribeAction = enqueueControl(.subscribe(subject: prefix + ".*", queue: nil, sid: sid))
        }
        let replyTo = (inbox?.prefix ?? "_INBOX") + "." + token
        var action = publish(
            subject: subject, replyTo: replyTo, headers: headers, headerBlock: headerBlock, payload: payload)
        if case .waitForWrite = action {
            // A request does not wait for buffer room: its timeout bounds it, and the reply needs the PUB sent.
            let op = NATSClientOp.publish(subject: subject, replyTo: replyTo, headers: headers, payload: payload)
            action = enqueue(op, size: Self.size(of: op))
        }
        if case .fail = action { return (subscribeAction, action, nil) }
        requests[token] = Request(subject: subject, continuation: continuation, timeout: nil, limit: limit)
        guard let deadline else { return (subscribeAction, action, nil) }
        addRequestDeadline(deadline, token: token)
        if let scheduled = requestSweep, scheduled.deadline <= deadline { return (subscribeAction, action, nil) }
        requestSweepGeneration += 1
        let sweep = RequestSweep(deadline: deadline, generation: requestSweepGeneration)
        requestSweep = sweep
        return (subscribeAction, action, sweep)
    }

    /// Queues the request under `token` again, to the same reply subject, if it is still waiting for
    /// its reply on this connection; `nil` when it was answered, timed out or failed (nothing to do).
    package mutating func resendRequest(
        subject: String, payload: [UInt8], headers: MessageHeaders?, headerBlock: [UInt8]?, token: String
    ) -> EnqueueAction? {
        guard requests[token] != nil, status == .connected, let inbox else { return nil }
        let replyTo = inbox.prefix + "." + token
        var action = publish(
            subject: subject, replyTo: replyTo, headers: headers, headerBlock: headerBlock, payload: payload)
        if case .waitForWrite = action {
            let op = NATSClientOp.publish(subject: subject, replyTo: replyTo, headers: headers, payload: payload)
            action = enqueue(op, size: Self.size(of: op))
        }
        if case .fail = action { return nil }
        requestsResent += 1
        return action
    }

    private mutating func addRequestDeadline(_ deadline: NIODeadline, token: String) {
        if requestDeadlines.count - requestDeadlinesStart > 2 * requests.count + 1024 {
            // Mostly answered requests: keep the pending ones.
            requestDeadlines = requestDeadlines[requestDeadlinesStart...].filter { requests[$0.token] != nil }
            requestDeadlinesStart = 0
        }
        // A shorter timeout than earlier requests' is inserted in order.
        requestDeadlines.insertInOrder((deadline, token), from: requestDeadlinesStart, by: \.deadline)
    }

    /// Fails the requests whose deadline is at or before `now` (removing them); returns them with their
    /// subjects and limits, and the next sweep to schedule, if `sweep` is the latest and requests remain.
    package mutating func expireRequests(now: NIODeadline, sweep: RequestSweep) -> (
        expired: [(CheckedContinuation<TransportMessage, any Error>, subject: String, limit: Duration)],
        next: RequestSweep?
    ) {
        var expired: [(CheckedContinuation<TransportMessage, any Error>, subject: String, limit: Duration)] = []
        while requestDeadlinesStart < requestDeadlines.count {
            let (deadline, token) = requestDeadlines[requestDeadlinesStart]
            if requests[token] == nil {
                requestDeadlinesStart += 1
                continue
            }
            guard deadline <= now else { break }
            requestDeadlinesStart += 1
            if let request = requests.removeValue(forKey: token) {
                expired.append((request.continuation, request.subject, request.limit))
            }
        }
        requestDeadlines.compactConsumed(start: &requestDeadlinesStart)
        guard sweep.generation == requestSweepGeneration else { return (expired, nil) }
        guard requestDeadlinesStart < requestDeadlines.count else {
            requestSweep = nil
            return (expired, nil)
        }
        requestSweepGeneration += 1
        let next = RequestSweep(
            deadline: requestDeadlines[requestDeadlinesStart].deadline, generation: requestSweepGeneration)
        requestSweep = next
        return (expired, next)
    }

    /// Stores a request's timeout task; returns it back when the request already finished (cancel it).
    package mutating func setRequestTimeout(_ token: String, _ timeout: Scheduled<Void>) -> Scheduled<Void>? {
        guard requests[token] != nil else { return timeout }
        requests[token]?.timeout = timeout
        return nil
    }

    /// Ends a request early (timeout or cancellation); returns its continuation if it was pending.
    package mutating func removeRequest(_ token: String) -> (
        CheckedContinuation<TransportMessage, any Error>, Scheduled<Void>?
    )? {
        guard let request = requests.removeValue(forKey: token) else { return nil }
        return (request.continuation, request.timeout)
    }

    // MARK: Pings and flushes

    /// Queues a PING for a flush.
    package mutating func flush(_ continuation: CheckedContinuation<Void, any Error>) -> (
        id: UInt64, action: EnqueueAction
    ) {
        guard status == .connected else {
            return (
                0,
                .fail(
                    status == .closed
                        ? Self.closedError : EventbaseError(.unavailable, "Not connected to NATS; cannot flush."))
            )
        }
        let id = nextFlushID
        nextFlushID += 1
        flushWaiters[id] = FlushWaiter(continuation: continuation, timeout: nil)
        pongQueue.append(id)
        return (id, enqueueControl(.ping))
    }

    /// Stores a flush's timeout; returns it back when the flush already finished.
    package mutating func setFlushTimeout(_ id: UInt64, _ timeout: Scheduled<Void>) -> Scheduled<Void>? {
        guard flushWaiters[id] != nil else { return timeout }
        flushWaiters[id]?.timeout = timeout
        return nil
    }

    /// Ends a flush early (timeout).
    package mutating func removeFlush(_ id: UInt64) -> CheckedContinuation<Void, any Error>? {
        flushWaiters.removeValue(forKey: id)?.continuation
    }

    /// What a keep-alive tick does.
    package enum PingAction {
        case none
        case send(EnqueueAction)
        case staleConnection(any Channel, EventbaseError)
    }

    /// The keep-alive timer fired for `channel`.
    package mutating func pingTimerFired(_ channel: any Channel) -> PingAction {
        guard status == .connected, self.channel === channel else { return .none }
        if outstandingPings >= limits.maxOutstandingPings {
            let error = EventbaseError(
                .unavailable,
                "The NATS server did not answer \(outstandingPings) PINGs: the connection is stale. Reconnecting."
            )
            setDisconnectReason(error)
            return .staleConnection(channel, error)
        }
        outstandingPings += 1
        pongQueue.append(nil)
        return .send(enqueueControl(.ping))
    }

    /// A PONG arrived: the connection is alive; returns the flush it answers, if any.
    package mutating func pongReceived() -> FlushWaiter? {
        outstandingPings = 0
        guard !pongQueue.isEmpty else { return nil }
        guard let id = pongQueue.removeFirst() else { return nil }
        return flushWaiters.removeValue(forKey: id)
    }

    // MARK: Server errors

    /// What a server `-ERR` does.
    package struct ServerErrorAction {
        package var error: EventbaseError
        package var endedSubscriptions: [TransportMessageBuffer] = []
        package var failedRequests: [(CheckedContinuation<TransportMessage, any Error>, Scheduled<Void>?)] = []
        /// Whether the server closes the connection after it.
        package var closesConnection: Bool
    }

    package mutating func serverError(_ text: String) -> ServerErrorAction {
        let error = Self.classify(text)
        lastError = error
        let lower = text.lowercased()
        if lower.hasPrefix("permissions violation") {
            var action = ServerErrorAction(error: error, closesConnection: false)
            let subject = Self.quoted(text)
            if lower.contains("for subscription") {
                for (sid, sub) in subscriptions where sub.subject == subject {
                    subscriptions[sid] = nil
                    action.endedSubscriptions.append(sub.buffer)
                    if confirmingSubscriptions[sid] != nil { confirmingSubscriptions[sid] = .some(error) }
                }
                if let inbox, subject == inbox.prefix + ".*" {
                    // No reply can arrive: fail the requests waiting on the inbox, and subscribe afresh
                    // with the next request (permissions may have changed by then).
                    self.inbox = nil
                    for (token, request) in requests {
                        requests[token] = nil
                        action.failedRequests.append((request.continuation, request.timeout))
                    }
                }
            } else if lower.contains("for publish") {
                for (token, request) in requests where request.subject == subject {
                    requests[token] = nil
                    action.failedRequests.append((request.continuation, request.timeout))
                }
            }
            return action
        }
        if lower.hasPrefix("invalid subject") || lower.hasPrefix("unknown protocol") {
            return ServerErrorAction(error: error, closesConnection: lower.hasPrefix("unknown"))
        }
        disconnectReason = error
        return ServerErrorAction(error: error, closesConnection: true)
    }

    /// Maps `-ERR` text to an error code.
    package static func classify(_ text: String) -> EventbaseError {
        let lower = text.lowercased()
        let cause = NATSServerError(text: text)
        if lower.contains("authorization violation") || lower.contains("authentication") {
            return EventbaseError(
                .authenticationFailed,
                "The NATS server rejected the credentials: \(text). Check the user, password, token, nkey or creds file.",
                cause: cause)
        }
        if lower.hasPrefix("permissions violation") {
            return EventbaseError(
                .permissionDenied, "The NATS server denied it: \(text). Grant the permission to this user.",
                cause: cause)
        }
        if lower.contains("maximum payload") {
            return EventbaseError(
                .limitExceeded, "The NATS server refused a message above its max_payload and closed the connection.",
                cause: cause)
        }
        if lower.contains("slow consumer") {
            return EventbaseError(
                .slowConsumer, "The NATS server dropped this client as a slow consumer.", cause: cause)
        }
        if lower.contains("stale connection") || lower.contains("maximum connections") {
            return EventbaseError(.unavailable, "The NATS server closed the connection: \(text).", cause: cause)
        }
        return EventbaseError(.serverError, "The NATS server reported: \(text).", cause: cause)
    }

    private static func quoted(_ text: String) -> String? {
        guard let open = text.firstIndex(of: "\"") else { return nil }
        let rest = text[text.index(after: open)...]
        guard let close = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<close])
    }

    // MARK: Events and closing

    package mutating func addEventContinuation(_ continuation: AsyncStream<ConnectionEvent>.Continuation) -> UInt64? {
        guard status != .closed else { return nil }
        let id = nextEventID
        nextEventID += 1
        eventContinuations[id] = continuation
        return id
    }

    package mutating func removeEventContinuation(_ id: UInt64) {
        eventContinuations[id] = nil
    }

    /// Event streams to tell about a change.
    package var eventListeners: [AsyncStream<ConnectionEvent>.Continuation] { Array(eventContinuations.values) }

    /// Everything to release when the transport closes.
    package struct CloseAction {
        package var channel: (any Channel)?
        package var runTask: Task<Void, Never>?
        package var subscriptions: [TransportMessageBuffer]
        package var requests: [(CheckedContinuation<TransportMessage, any Error>, Scheduled<Void>?)]
        package var flushes: [FlushWaiter]
        package var connectWaiters: [CheckedContinuation<Void, any Error>]
        package var writeWaiters: [CheckedContinuation<Void, Never>]
        package var events: [AsyncStream<ConnectionEvent>.Continuation]
    }

    /// Closes; `nil` when already closed.
    package mutating func close() -> CloseAction? {
        guard status != .closed else { return nil }
        status = .closed
        let action = CloseAction(
            channel: channel,
            runTask: runTask,
            subscriptions: subscriptions.sorted { $0.key < $1.key }.map(\.value.buffer),
            requests: requests.values.map { ($0.continuation, $0.timeout) },
            flushes: Array(flushWaiters.values),
            connectWaiters: connectWaiters,
            writeWaiters: writeWaiters,
            events: Array(eventContinuations.values)
        )
        channel = nil
        runTask = nil
        subscriptions = [:]
        requests = [:]
        requestDeadlines = []
        requestDeadlinesStart = 0
        requestSweep = nil
        flushWaiters = [:]
        connectWaiters = []
        writeWaiters = []
        eventContinuations = [:]
        outbound = []
        outboundEncoded = ByteBuffer()
        outboundBytes = 0
        return action
    }

    package static let closedError = EventbaseError(
        .closed, "The NATS transport is closed. Create a new one to continue.")
}

/// The text of a NATS server `-ERR`, kept as the `cause` of an ``EventbaseError``.
public struct NATSServerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The error text the server sent, without quotes.
    public var text: String

    /// The error text.
    public var description: String { "-ERR '\(text)'" }
}

extension Array {
    /// Drops the elements before `start` (already consumed) once they are all of the array, or more
    /// than half of it and over 1,024, and moves `start` back to 0: a queue consumed from the front
    /// without shifting on every removal.
    package mutating func compactConsumed(start: inout Int) {
        if start == count {
            removeAll(keepingCapacity: true)
            start = 0
        } else if start > 1024, start * 2 > count {
            removeFirst(start)
            start = 0
        }
    }

    /// Inserts `element` so that `self[start...]`, sorted by `key`, stays sorted (after elements with
    /// an equal key): an append when it sorts last, as deadlines usually do, else a binary search.
    package mutating func insertInOrder(
        _ element: Element, from start: Int, by key: (Element) -> NIODeadline
    ) {
        let value = key(element)
        guard let last, count > start, key(last) > value else {
            append(element)
            return
        }
        var low = start
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if key(self[middle]) <= value { low = middle + 1 } else { high = middle }
        }
        insert(element, at: low)
    }
}
