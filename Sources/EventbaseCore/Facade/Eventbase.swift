public import Foundation
import Logging
import Synchronization

/// A distributed, event-sourced key-value database on one stream.
///
/// Every write is an event appended to the stream's log; this instance keeps a local replica that
/// follows the log in order, so reads, queries and live subscriptions are local and fast, and every
/// instance on the same stream converges on the same state. A write returns once *this* instance's
/// replica has applied it, so a caller always reads its own writes.
///
/// `Eventbase` is a reference type, safe to share across tasks. Open one with
/// `Eventbase.builder(streamName:)` and close it with ``close()``.
public final class Eventbase: Sendable {
    struct Configuration: Sendable {
        let streamName: String
        let eventLog: any EventLog
        let stateStore: any StateStore
        let statsSink: (any StatsSink)?
        let transport: (any Transport)?
        let onMessage: (@Sendable (LogEntry) throws -> Void)?
        let clock: any Clock<Duration>
        let now: @Sendable () -> Date
        let logger: Logger
        let options: EventbaseOptions
        let instanceID: String
        let companions: [@Sendable (Eventbase) async -> Void]
    }

    /// The stream this instance follows.
    public let streamName: String
    /// Identifies this instance in logs and metrics (`eventbase.instance` in log metadata): a new
    /// random value per ``EventbaseBuilder/build()``.
    public let instanceID: String
    let configuration: Configuration
    let replica: Replica
    let lifecycle: Mutex<InstanceLifecycle<CheckedContinuation<Void, Never>>>
    /// Set once the background work has started (it never runs again after it ends): lets a write
    /// know without a lock whether the deadline loop bounds its wait.
    let backgroundStarted = Atomic<Bool>(false)
    let elapsed: ElapsedClock
    /// Stats of operations, for the stats sink.
    let stats: StatsRecorder
    /// Follows the log into the replica.
    let follower: LogFollower
    /// Purges and marker compactions in the background.
    let maintenance: LogMaintenance
    var logger: Logger { configuration.logger }
    var log: any EventLog { configuration.eventLog }
    var store: any StateStore { configuration.stateStore }

    init(configuration: Configuration, replica: Replica, identity: consuming StreamIdentity) {
        self.streamName = configuration.streamName
        self.instanceID = configuration.instanceID
        self.configuration = configuration
        self.replica = replica
        self.lifecycle = Mutex(InstanceLifecycle(lastAccessed: configuration.now()))
        let elapsed = ElapsedClock(configuration.clock)
        self.elapsed = elapsed
        let stats = StatsRecorder(
            sink: configuration.statsSink, capacity: configuration.options.statsBufferSize,
            timeout: configuration.options.statsTimeout, clock: configuration.clock, now: configuration.now,
            logger: configuration.logger)
        self.stats = stats
        self.follower = LogFollower(
            log: configuration.eventLog, replica: replica, identity: identity, stats: stats,
            options: configuration.options, clock: configuration.clock, elapsed: elapsed, now: configuration.now,
            logger: configuration.logger)
        self.maintenance = LogMaintenance(
            log: configuration.eventLog, store: configuration.stateStore, replica: replica,
            capacity: configuration.options.purgeBufferSize, clock: configuration.clock, elapsed: elapsed,
            logger: configuration.logger)
    }

    // MARK: State

    /// When an operation last used this instance (for the manager's keep-alive).
    public var lastAccessed: Date { lifecycle.withLock { $0.lastAccessed } }

    /// How many live subscriptions and change sequences are active.
    public var activeSubscriptionCount: Int { replica.subscriberCount }

    /// The last log sequence the local replica has applied.
    public var appliedSequence: UInt64 { replica.appliedSequence }

    /// How many log entries were skipped because they were not valid events (the sum of
    /// ``invalidEntryCounts``).
    public var invalidEntryCount: Int { replica.invalidEntryCount }

    /// How many log entries were skipped because they were not valid events, per kind of problem.
    ///
    /// Every replica of a stream skips the same entries for the same reasons, so these counts agree
    /// between instances that have applied the same sequence. Kinds never seen are absent. Each
    /// skipped entry is also logged as a warning (sequence, kind, subject; never the payload) and
    /// recorded as a ``Stat/Operation/skipInvalid`` stat.
    public var invalidEntryCounts: [InvalidEntryKind: Int] { replica.invalidEntryCounts }

    /// How many stats were dropped because the stats buffer was full.
    public var droppedStatsCount: Int { stats.droppedCount }

    /// Whether ``close()`` has been called.
    public var isClosed: Bool { lifecycle.withLock { $0.isClosed } }

    /// Marks the instance as used at `now`.
    func touch(_ now: Date) {
        lifecycle.withLock { $0.touch(now) }
    }

    /// Why the instance stopped (its stream was deleted, its store failed, …), or `nil` while it works.
    var failure: EventbaseError? { replica.failure }

    func begin() throws -> Date {
        let now = configuration.now()
        guard lifecycle.withLock({ $0.beginRead(at: now) }) else { throw EventbaseError.closed() }
        if let failure = replica.failure { throw failure }
        return now
    }

    /// Starts a write: refused once closing or draining began; counted until ``endWrite()``.
    func beginWrite() throws -> Date {
        let now = configuration.now()
        guard lifecycle.withLock({ $0.beginWrite(at: now) }) else { throw EventbaseError.closed() }
        if let failure = replica.failure {
            endWrite()
            throw failure
        }
        return now
    }

    func endWrite() {
        for waiter in lifecycle.withLock({ $0.endWrite() }) { waiter.resume() }
    }
}
