public import EventbaseCore
import Foundation
import Synchronization

/// A fake JetStream server behind the ``Transport`` port, with seeded faults: the deterministic
/// simulation tier of the fault tests. It runs the real JetStream adapters (and Eventbase on top)
/// without sockets or processes, so thousands of faults fit in seconds.
///
/// It serves one stream: `STREAM.CREATE`/`INFO`, publishes with `Nats-Msg-Id` de-duplication and
/// `Nats-Expected-Last-Subject-Sequence`, ephemeral push consumers (`CONSUMER.CREATE`/`DELETE`)
/// that deliver with `$JS.ACK` metadata, `STREAM.MSG.GET` and `PURGE`. It never sends idle
/// heartbeats (heartbeat silence is permanent: readers must notice by themselves), and with
/// ``Faults`` it loses publish requests and acks, answers stored publishes with 10158, delivers messages twice or skips a consumer
/// sequence, deletes consumers, and announces reconnects. Every choice comes from the seed.
public final class SimulatedJetStream: Transport {
    /// How often each fault happens (probabilities per event, 0...1).
    public struct Faults: Sendable, Hashable {
        /// A publish request is lost before the server stores it (the client times out).
        public var lostPublish = 0.0
        /// The server stores a publish but its ack is lost (the client times out).
        public var lostAck = 0.0
        /// A delivery is sent twice.
        public var duplicateDelivery = 0.0
        /// A delivery is skipped (a gap in consumer sequences).
        public var skippedDelivery = 0.0
        /// A consumer is deleted on the server after a delivery.
        public var consumerDeletion = 0.0
        /// The connection drops and comes back after a publish.
        public var reconnect = 0.0
        /// A publish with a `Nats-Msg-Id` is stored, but answered with JetStream error 10158
        /// ("duplicate message id is in process"), as a replicated stream answers a resent copy
        /// while the first is still being committed; asking again gets the duplicate ack.
        public var duplicateInProcess = 0.0

        /// No faults.
        public init() {}

        /// Every fault at `probability`.
        public static func all(_ probability: Double) -> Faults {
            var faults = Faults()
            faults.lostPublish = probability
            faults.lostAck = probability
            faults.duplicateDelivery = probability
            faults.skippedDelivery = probability
            faults.consumerDeletion = probability
            faults.reconnect = probability
            faults.duplicateInProcess = probability
            return faults
        }
    }

    /// Faults injected so far, by kind.
    public var injected: [String: Int] { state.withLock { $0.injected } }

    private struct Consumer {
        var deliverSubject: String
        var consumerSequence: UInt64 = 0
    }

    private struct State {
        var random: SeededGenerator
        var stream: String?
        var messages: [RawStreamMessage] = []
        var headers: [UInt64: MessageHeaders] = [:]
        var messageIDs: [String: UInt64] = [:]
        var lastSequence: UInt64 = 0
        var subscriptions: [String: AsyncThrowingStream<TransportMessage, any Error>.Continuation] = [:]
        var consumers: [String: Consumer] = [:]
        var nextConsumer = 0
        var events: [AsyncStream<ConnectionEvent>.Continuation] = []
        var injected: [String: Int] = [:]
        var closed = false

        mutating func roll(_ probability: Double, _ kind: String) -> Bool {
            guard probability > 0, Double.random(in: 0..<1, using: &random) < probability else { return false }
            injected[kind, default: 0] += 1
            return true
        }

        /// Delivers stored message `index` to consumer `name`, with delivery faults. Yields under
        /// the lock so deliveries keep the server's order.
        mutating func deliver(_ index: Int, to name: String, faults: Faults) {
            guard var consumer = consumers[name], let stream else { return }
            if roll(faults.skippedDelivery, "skipped-delivery") { consumer.consumerSequence += 1 }
            consumer.consumerSequence += 1
            consumers[name] = consumer
            let message = messages[index]
            let pending = lastSequence - message.sequence
            let delivered = TransportMessage(
                subject: message.subject,
                replyTo:
                    "$JS.ACK.\(stream).\(name).1.\(message.sequence).\(consumer.consumerSequence).1714564800123456789.\(pending)",
                headers: headers[message.sequence], payload: message.payload)
            let continuation = subscriptions[consumer.deliverSubject]
            continuation?.yield(delivered)
            if roll(faults.duplicateDelivery, "duplicate-delivery") { continuation?.yield(delivered) }
            if roll(faults.consumerDeletion, "consumer-deleted") { consumers[name] = nil }
        }
    }

