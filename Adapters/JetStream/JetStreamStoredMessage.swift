public import EventbaseCore
public import Foundation

/// A message read back from a stream by sequence or by subject.
public struct JetStreamStoredMessage: Sendable, Hashable {
    /// The subject it was published on.
    public var subject: String
    /// Its stream sequence.
    public var sequence: UInt64
    /// When the server stored it, to the millisecond.
    public var time: Date?
    /// Its headers, if any.
    public var headers: MessageHeaders?
    /// Its payload.
    public var payload: [UInt8]

    /// Creates a message.
    public init(subject: String, sequence: UInt64, time: Date?, headers: MessageHeaders?, payload: [UInt8]) {
        self.subject = subject
        self.sequence = sequence
        self.time = time
        self.headers = headers
        self.payload = payload
    }
}

/// What `$JS.API.INFO` says about the account.
public struct JetStreamAccountInfo: Sendable, Hashable {
    /// Memory used by streams, in bytes.
    public var memory: UInt64
    /// Storage used by streams, in bytes.
    public var storage: UInt64
    /// How many streams the account has.
    public var streams: Int
    /// How many consumers the account has.
    public var consumers: Int
    /// The JetStream domain, if any.
    public var domain: String?

    /// Creates account info.
    public init(memory: UInt64, storage: UInt64, streams: Int, consumers: Int, domain: String?) {
        self.memory = memory
        self.storage = storage
        self.streams = streams
        self.consumers = consumers
        self.domain = domain
    }
}
