import EventbaseCore
import Foundation
import Synchronization

/// A ``Transport`` without sockets for JetStream unit tests: requests are answered by a script,
/// subscriptions are fed by the test, and everything sent is recorded (``waitForSent(_:count:)``).
final class ScriptedTransport: Transport {
    /// Something the code under test sent.
    struct Sent: Sendable {
        var subject: String
        var payload: [UInt8]
        var headers: MessageHeaders?
        var isRequest: Bool

        var json: JSONValue? { try? JSONValue(jsonBytes: payload) }
    }

    typealias Script = @Sendable (_ subject: String, _ payload: [UInt8]) throws -> TransportMessage

    private struct Waiter {
        let prefix: String
        let count: Int
        let continuation: CheckedContinuation<[Sent], Never>
    }

    private struct State {
        var subscriptions: [String: AsyncThrowingStream<TransportMessage, any Error>.Continuation] = [:]
        var events: [AsyncStream<ConnectionEvent>.Continuation] = []
        var sent: [Sent] = []
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
        var closed = false

        func matching(_ prefix: String) -> [Sent] { sent.filter { $0.subject.hasPrefix(prefix) } }
    }

    private let state = Mutex(State())
    private let script: Script

    init(script: @escaping Script) {
        self.script = script
    }

    private func record(_ item: Sent) {
        let ready = state.withLock { state -> [(CheckedContinuation<[Sent], Never>, [Sent])] in
            state.sent.append(item)
            var ready: [(CheckedContinuation<[Sent], Never>, [Sent])] = []
            for (id, waiter) in state.waiters {
                let matching = state.matching(waiter.prefix)
                if matching.count >= waiter.count {
                    ready.append((waiter.continuation, matching))
                    state.waiters[id] = nil
                }
            }
            return ready
        }
        for (continuation, items) in ready { continuation.resume(returning: items) }
    }

    /// Everything sent whose subject starts with `prefix`, once there are at least `count` such
    /// (empty if the task is cancelled first).
    func waitForSent(_ prefix: String, count: Int = 1) async -> [Sent] {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[Sent], Never>) in
                let ready = state.withLock { state -> [Sent]? in
                    let matching = state.matching(prefix)
                    if matching.count >= count || Task.isCancelled { return matching }
                    state.waiters[id] = Waiter(prefix: prefix, count: count, continuation: continuation)
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(returning: [])
        }
    }

    /// Everything sent so far whose subject starts with `prefix`.
    func sent(_ prefix: String) -> [Sent] { state.withLock { $0.matching(prefix) } }

    func connect() async throws {}

    func publish(_ subject: String, payload: [UInt8], headers: MessageHeaders?, replyTo: String?) async throws {
        record(Sent(subject: subject, payload: payload, headers: headers, isRequest: false))
    }

    func subscribe(_ subject: String, queue: String?) async throws -> TransportSubscription {
        let (stream, continuation) = AsyncThrowingStream<TransportMessage, any Error>.makeStream()
        state.withLock { $0.subscriptions[subject] = continuation }
        return TransportSubscription(subject: subject, stream: stream) { [weak self] in
            guard let self, let continuation = self.state.withLock({ $0.subscriptions.removeValue(forKey: subject) })
            else { return }
            continuation.finish()
            // Recorded as a pseudo-subject, so tests can await it.
            self.record(Sent(subject: "UNSUB " + subject, payload: [], headers: nil, isRequest: false))
        }
    }

    func request(_ subject: String, payload: [UInt8], headers: MessageHeaders?, timeout: Duration) async throws
        -> TransportMessage
    {
        record(Sent(subject: subject, payload: payload, headers: headers, isRequest: true))
        return try script(subject, payload)
    }

    func flush(timeout: Duration) async throws {}

    func connectionEvents() -> AsyncStream<ConnectionEvent> {
        let (stream, continuation) = AsyncStream<ConnectionEvent>.makeStream()
        state.withLock { $0.events.append(continuation) }
        return stream
    }

    var maxPayload: Int? { 1_048_576 }

    func close() async {
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

    // MARK: Playing the server

    /// Delivers a message to the subscription on `subject`.
    func deliver(_ message: TransportMessage, to subject: String) {
        _ = state.withLock { $0.subscriptions[subject] }?.yield(message)
    }

    /// Announces a connection event.
    func announce(_ event: ConnectionEvent) {
        for continuation in state.withLock({ $0.events }) { continuation.yield(event) }
    }

    /// Whether something is subscribed to `subject`.
    func isSubscribed(_ subject: String) -> Bool { state.withLock { $0.subscriptions[subject] != nil } }
}

/// JSON replies of a scripted JetStream server.
enum ScriptedJetStream {
    static func reply(_ json: JSONValue) -> TransportMessage {
        TransportMessage(subject: "_INBOX.reply", payload: json.jsonBytes())
    }

    static func streamInfo(_ name: String, lastSequence: UInt64, messages: UInt64? = nil) -> TransportMessage {
        reply([
            "config": ["name": .string(name), "subjects": [.string(name + ".*")], "storage": "file"],
            "created": "2024-05-01T12:00:00.123456789Z",
            "state": [
                "messages": .number(Double(messages ?? lastSequence)), "bytes": 0, "first_seq": 1,
                "last_seq": .number(Double(lastSequence)), "consumer_count": 0,
            ],
        ])
    }

    static func consumer(_ name: String, pending: UInt64) -> TransportMessage {
        reply([
            "name": .string(name), "num_pending": .number(Double(pending)),
            "delivered": ["consumer_seq": 0, "stream_seq": 0],
        ])
    }

    static func error(code: Int, errorCode: Int, _ description: String) -> TransportMessage {
        reply([
            "error": [
                "code": .number(Double(code)), "err_code": .number(Double(errorCode)),
                "description": .string(description),
            ]
        ])
    }

    /// A stored event as the consumer delivers it.
    static func event(
        stream: String, key: String, streamSequence: UInt64, consumerSequence: UInt64, pending: UInt64,
        consumer: String = "c"
    ) -> TransportMessage {
        let payload = #"{"type":"PUT","id":"\#(key)","data":{"seq":\#(streamSequence)},"timestamp":1700000000000}"#
        return TransportMessage(
            subject: "\(stream).\(Data(key.utf8).base64EncodedString())-put",
            replyTo:
                "$JS.ACK.\(stream).\(consumer).1.\(streamSequence).\(consumerSequence).1714564800123456789.\(pending)",
            payload: Array(payload.utf8))
    }

    static func heartbeat(lastConsumer: UInt64, lastStream: UInt64, stalled: String? = nil) -> TransportMessage {
        var headers = MessageHeaders(
            status: 100, statusDescription: "Idle Heartbeat",
            fields: [("Nats-Last-Consumer", String(lastConsumer)), ("Nats-Last-Stream", String(lastStream))])
        if let stalled { headers["Nats-Consumer-Stalled"] = stalled }
        return TransportMessage(subject: "_INBOX.x", headers: headers, payload: [])
    }
}
