public import EventbaseCore
public import Foundation

/// What `$JS.API.STREAM.INFO` says about a stream: its configuration, creation time and state.
public struct JetStreamStreamInfo: Sendable, Hashable {
    /// The stream's configuration as the server holds it.
    public var config: JetStreamStreamConfig
    /// When the stream was created, to the millisecond (identifies this incarnation of it).
    public var created: Date?
    /// How many messages it holds.
    public var messages: UInt64
    /// How many bytes it holds.
    public var bytes: UInt64
    /// The sequence of its oldest message.
    public var firstSequence: UInt64
    /// The sequence of the newest message ever stored (0 when none), even if it was purged.
    public var lastSequence: UInt64
    /// How many consumers it has.
    public var consumerCount: Int

    /// Creates stream info.
    public init(
        config: JetStreamStreamConfig, created: Date?, messages: UInt64, bytes: UInt64, firstSequence: UInt64,
        lastSequence: UInt64, consumerCount: Int
    ) {
        self.config = config
        self.created = created
        self.messages = messages
        self.bytes = bytes
        self.firstSequence = firstSequence
        self.lastSequence = lastSequence
        self.consumerCount = consumerCount
    }

    /// Reads stream info from the API's JSON.
    init(json: JSONValue) {
        let state = json["state"]
        self.init(
            config: JetStreamStreamConfig(json: json["config"] ?? .null),
            created: json["created"]?.stringValue.flatMap(ISO8601.parse).map { Date(millisecondsSince1970: $0) },
            messages: UInt64(json: state?["messages"]),
            bytes: UInt64(json: state?["bytes"]),
            firstSequence: UInt64(json: state?["first_seq"]),
            lastSequence: UInt64(json: state?["last_seq"]),
            consumerCount: state?["consumer_count"]?.intValue ?? 0
        )
    }

    /// The stream's state as an ``EventLog`` reports it.
    public var logState: LogState {
        LogState(
            lastSequence: lastSequence,
            messageCount: messages,
            identity: StreamIdentity(name: config.name, created: created)
        )
    }
}

extension UInt64 {
    /// A non-negative JSON number as a `UInt64` (0 when missing or invalid).
    init(json value: JSONValue?) {
        guard let number = value?.doubleValue, number.isFinite, number >= 0, number < 1.8e19 else {
            self = 0
            return
        }
        self = UInt64(number)
    }
}
