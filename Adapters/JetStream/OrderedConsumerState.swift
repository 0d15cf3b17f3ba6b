import EventbaseCore
import Foundation

/// The decisions of an ordered consumer, without I/O: which message to deliver, when the consumer
/// must be recreated (a gap in consumer sequences, a heartbeat that disagrees, missed heartbeats, a
/// status message), and how far the reader has got (its ``position``).
///
/// The runner (``JetStreamLogReader``) feeds it messages and acts on what it returns; it counts
/// missed heartbeats itself.
struct OrderedConsumerState: Sendable {
    /// Why the consumer must be recreated.
    enum ResetReason: Sendable, Hashable, CustomStringConvertible {
        /// A message's consumer sequence was not the next one: messages were lost.
        case gap(expected: UInt64, received: UInt64)
        /// A heartbeat reported a last consumer sequence other than the one received.
        case heartbeatMismatch(reported: UInt64, received: UInt64)
        /// The server sent a status other than a heartbeat or flow control (such as 409, consumer deleted).
        case status(Int, String?)

        var description: String {
            switch self {
            case .gap(let expected, let received): "gap (expected consumer sequence \(expected), got \(received))"
            case .heartbeatMismatch(let reported, let received):
                "heartbeat reported consumer sequence \(reported), received \(received)"
            case .status(let code, let text): "status \(code) \(text ?? "")"
            }
        }
    }

    /// What to do with a received message.
    enum MessageAction: Sendable, Hashable {
        /// Decode and deliver the message: it is the entry at `sequence`, stored at `time`.
        case deliver(sequence: UInt64, time: Date)
        /// Answer the server's flow-control request (publish an empty message to `reply`).
        case flowControl(reply: String)
        /// A heartbeat; answer `stalledReply` if the server says it is stalled on flow control.
        case heartbeat(stalledReply: String?)
        /// Nothing to do (not a consumer message, or one already delivered).
        case skip
        /// Recreate the consumer from ``OrderedConsumerState/nextStart``.
        case reset(ResetReason)
    }

    /// The last stream sequence delivered (or the one before the start).
    private(set) var delivered: UInt64
    /// The last consumer sequence received from the current consumer.
    private(set) var consumerSequence: UInt64 = 0
    /// Every sequence up to this one was delivered or no longer exists.
    private(set) var position: UInt64
    /// The stream's last sequence as last read, before the current consumer was created.
    private(set) var knownLastSequence: UInt64 = 0
    /// Whether a consumer's `pending == 0` proves that nothing up to ``knownLastSequence`` is left to
    /// deliver. Only for a stream on one server: a replicated stream's consumer counts pending
    /// messages in its own server's copy, which may lag the leader that answered the stream read
    /// (after a leader change, for example); skipping to the known last sequence would then skip
    /// messages that are still to be delivered. A probe (answered by the leader) moves the position
    /// over a purged tail instead.
    private(set) var trustsPending = true
    /// Starts before `start` (the first sequence wanted).
    init(start: UInt64) {
        delivered = max(1, start) - 1
        position = delivered
    }

    /// Where a new consumer must start.
    var nextStart: UInt64 { delivered + 1 }

    /// Records the stream's last sequence, read before creating a consumer, and how many servers
    /// hold the stream.
    /// - Returns: `false` when it went backwards: the stream was deleted and created again.
    mutating func streamRead(lastSequence: UInt64, replicas: Int = 1) -> Bool {
        guard lastSequence >= knownLastSequence else { return false }
        knownLastSequence = lastSequence
        trustsPending = replicas <= 1
        return true
    }

    /// A new consumer was created from ``nextStart``; `pending` messages are waiting for it.
    mutating func consumerCreated(pending: UInt64) {
        consumerSequence = 0
        if pending == 0, trustsPending {
            // Nothing at or after nextStart existed after knownLastSequence was read.
            position = max(position, knownLastSequence)
        }
    }

    /// Decides what to do with a message from the delivery subject.
    mutating func receive(_ message: TransportMessage) -> MessageAction {
        if let status = message.status {
            guard status == 100 else { return .reset(.status(status, message.headers?.statusDescription)) }
            if let reply = message.replyTo, !reply.isEmpty { return .flowControl(reply: reply) }
            if let reported = message.headers?["Nats-Last-Consumer"].flatMap({ UInt64($0) }),
                reported != consumerSequence
            {
                return .reset(.heartbeatMismatch(reported: reported, received: consumerSequence))
            }
            return .heartbeat(stalledReply: message.headers?["Nats-Consumer-Stalled"])
        }
        guard let reply = message.replyTo, let metadata = AckMetadata(reply) else { return .skip }
        guard metadata.consumerSequence == consumerSequence + 1 else {
            return .reset(.gap(expected: consumerSequence + 1, received: metadata.consumerSequence))
        }
        consumerSequence = metadata.consumerSequence
        guard metadata.streamSequence > delivered else { return .skip }
        delivered = metadata.streamSequence
        position = max(position, delivered)
        if metadata.pending == 0, trustsPending {
            // Nothing after this message existed when it was sent, and everything up to
            // knownLastSequence existed before the consumer was created: the rest was purged.
            position = max(position, knownLastSequence)
        }
        return .deliver(sequence: metadata.streamSequence, time: metadata.time)
    }

