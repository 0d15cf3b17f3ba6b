/// Where operation stats go: a stats stream on NATS, memory, a metrics backend.
///
/// Eventbase never calls a sink from an operation: stats go into a bounded buffer that a background
/// task drains in batches, so a slow or failing sink never slows or fails a `get` or a `put`. When
/// the buffer is full, new stats are dropped and counted.
///
/// ## Implementation requirements
///
/// - **Thread safety**: methods may be called from any task (Eventbase calls ``record(_:)`` from one
///   task at a time).
/// - **Failure**: throwing from ``record(_:)`` drops that batch (it is logged); nothing else happens.
/// - **Deadlines**: ``record(_:)`` should give up after a bounded time.
public protocol StatsSink: Sendable {
    /// Prepares the sink (for example, creates the stats stream).
    func open() async throws

    /// Records a batch of stats, in the order they happened.
    func record(_ stats: [Stat]) async throws

    /// Flushes and releases resources. Idempotent.
    func close() async
}

/// One operation's stat, as eventbase v3 publishes it to `<statsStream>.stats`.
public struct Stat: Sendable, Hashable {
    /// The operation measured.
    public struct Operation: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// `get`.
        public static let get = Operation(rawValue: "GET")
        /// `put` and `insert`.
        public static let put = Operation(rawValue: "PUT")
        /// `delete`.
        public static let delete = Operation(rawValue: "DELETE")
        /// `keys`.
        public static let keys = Operation(rawValue: "KEYS")
        /// `query` and `count`.
        public static let query = Operation(rawValue: "QUERY")
        /// `subscribe` and `changes(matching:)`.
        public static let subscribe = Operation(rawValue: "SUBSCRIBE")
        /// A subscription was notified of a change.
        public static let subscribeEmit = Operation(rawValue: "SUBSCRIBE_EMIT")
        /// The replica skipped a message on the stream that is not a valid event (an Eventbase
        /// extension; ``Stat/reason`` holds the ``InvalidEntryKind`` and ``Stat/sequence`` the message).
        public static let skipInvalid = Operation(rawValue: "SKIP_INVALID")
    }

    /// The operation.
    public var operation: Operation
    /// The key, for key operations.
    public var id: String?
    /// The regex, for `keys`.
    public var pattern: String?
    /// The query, for queries and subscriptions.
    public var query: JSONValue?
    /// How many records a query returned.
    public var queryResultCount: Int?
    /// When the operation started, in milliseconds since 1970.
    public var timestamp: Int64
    /// How long it took, in milliseconds.
    public var duration: Double
    /// Why, for ``Operation/skipInvalid``: the ``InvalidEntryKind``'s name (an Eventbase extension).
    public var reason: String?
    /// The log sequence, for ``Operation/skipInvalid`` (an Eventbase extension).
    public var sequence: UInt64?

    /// Creates a stat.
    public init(
        operation: Operation,
        id: String? = nil,
        pattern: String? = nil,
        query: JSONValue? = nil,
        queryResultCount: Int? = nil,
        timestamp: Int64,
        duration: Double,
        reason: String? = nil,
        sequence: UInt64? = nil
    ) {
        self.operation = operation
        self.id = id
        self.pattern = pattern
        self.query = query
        self.queryResultCount = queryResultCount
        self.timestamp = timestamp
        self.duration = duration
        self.reason = reason
        self.sequence = sequence
    }

    /// The stat as eventbase v3's JSON object: `{"operation", "id"?, "pattern"?, "query"?, "queryResultCount"?, "timestamp", "duration"}`,
    /// plus the extensions `"reason"?` and `"sequence"?`.
    public var jsonValue: JSONValue {
        var object = JSONObject()
        object["operation"] = .string(operation.rawValue)
        if let id { object["id"] = .string(id) }
        if let pattern { object["pattern"] = .string(pattern) }
        if let query { object["query"] = query }
        if let queryResultCount { object["queryResultCount"] = .number(Double(queryResultCount)) }
        object["timestamp"] = .number(Double(timestamp))
        object["duration"] = .number(duration)
        if let reason { object["reason"] = .string(reason) }
        if let sequence { object["sequence"] = .number(Double(sequence)) }
        return .object(object)
    }
}
