/// How the JetStream adapters create and use a stream: its configuration when they create it, and
/// the client's deadlines and consumer tuning.
///
/// The defaults suit a single server: one replica, file storage, no size or age limit, a two-minute
/// de-duplication window. For a clustered JetStream use `replicas: 3`.
///
/// ```swift
/// let options = JetStreamStreamOptions(replicas: 3, duplicateWindow: .seconds(600))
/// ```
public struct JetStreamStreamOptions: Sendable, Hashable {
    /// Where the server keeps a stream's messages.
    public enum Storage: String, Sendable, Hashable {
        /// On disk (the default, as eventbase v3 uses).
        case file
        /// In memory: fast, lost when the server restarts.
        case memory
    }

    /// How many servers keep a copy of the stream (1 on a single server, 3 on a cluster).
    public var replicas: Int
    /// Where the stream's messages are kept.
    public var storage: Storage
    /// The oldest a message may get before the server removes it; `nil` for no limit.
    ///
    /// ``JetStreamEventLog/open()`` refuses a value with `.invalidArgument`: the server would remove
    /// a key's only event while running replicas keep its record, so replicas started later would
    /// disagree with them. Kept for reading configurations; leave it `nil`.
    public var maxAge: Duration?
    /// The most bytes the stream may hold (old messages are removed past it); `nil` for no limit.
    ///
    /// Refused by ``JetStreamEventLog/open()`` with `.invalidArgument`, as ``maxAge`` is.
    public var maxBytes: Int64?
    /// How long the server remembers `Nats-Msg-Id`s to drop duplicate writes.
    public var duplicateWindow: Duration
    /// The most messages kept per subject (per key and kind); `nil` for no limit.
    ///
    /// Refused by ``JetStreamEventLog/open()`` with `.invalidArgument`: it can remove the put that a
    /// refused conditional put was judged against, and replicas started later would judge it again
    /// differently. The default retention already keeps one put a key.
    public var maxMessagesPerSubject: Int64?
    /// Whether replicas may answer direct gets (`allow_direct`).
    public var allowDirect: Bool
    /// How long any one JetStream API request or publish may take before it fails with `.timeout`.
    public var requestTimeout: Duration
    /// While an append waits for its ack, it is sent again this often (the same event id, so the
    /// stream stores it once), and so is a read of the stream's info; `nil` sends each once. A write
    /// lost with a stream leader that crashed or hung is then stored as soon as a new leader is
    /// elected, instead of failing after ``requestTimeout``.
    public var resendInterval: Duration?
    /// How often the server sends a heartbeat to an idle reader. A reader that hears nothing for
    /// two to three of these intervals recreates its consumer.
    public var idleHeartbeat: Duration
    /// The most decoded entries a reader buffers ahead of its consumer (back-pressure past it).
    public var readBufferSize: Int
    /// The JetStream domain, if the account uses one (requests then go to `$JS.<domain>.API`).
    public var domain: String?

    /// Creates options.
    /// - Parameters:
    ///   - replicas: Copies of the stream (default 1).
    ///   - storage: File (default) or memory.
    ///   - maxAge: The oldest a message may get; `nil` (default) for no limit.
    ///   - maxBytes: The most bytes kept; `nil` (default) for no limit.
    ///   - duplicateWindow: How long duplicate writes are detected (default two minutes).
    ///   - maxMessagesPerSubject: The most messages kept per subject; `nil` (default) for no limit.
    ///   - allowDirect: Whether direct gets are allowed (default `true`).
    ///   - requestTimeout: The deadline of each request (default five seconds).
    ///   - resendInterval: How often an unanswered append or stream-info read is sent again
    ///     (default one second; `nil` for never).
    ///   - idleHeartbeat: The heartbeat interval of readers (default one second).
    ///   - readBufferSize: The most entries a reader buffers (default 16,384).
    ///   - domain: The JetStream domain, if any.
    public init(
        replicas: Int = 1,
        storage: Storage = .file,
        maxAge: Duration? = nil,
        maxBytes: Int64? = nil,
        duplicateWindow: Duration = .seconds(120),
        maxMessagesPerSubject: Int64? = nil,
        allowDirect: Bool = true,
        requestTimeout: Duration = .seconds(5),
        resendInterval: Duration? = .seconds(1),
        idleHeartbeat: Duration = .seconds(1),
        readBufferSize: Int = 16_384,
        domain: String? = nil
    ) {
        self.replicas = replicas
        self.storage = storage
        self.maxAge = maxAge
        self.maxBytes = maxBytes
        self.duplicateWindow = duplicateWindow
        self.maxMessagesPerSubject = maxMessagesPerSubject
        self.allowDirect = allowDirect
        self.requestTimeout = requestTimeout
        self.resendInterval = resendInterval
        self.idleHeartbeat = idleHeartbeat
        self.readBufferSize = readBufferSize
        self.domain = domain
    }

    /// The configuration of a stream named `name` that captures `<name>.*`.
    public func streamConfig(name: String) -> JetStreamStreamConfig {
        JetStreamStreamConfig(
            name: name,
            subjects: [name + ".*"],
            storage: storage,
            replicas: replicas,
            maxAge: maxAge,
            maxBytes: maxBytes,
            maxMessagesPerSubject: maxMessagesPerSubject,
            duplicateWindow: duplicateWindow,
            allowDirect: allowDirect
        )
    }
}