    /// The result of a probe: the stream's last sequence (read first), then the first message at or
    /// after `position + 1`, if any. Whatever lies between does not exist any more.
    ///
    /// `lastSequence` does not raise ``knownLastSequence``: a message sent before the probe but not
    /// yet received may carry `pending == 0`, which only covers sequences read before the consumer.
    mutating func probed(lastSequence: UInt64, nextExisting: UInt64?) {
        if let nextExisting {
            position = max(position, nextExisting - 1)
        } else {
            position = max(position, lastSequence)
        }
    }
}

/// The metadata JetStream puts in a delivered message's reply subject:
/// `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp ns>.<pending>`, or
/// the newer form with a domain and account hash after `$JS.ACK` (and an optional random token).
struct AckMetadata: Sendable, Hashable {
    /// The reply subject it was parsed from, and where the stream and consumer names lie in its UTF-8.
    private var reply: String
    private var streamBytes: Range<Int>
    private var consumerBytes: Range<Int>
    var deliveredCount: UInt64
    var streamSequence: UInt64
    var consumerSequence: UInt64
    var timestampNanoseconds: Int64
    var pending: UInt64

    /// The stream's name.
    var stream: String { Self.substring(reply, streamBytes) }
    /// The consumer's name.
    var consumer: String { Self.substring(reply, consumerBytes) }

    init?(_ reply: String) {
        var reply = reply
        guard let parsed = reply.withUTF8({ Self.parse($0) }) else { return nil }
        self.reply = reply
        (streamBytes, consumerBytes) = (parsed.stream, parsed.consumer)
        (deliveredCount, streamSequence, consumerSequence) = (
            parsed.delivered, parsed.streamSequence, parsed.consumerSequence
        )
        (timestampNanoseconds, pending) = (parsed.timestamp, parsed.pending)
    }

    private static func substring(_ text: String, _ range: Range<Int>) -> String {
        let utf8 = text.utf8
        let start = utf8.index(utf8.startIndex, offsetBy: range.lowerBound)
        let end = utf8.index(utf8.startIndex, offsetBy: range.upperBound)
        return String(text[start..<end])
    }

    private typealias Parsed = (
        stream: Range<Int>, consumer: Range<Int>, delivered: UInt64, streamSequence: UInt64, consumerSequence: UInt64,
        timestamp: Int64, pending: UInt64
    )

    /// Parses without allocating: this runs for every delivered message.
    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Parsed? {
        // At most 12 tokens; their starts live on the stack.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 13) { starts in
            var count = 1
            starts[0] = 0
            for index in bytes.indices where bytes[index] == UInt8(ascii: ".") {
                guard count < 13 else { return nil }
                starts[count] = index + 1
                count += 1
            }
            return parse(bytes, starts: UnsafeBufferPointer(rebasing: starts[0..<count]))
        }
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>, starts: UnsafeBufferPointer<Int>) -> Parsed? {
        let count = starts.count
        guard count >= 9, count <= 12 else { return nil }
        func range(_ index: Int) -> Range<Int> {
            let end = index + 1 < count ? starts[index + 1] - 1 : bytes.count
            return starts[index]..<end
        }
        func token(_ index: Int) -> UnsafeBufferPointer<UInt8> {
            UnsafeBufferPointer(rebasing: bytes[range(index)])
        }
        guard token(0).elementsEqual("$JS".utf8), token(1).elementsEqual("ACK".utf8) else { return nil }
        let base = count == 9 ? 2 : 4
        guard count >= base + 7 else { return nil }
        func number(_ index: Int) -> UInt64? {
            let digits = token(index)
            guard !digits.isEmpty else { return nil }
            var value: UInt64 = 0
            for byte in digits {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                let (product, overflow) = value.multipliedReportingOverflow(by: 10)
                let (sum, carry) = product.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
                guard !overflow, !carry else { return nil }
                value = sum
            }
            return value
        }
        guard let delivered = number(base + 2), let streamSequence = number(base + 3),
            let consumerSequence = number(base + 4), let timestamp = number(base + 5), let pending = number(base + 6)
        else { return nil }
        return (
            range(base), range(base + 1), delivered, streamSequence, consumerSequence, Int64(clamping: timestamp),
            pending
        )
    }

    /// The server's storage time, to the millisecond.
    var time: Date { Date(millisecondsSince1970: timestampNanoseconds / 1_000_000) }
}