    /// The faults it injects.
    public let faults: Faults
    private let state: Mutex<State>

    /// Creates a server with no stream.
    /// - Parameters:
    ///   - seed: Decides every fault.
    ///   - faults: How often each fault happens.
    public init(seed: UInt64, faults: Faults = Faults()) {
        self.faults = faults
        self.state = Mutex(State(random: SeededGenerator(seed: seed)))
    }

    /// Every message stored, in order (for the checkers).
    public var storedMessages: [RawStreamMessage] { state.withLock { $0.messages } }

    // MARK: Transport

    /// Does nothing: the simulated server is always there.
    public func connect() async throws {}

    /// Accepts and ignores a plain publish (flow-control answers and the like).
    public func publish(_ subject: String, payload: [UInt8], headers: MessageHeaders?, replyTo: String?) async throws {
        if state.withLock({ $0.closed }) { throw EventbaseError(.closed, "The simulated transport is closed.") }
        // Flow-control answers and the like: nothing to do.
    }

    /// Subscribes to one exact subject (consumers deliver to theirs).
    public func subscribe(_ subject: String, queue: String?) async throws -> TransportSubscription {
        let (stream, continuation) = AsyncThrowingStream<TransportMessage, any Error>.makeStream()
        let closed = state.withLock { state in
            if !state.closed { state.subscriptions[subject] = continuation }
            return state.closed
        }
        if closed { throw EventbaseError(.closed, "The simulated transport is closed.") }
        return TransportSubscription(subject: subject, stream: stream) { [weak self] in
            let continuation = self?.state.withLock { state in
                // An ephemeral consumer goes away with its delivery subject's interest.
                state.consumers = state.consumers.filter { $0.value.deliverSubject != subject }
                return state.subscriptions.removeValue(forKey: subject)
            }
            continuation?.finish()
        }
    }

    /// Answers a JetStream API request or a publish to the stream, with the seeded faults.
    public func request(_ subject: String, payload: [UInt8], headers: MessageHeaders?, timeout: Duration)
        async throws -> TransportMessage
    {
        let body = (try? JSONValue(jsonBytes: payload)) ?? [:]
        let (reply, events) = try state.withLock { state -> (JSONValue, [AsyncStream<ConnectionEvent>.Continuation]) in
            if state.closed { throw EventbaseError(.closed, "The simulated transport is closed.") }
            let reply = try handle(&state, subject, body: body, payload: payload, headers: headers, timeout: timeout)
            let reconnect = subject.hasPrefix("$JS.") ? false : state.roll(faults.reconnect, "reconnect")
            return (reply, reconnect ? state.events : [])
        }
        for event in events {
            event.yield(.disconnected(error: nil))
            event.yield(.reconnected(server: "simulated"))
        }
        return TransportMessage(subject: "_INBOX.reply", payload: reply.jsonBytes())
    }

    /// Does nothing: everything is processed at once.
    public func flush(timeout: Duration) async throws {}

    /// Connection events: only the simulated reconnects.
    public func connectionEvents() -> AsyncStream<ConnectionEvent> {
        let (stream, continuation) = AsyncStream<ConnectionEvent>.makeStream()
        state.withLock { $0.events.append(continuation) }
        return stream
    }

    /// 1 MiB, as nats-server's default.
    public var maxPayload: Int? { 1_048_576 }

    /// Ends every subscription and event sequence.
    public func close() async {
        let (subscriptions, events) = state.withLock { state in
            state.closed = true
            defer {
                state.subscriptions = [:]
                state.events = []
            }
            return (Array(state.subscriptions.values), state.events)
        }
        for subscription in subscriptions { subscription.finish() }
        for event in events { event.finish() }
    }

    // MARK: The server

    private static func error(_ code: Int, _ errorCode: Int, _ description: String) -> JSONValue {
        [
            "error": [
                "code": .number(Double(code)), "err_code": .number(Double(errorCode)),
                "description": .string(description),
            ]
        ]
    }

    private func info(_ state: State) -> JSONValue {
        guard let stream = state.stream else { return Self.error(404, 10059, "stream not found") }
        return [
            "config": ["name": .string(stream), "subjects": [.string(stream + ".*")], "storage": "file"],
            "created": "2024-05-01T12:00:00.123456789Z",
            "state": [
                "messages": .number(Double(state.messages.count)), "bytes": 0,
                "first_seq": .number(Double(state.messages.first?.sequence ?? state.lastSequence + 1)),
                "last_seq": .number(Double(state.lastSequence)),
                "consumer_count": .number(Double(state.consumers.count)),
            ],
        ]
    }

