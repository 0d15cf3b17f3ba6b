/// The server's acknowledgement of a message stored in a stream (`PubAck`).
public struct JetStreamPubAck: Sendable, Hashable {
    /// The stream that stored it.
    public var stream: String
    /// The sequence assigned.
    public var sequence: UInt64
    /// Whether the server had already stored a message with the same `Nats-Msg-Id` (nothing new was
    /// stored; ``sequence`` is the original's).
    public var duplicate: Bool
    /// The JetStream domain, if any.
    public var domain: String?

    /// Creates an ack.
    public init(stream: String, sequence: UInt64, duplicate: Bool = false, domain: String? = nil) {
        self.stream = stream
        self.sequence = sequence
        self.duplicate = duplicate
        self.domain = domain
    }
}

/// Headers that make a JetStream publish conditional or idempotent.
public struct JetStreamPublishOptions: Sendable, Hashable {
    /// `Nats-Msg-Id`: a publish repeated with the same id within the duplicate window is stored once.
    public var messageID: String?
    /// `Nats-Expected-Last-Subject-Sequence`: the subject's newest message must be at this sequence
    /// (0: the subject must hold no message).
    public var expectedLastSubjectSequence: UInt64?
    /// `Nats-Expected-Last-Sequence`: the stream's newest message must be at this sequence.
    public var expectedLastSequence: UInt64?
    /// `Nats-Expected-Stream`: the message must land in this stream.
    public var expectedStream: String?
    /// While no ack has come, send the message again every this long (the same `Nats-Msg-Id`, so it
    /// is stored once): a publish lost with a stream leader that failed is stored as soon as a new
    /// leader is elected, instead of failing at the request timeout. Ignored for a message without a
    /// `Nats-Msg-Id` (a copy would be stored twice), and by transports that cannot resend.
    public var resendInterval: Duration?

    /// Creates options.
    public init(
        messageID: String? = nil, expectedLastSubjectSequence: UInt64? = nil, expectedLastSequence: UInt64? = nil,
        expectedStream: String? = nil, resendInterval: Duration? = nil
    ) {
        self.messageID = messageID
        self.expectedLastSubjectSequence = expectedLastSubjectSequence
        self.expectedLastSequence = expectedLastSequence
        self.expectedStream = expectedStream
        self.resendInterval = resendInterval
    }
}
