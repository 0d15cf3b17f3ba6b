/// A snapshot of an ``Eventbase`` instance's health: how far its replica is behind the stream, what
/// it skipped or dropped, and the state of its connection.
///
/// Take one with ``Eventbase/health(timeout:)``; a metrics poller or a readiness endpoint reads it
/// periodically.
///
/// ```swift
/// let health = await eventbase.health()
/// if health.isHealthy, (health.lag ?? 0) < 100 { /* ready */ }
/// ```
public struct EventbaseHealth: Sendable, Hashable {
    /// The stream the instance follows.
    public var streamName: String
    /// The instance's ``Eventbase/instanceID``.
    public var instanceID: String
    /// The last log sequence the local replica has applied.
    public var appliedSequence: UInt64
    /// The stream's last sequence as the log reported it for this snapshot, or `nil` when the log
    /// could not be asked (closed, unreachable, or no answer within the timeout given to
    /// ``Eventbase/health(timeout:)``; see ``logError``).
    public var streamLastSequence: UInt64?
    /// Why ``streamLastSequence`` is missing, when it is (the error's code).
    public var logError: EventbaseError.Code?
    /// How many log entries the replica skipped because they were not valid events (poison messages).
    public var invalidEntryCount: Int
    /// How many stats were dropped because the stats buffer was full.
    public var droppedStatsCount: Int
    /// How many live subscriptions and change sequences are active.
    public var activeSubscriptionCount: Int
    /// The log's connection, when the log has one and reports it (see ``EventLog/connectionStatus``).
    public var connection: ConnectionStatus?
    /// Why the replica stopped following the log (for example `.streamDeleted`), or `nil` while it follows.
    public var failure: EventbaseError.Code?
    /// Whether the instance was closed.
    public var isClosed: Bool

    /// Creates a snapshot (``Eventbase/health(timeout:)`` makes them; tests and custom reporters may too).
    public init(
        streamName: String,
        instanceID: String,
        appliedSequence: UInt64,
        streamLastSequence: UInt64?,
        logError: EventbaseError.Code? = nil,
        invalidEntryCount: Int = 0,
        droppedStatsCount: Int = 0,
        activeSubscriptionCount: Int = 0,
        connection: ConnectionStatus? = nil,
        failure: EventbaseError.Code? = nil,
        isClosed: Bool = false
    ) {
        self.streamName = streamName
        self.instanceID = instanceID
        self.appliedSequence = appliedSequence
        self.streamLastSequence = streamLastSequence
        self.logError = logError
        self.invalidEntryCount = invalidEntryCount
        self.droppedStatsCount = droppedStatsCount
        self.activeSubscriptionCount = activeSubscriptionCount
        self.connection = connection
        self.failure = failure
        self.isClosed = isClosed
    }

    /// How many entries the replica is behind the stream (`streamLastSequence - appliedSequence`,
    /// never negative), or `nil` when the stream's last sequence is unknown.
    ///
    /// Purged entries count too, so a replica that is caught up can show a small lag until the
    /// next entry arrives; it is a measure for alerts, not an exact backlog.
    public var lag: UInt64? {
        streamLastSequence.map { $0 > appliedSequence ? $0 - appliedSequence : 0 }
    }

    /// Whether the instance is open, following the log, and (when it reports a connection) connected.
    public var isHealthy: Bool {
        guard !isClosed, failure == nil else { return false }
        if let connection, connection.state != .connected { return false }
        return true
    }
}
