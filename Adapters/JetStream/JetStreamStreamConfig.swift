public import EventbaseCore

/// The configuration of a JetStream stream, as sent to `$JS.API.STREAM.CREATE` and `UPDATE`.
///
/// Only the fields Eventbase needs are modelled; the server fills in the rest with its defaults
/// (limits retention, discard old).
public struct JetStreamStreamConfig: Sendable, Hashable {
    /// The stream's name.
    public var name: String
    /// The subjects it captures (wildcards allowed).
    public var subjects: [String]
    /// File or memory storage.
    public var storage: JetStreamStreamOptions.Storage
    /// How many servers keep a copy.
    public var replicas: Int
    /// The oldest a message may get; `nil` for no limit.
    public var maxAge: Duration?
    /// The most bytes kept; `nil` for no limit.
    public var maxBytes: Int64?
    /// The most messages kept per subject; `nil` for no limit.
    public var maxMessagesPerSubject: Int64?
    /// How long duplicate `Nats-Msg-Id`s are detected.
    public var duplicateWindow: Duration
    /// Whether direct gets are allowed.
    public var allowDirect: Bool
    /// The most messages the stream keeps; `nil` for no limit. Read from stream info; Eventbase
    /// never sets it.
    public var maxMessages: Int64?
    /// Whether the stream refuses new messages at its limits (`discard: new`) instead of removing
    /// the oldest (`discard: old`, the default). Read from stream info; Eventbase never sets it.
    public var discardsNew: Bool = false

    /// Creates a configuration.
    public init(
        name: String,
        subjects: [String],
        storage: JetStreamStreamOptions.Storage = .file,
        replicas: Int = 1,
        maxAge: Duration? = nil,
        maxBytes: Int64? = nil,
        maxMessagesPerSubject: Int64? = nil,
        duplicateWindow: Duration = .seconds(120),
        allowDirect: Bool = true
    ) {
        self.name = name
        self.subjects = subjects
        self.storage = storage
        self.replicas = replicas
        self.maxAge = maxAge
        self.maxBytes = maxBytes
        self.maxMessagesPerSubject = maxMessagesPerSubject
        self.duplicateWindow = duplicateWindow
        self.allowDirect = allowDirect
        self.maxMessages = nil
    }

    /// The limits of this configuration that make the server remove messages replicas may still
    /// need, by their JSON names; empty when there are none. A replica that was running keeps what
    /// such a removal takes while one that starts afterwards never sees it, so replicas would
    /// disagree: ``JetStreamEventLog/open()`` refuses them. `max_age` expires messages whatever the
    /// discard policy; `max_bytes` and `max_msgs` remove the oldest unless the stream discards new
    /// messages instead; `max_msgs_per_subject` can remove the put a refused conditional put was
    /// judged against.
    public var divergingLimits: [String] {
        var limits: [String] = []
        if maxAge != nil { limits.append("max_age") }
        if maxBytes != nil, !discardsNew { limits.append("max_bytes") }
        if maxMessages != nil, !discardsNew { limits.append("max_msgs") }
        if maxMessagesPerSubject != nil { limits.append("max_msgs_per_subject") }
        return limits
    }

    /// The configuration as the JetStream API's JSON.
    public var jsonValue: JSONValue {
        var object = JSONObject()
        object["name"] = .string(name)
        object["subjects"] = .array(subjects.map { .string($0) })
        object["retention"] = "limits"
        object["storage"] = .string(storage.rawValue)
        object["num_replicas"] = .number(Double(replicas))
        object["max_age"] = .number(Double(maxAge.map(Self.nanoseconds) ?? 0))
        object["max_bytes"] = .number(Double(maxBytes ?? -1))
        object["max_msgs"] = -1
        object["max_msgs_per_subject"] = .number(Double(maxMessagesPerSubject ?? -1))
        object["discard"] = "old"
        object["duplicate_window"] = .number(Double(Self.nanoseconds(duplicateWindow)))
        object["allow_direct"] = .bool(allowDirect)
        return .object(object)
    }

    /// Reads a configuration from the API's JSON (as found in stream info).
    init(json: JSONValue) {
        self.init(
            name: json["name"]?.stringValue ?? "",
            subjects: json["subjects"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            storage: json["storage"]?.stringValue.flatMap(JetStreamStreamOptions.Storage.init(rawValue:)) ?? .file,
            replicas: json["num_replicas"]?.intValue ?? 1,
            maxAge: Self.duration(json["max_age"]),
            maxBytes: Self.limit(json["max_bytes"]),
            maxMessagesPerSubject: Self.limit(json["max_msgs_per_subject"]),
            duplicateWindow: Self.duration(json["duplicate_window"]) ?? .seconds(120),
            allowDirect: json["allow_direct"]?.boolValue ?? false
        )
        maxMessages = Self.limit(json["max_msgs"])
        discardsNew = json["discard"]?.stringValue == "new"
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// A positive duration in nanoseconds; `nil` for anything else (a server's reply is not trusted
    /// to fit: a number past Int64 would trap in the conversion).
    private static func duration(_ value: JSONValue?) -> Duration? {
        guard let nanoseconds = value?.doubleValue, nanoseconds > 0, nanoseconds < 9.2e18 else { return nil }
        return .nanoseconds(Int64(nanoseconds))
    }

    /// A non-negative limit; `nil` (no limit) for anything else, including numbers past Int64.
    private static func limit(_ value: JSONValue?) -> Int64? {
        guard let number = value?.doubleValue, number >= 0, number < 9.2e18 else { return nil }
        return Int64(number)
    }
}