    private func handle(
        _ state: inout State, _ subject: String, body: JSONValue, payload: [UInt8], headers: MessageHeaders?,
        timeout: Duration
    ) throws -> JSONValue {
        let api = "$JS.API."
        if subject == api + "INFO" { return ["memory": 0, "storage": 0, "streams": 1, "consumers": 0] }
        if subject.hasPrefix(api + "STREAM.CREATE.") {
            if state.stream == nil { state.stream = String(subject.dropFirst((api + "STREAM.CREATE.").count)) }
            return info(state)
        }
        if subject.hasPrefix(api + "STREAM.INFO.") { return info(state) }
        guard let stream = state.stream else {
            if subject.hasPrefix(api) { return Self.error(404, 10059, "stream not found") }
            throw EventbaseError(.noResponders, "No responders for \(subject).")
        }
        if subject.hasPrefix(api + "CONSUMER.CREATE.") {
            let config = body["config"]
            guard let deliver = config?["deliver_subject"]?.stringValue else {
                return Self.error(400, 10000, "pull consumers are not simulated")
            }
            let start = UInt64(max(1, config?["opt_start_seq"]?.doubleValue ?? 1))
            let name = "sim\(state.nextConsumer)"
            state.nextConsumer += 1
            state.consumers[name] = Consumer(deliverSubject: deliver)
            let backlog = state.messages.indices.filter { state.messages[$0].sequence >= start }
            for index in backlog { state.deliver(index, to: name, faults: faults) }
            return [
                "name": .string(name), "num_pending": .number(Double(backlog.count)),
                "delivered": ["consumer_seq": 0, "stream_seq": 0],
            ]
        }
        if subject.hasPrefix(api + "CONSUMER.DELETE.") {
            let name = String(subject.split(separator: ".").last ?? "")
            return state.consumers.removeValue(forKey: name) == nil
                ? Self.error(404, 10014, "consumer not found") : ["success": true]
        }
        if subject.hasPrefix(api + "STREAM.MSG.GET.") {
            let from = UInt64(max(1, body["seq"]?.doubleValue ?? 1))
            guard let message = state.messages.first(where: { $0.sequence >= from }) else {
                return Self.error(404, 10037, "no message found")
            }
            return [
                "message": [
                    "subject": .string(message.subject), "seq": .number(Double(message.sequence)),
                    "data": .string(Data(message.payload).base64EncodedString()),
                    "time": "2024-05-01T12:00:00.123456789Z",
                ]
            ]
        }
        if subject.hasPrefix(api + "STREAM.PURGE.") { return ["success": true, "purged": 0] }
        if subject.hasPrefix(api) { return Self.error(400, 10000, "not simulated: \(subject)") }
        guard subject.hasPrefix(stream + ".") else {
            throw EventbaseError(.noResponders, "No responders for \(subject).")
        }
        // A publish to the stream.
        if state.roll(faults.lostPublish, "lost-publish") {
            throw EventbaseError(.timeout, "The simulated publish request was lost.")
        }
        let messageID = headers?["Nats-Msg-Id"]
        if let messageID, let sequence = state.messageIDs[messageID] {
            return ["stream": .string(stream), "seq": .number(Double(sequence)), "duplicate": true]
        }
        if let expected = headers?["Nats-Expected-Last-Subject-Sequence"].flatMap(UInt64.init) {
            let last = state.messages.last { $0.subject == subject }?.sequence ?? 0
            if last != expected {
                return Self.error(400, 10071, "wrong last sequence: \(last)")
            }
        }
        state.lastSequence += 1
        let sequence = state.lastSequence
        state.messages.append(
            RawStreamMessage(sequence: sequence, subject: subject, messageID: messageID, payload: payload))
        state.headers[sequence] = headers
        if let messageID { state.messageIDs[messageID] = sequence }
        for name in state.consumers.keys.sorted() {
            state.deliver(state.messages.count - 1, to: name, faults: faults)
        }
        if state.roll(faults.lostAck, "lost-ack") {
            throw EventbaseError(.timeout, "The simulated ack was lost.")
        }
        if messageID != nil, state.roll(faults.duplicateInProcess, "duplicate-in-process") {
            return Self.error(409, 10158, "duplicate message id is in process")
        }
        return ["stream": .string(stream), "seq": .number(Double(sequence))]
    }
}
