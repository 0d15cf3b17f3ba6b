/// A connection to a NATS-like message server: the port that networked adapters talk through.
///
/// The JetStream adapters are written against this protocol only, so any implementation (the
/// SwiftNIO NATS client, an in-memory fake, a scripted test double) can carry them.
///
/// ## Implementation requirements
///
/// - **Thread safety**: every method may be called concurrently from any task.
/// - **Ordering**: messages published on one transport reach the server in call order; messages
///   delivered to one subscription arrive in the order the server sent them.
/// - **Deadlines**: every wait is bounded. ``request(_:payload:headers:timeout:)`` and
///   ``flush(timeout:)`` fail with ``EventbaseError/Code/timeout`` when the deadline passes.
/// - **Disconnects**: while disconnected, ``publish(_:payload:headers:replyTo:)`` buffers into a
///   bounded buffer flushed on reconnect; beyond the bound it throws
///   ``EventbaseError/Code/unavailable``. Subscriptions survive reconnects.
/// - **Errors** (as ``EventbaseError`` codes): `.closed` after ``close()``; `.timeout`;
///   `.unavailable` when no server can be reached; `.noResponders` when a request has no
///   responder (immediately, not after the timeout); `.permissionDenied`; `.authenticationFailed`;
///   `.limitExceeded` for a payload above the server's maximum; `.protocolError`; `.slowConsumer`
///   ends a subscription whose bounded buffer overflowed.
/// - **Lifecycle**: ``connect()`` is idempotent; ``close()`` is idempotent, finishes every
///   subscription and fails every pending request with `.closed`.
public protocol Transport: Sendable {
    /// Connects to the server (or does nothing if already connected).
    /// - Throws: `.unavailable`, `.authenticationFailed`, `.timeout`, `.closed`.
    func connect() async throws

    /// Publishes a message.
    ///
    /// Returns once the message is handed to the connection (or its reconnect buffer); it does not
    /// wait for the server. Use ``flush(timeout:)`` to wait for the server.
    /// - Parameters:
    ///   - subject: The subject to publish on.
    ///   - payload: The message body.
    ///   - headers: Headers, sent with `HPUB` when not `nil`.
    ///   - replyTo: The reply subject, if any.
    /// - Throws: `.closed`, `.limitExceeded`, `.unavailable`, `.invalidArgument` for an invalid subject.
    func publish(_ subject: String, payload: [UInt8], headers: MessageHeaders?, replyTo: String?) async throws

    /// Subscribes to a subject (wildcards allowed), optionally in a queue group.
    /// - Returns: A subscription that yields messages until it is unsubscribed or the transport closes.
    /// - Throws: `.closed`, `.invalidArgument`, `.permissionDenied`.
    func subscribe(_ subject: String, queue: String?) async throws -> TransportSubscription

    /// Sends a request and waits for the first reply.
    /// - Returns: The reply message.
    /// - Throws: `.timeout` after `timeout`; `.noResponders` at once when nobody listens; `.closed`.
    func request(_ subject: String, payload: [UInt8], headers: MessageHeaders?, timeout: Duration) async throws
        -> TransportMessage

    /// Sends a request and waits for the first reply, sending it again (to the same reply subject)
    /// every `resendInterval` while no reply has come, until `timeout`. Only for requests that are
    /// safe to repeat: a JetStream publish with a `Nats-Msg-Id`, which the stream stores once.
    ///
    /// A request lost on its way (to a stream leader that just failed, for example) is then answered
    /// as soon as a server can answer it, instead of after `timeout`. Implementations may ignore
    /// `resendInterval` (the default implementation sends once).
    /// - Throws: as ``request(_:payload:headers:timeout:)``.
    func request(
        _ subject: String, payload: [UInt8], headers: MessageHeaders?, timeout: Duration, resendInterval: Duration?
    ) async throws -> TransportMessage

    /// Waits until the server has processed everything sent so far (a PING/PONG round trip).
    /// - Throws: `.timeout`, `.closed`, `.unavailable`.
    func flush(timeout: Duration) async throws

    /// Connection state changes, from now on. Each call returns a new, independent sequence.
    func connectionEvents() -> AsyncStream<ConnectionEvent>

    /// The largest payload the server accepts, once known (from the server's INFO).
    var maxPayload: Int? { get }

    /// Closes the connection. Idempotent.
    func close() async

    /// The connection's state and reconnect count now, for health checks; `nil` when the transport
    /// cannot tell (the default). Must not block or do I/O.
    var connectionStatus: ConnectionStatus? { get }
}

extension Transport {
    /// Nothing to report: `nil`.
    public var connectionStatus: ConnectionStatus? { nil }

    /// Publishes a message with no headers and no reply subject.
    public func publish(_ subject: String, payload: [UInt8]) async throws {
        try await publish(subject, payload: payload, headers: nil, replyTo: nil)
    }

    /// Subscribes to a subject outside any queue group.
    public func subscribe(_ subject: String) async throws -> TransportSubscription {
        try await subscribe(subject, queue: nil)
    }

    /// Sends a request with no headers.
    public func request(_ subject: String, payload: [UInt8], timeout: Duration) async throws -> TransportMessage {
        try await request(subject, payload: payload, headers: nil, timeout: timeout)
    }

    /// Sends the request once: resending is optional for a transport.
    public func request(
        _ subject: String, payload: [UInt8], headers: MessageHeaders?, timeout: Duration, resendInterval: Duration?
    ) async throws -> TransportMessage {
        try await request(subject, payload: payload, headers: headers, timeout: timeout)
    }
}

/// A change in a transport's connection.
public enum ConnectionEvent: Sendable, CustomStringConvertible {
    /// Connected for the first time, to the given server.
    case connected(server: String)
    /// Lost the connection; `error` says why, if known.
    case disconnected(error: EventbaseError?)
    /// Connected again after a disconnect; subscriptions were re-established.
    case reconnected(server: String)
    /// Closed for good; `error` is set when it closed because of a failure.
    case closed(error: EventbaseError?)

    public var description: String {
        switch self {
        case .connected(let server): "connected(\(server))"
        case .disconnected(let error): "disconnected(\(error.map { "\($0)" } ?? "nil"))"
        case .reconnected(let server): "reconnected(\(server))"
        case .closed(let error): "closed(\(error.map { "\($0)" } ?? "nil"))"
        }
    }
}

/// A message received from a ``Transport``.
public struct TransportMessage: Sendable, Hashable {
    /// The subject it was published on.
    public var subject: String
    /// The reply subject, if the publisher expects a reply.
    public var replyTo: String?
    /// Headers (and a status line, for server status messages), if any were sent.
    public var headers: MessageHeaders?
    /// The body.
    public var payload: [UInt8]

    /// Creates a message.
    public init(subject: String, replyTo: String? = nil, headers: MessageHeaders? = nil, payload: [UInt8]) {
        self.subject = subject
        self.replyTo = replyTo
        self.headers = headers
        self.payload = payload
    }

    /// The status code of a server status message (`100`, `404`, `408`, `409`, `503`), if any.
    public var status: Int? { headers?.status }
}

/// NATS message headers: an ordered multimap of names to values, with an optional status line.
///
/// Names are compared case-sensitively, as NATS does; use the canonical names
/// (`Nats-Msg-Id`, `Nats-Expected-Last-Subject-Sequence`).
public struct MessageHeaders: Sendable, Hashable, ExpressibleByDictionaryLiteral, Sequence {
    /// The status code from the `NATS/1.0 <code> <description>` line, if present.
    public var status: Int?
    /// The status description from the status line, if present.
    public var statusDescription: String?
    /// The header fields in order.
    public private(set) var fields: [(name: String, value: String)]

    /// Creates headers.
    public init(status: Int? = nil, statusDescription: String? = nil, fields: [(name: String, value: String)] = []) {
        self.status = status
        self.statusDescription = statusDescription
        self.fields = fields
    }

    /// Creates empty headers.
    public init() {
        self.init(fields: [])
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(fields: elements.map { (name: $0.0, value: $0.1) })
    }

    /// The first value for `name`. Setting replaces every value for `name`; `nil` removes them.
    public subscript(name: String) -> String? {
        get { fields.first { $0.name == name }?.value }
        set {
            fields.removeAll { $0.name == name }
            if let newValue { fields.append((name, newValue)) }
        }
    }

    /// Every value for `name`, in order.
    public func values(for name: String) -> [String] {
        fields.filter { $0.name == name }.map(\.value)
    }

    /// Adds a value for `name`, keeping existing ones.
    public mutating func append(_ value: String, for name: String) {
        fields.append((name, value))
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    public static func == (lhs: MessageHeaders, rhs: MessageHeaders) -> Bool {
        lhs.status == rhs.status && lhs.statusDescription == rhs.statusDescription
            && lhs.fields.elementsEqual(rhs.fields) { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(status)
        hasher.combine(statusDescription)
        for field in fields {
            hasher.combine(field.name)
            hasher.combine(field.value)
        }
    }
}

/// The messages of one subscription, as an `AsyncSequence`.
///
/// Iteration ends when the subscription is unsubscribed or the transport closes, and throws when
/// the subscription fails (for example `.slowConsumer` when its bounded buffer overflowed, or
/// `.permissionDenied`).
public struct TransportSubscription: AsyncSequence, Sendable {
    public typealias Element = TransportMessage

    /// The subject subscribed to.
    public let subject: String
    private let source: Source
    private let onUnsubscribe: @Sendable () async -> Void

    private enum Source: Sendable {
        case stream(AsyncThrowingStream<TransportMessage, any Error>)
        case buffer(BufferConsumer)
    }

    /// The consuming side of a ``TransportMessageBuffer``: when the last copy of the subscription and
    /// of its iterators is gone, the buffer is terminated (as an `AsyncThrowingStream` is).
    fileprivate final class BufferConsumer: Sendable {
        let buffer: TransportMessageBuffer

        init(_ buffer: TransportMessageBuffer) {
            self.buffer = buffer
        }

        deinit {
            buffer.cancel()
        }
    }

    /// Creates a subscription from a stream the adapter feeds and the action that ends it.
    /// - Parameters:
    ///   - subject: The subject subscribed to.
    ///   - stream: The messages; the adapter finishes it when the subscription ends.
    ///   - unsubscribe: Ends the subscription on the server and finishes `stream`. Must be idempotent.
    public init(
        subject: String,
        stream: AsyncThrowingStream<TransportMessage, any Error>,
        unsubscribe: @escaping @Sendable () async -> Void
    ) {
        self.subject = subject
        self.source = .stream(stream)
        self.onUnsubscribe = unsubscribe
    }

    /// Creates a subscription from a buffer the adapter fills in batches and the action that ends it.
    /// - Parameters:
    ///   - subject: The subject subscribed to.
    ///   - buffer: The messages; the adapter finishes it when the subscription ends.
    ///   - unsubscribe: Ends the subscription on the server and finishes `buffer`. Must be idempotent.
    package init(
        subject: String,
        buffer: TransportMessageBuffer,
        unsubscribe: @escaping @Sendable () async -> Void
    ) {
        self.subject = subject
        self.source = .buffer(BufferConsumer(buffer))
        self.onUnsubscribe = unsubscribe
    }

    /// Ends the subscription. Idempotent.
    public func unsubscribe() async {
        await onUnsubscribe()
    }

    public func makeAsyncIterator() -> AsyncIterator {
        switch source {
        case .stream(let stream): AsyncIterator(source: .stream(stream.makeAsyncIterator()))
        case .buffer(let consumer): AsyncIterator(source: .buffer(consumer))
        }
    }

    /// Iterates a subscription's messages. One task at a time.
    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Failure = any Error

        fileprivate enum Source {
            case stream(AsyncThrowingStream<TransportMessage, any Error>.AsyncIterator)
            case buffer(BufferConsumer)
        }

        fileprivate var source: Source
        /// The batch taken last, and how much of it was returned.
        private var batch: [TransportMessage] = []
        private var index = 0

        fileprivate init(source: Source) {
            self.source = source
        }

        /// The next message, or `nil` at the end.
        public mutating func next() async throws -> TransportMessage? {
            if index < batch.count {
                defer { index += 1 }
                return batch[index]
            }
            switch source {
            case .stream(var iterator):
                defer { source = .stream(iterator) }
                return try await iterator.next()
            case .buffer(let consumer):
                batch = []
                index = 0
                guard let taken = try await consumer.buffer.next() else { return nil }
                batch = taken
                index = 1
                return taken[0]
            }
        }

        /// The next message, or `nil` at the end, without leaving the caller's isolation while messages
        /// are ready.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(any Error) -> TransportMessage? {
            if index < batch.count {
                defer { index += 1 }
                return batch[index]
            }
            switch source {
            case .stream(var iterator):
                defer { source = .stream(iterator) }
                return try await iterator.next(isolation: actor)
            case .buffer(let consumer):
                batch = []
                index = 0
                guard let taken = try await consumer.buffer.next() else { return nil }
                batch = taken
                index = 1
                return taken[0]
            }
        }

        /// The messages that are ready (at least one, waiting for it), or `nil` at the end: what the
        /// server sent in one read, for a consumer that handles messages in batches.
        package mutating func nextBatch() async throws -> [TransportMessage]? {
            if index < batch.count {
                let rest = index == 0 ? batch : Array(batch[index...])
                batch = []
                index = 0
                return rest
            }
            switch source {
            case .stream(var iterator):
                defer { source = .stream(iterator) }
                return try await iterator.next().map { [$0] }
            case .buffer(let consumer):
                batch = []
                index = 0
                return try await consumer.buffer.next()
            }
        }
    }
}
