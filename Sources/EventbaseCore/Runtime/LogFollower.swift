import Foundation
import Logging
import Synchronization

/// Keeps the replica following the log: applies what the log delivers, in order, retrying after
/// failures that retrying can mend, rebuilding the replica when the stream was recreated or it may
/// have missed compacted delete markers, and failing writes the replica did not apply in time.
///
/// A ``PollableEventLog`` (a log in this process) is polled instead of iterated, and writers apply
/// their own appends through ``applyOwnAppend()`` between polls.
final class LogFollower: Sendable {
    private let log: any EventLog
    private let replica: Replica
    private let stats: StatsRecorder
    private let options: EventbaseOptions
    private let clock: any Clock<Duration>
    private let elapsed: ElapsedClock
    private let now: @Sendable () -> Date
    private let logger: Logger
    /// The stream the replica follows; a new one after the stream was deleted and created again.
    private let identity: Mutex<StreamIdentity>
    /// When the replica last knew it was caught up: past the marker retention, it rebuilds.
    private let freshness: ReplicaFreshness
    /// The reader of a ``PollableEventLog`` while the follow loop polls it, for writers to apply
    /// their own appends with.
    private let poller = Mutex<(any LogPoller)?>(nil)
    /// Held while a batch is taken from ``poller`` and applied, so batches are applied in order
    /// whichever task takes them.
    private let applying = Mutex<Void>(())

    // `identity` is taken `consuming`: moved into its `Mutex`, it needs no copy. Borrowed, a release
    // build of Swift 6.3.1 moved it without retaining its stream name (a crash when freed).
    init(
        log: any EventLog, replica: Replica, identity: consuming StreamIdentity, stats: StatsRecorder,
        options: EventbaseOptions, clock: any Clock<Duration>, elapsed: ElapsedClock,
        now: @escaping @Sendable () -> Date, logger: Logger
    ) {
        self.log = log
        self.replica = replica
        self.identity = Mutex(identity)
        self.stats = stats
        self.options = options
        self.clock = clock
        self.elapsed = elapsed
        self.now = now
        self.logger = logger
        self.freshness = ReplicaFreshness(retention: options.deleteMarkerRetention, caughtUpAt: elapsed.now())
    }

    /// The stream the replica follows now.
    var streamIdentity: StreamIdentity { identity.withLock { $0 } }

    /// Follows the log until the task is cancelled, the log closes, or a failure that retrying
    /// cannot mend stops the replica.
    func run() async {
        var delay = options.retryDelay
        while !Task.isCancelled {
            do {
                if let pollable = log as? any PollableEventLog {
                    try await followPolling(pollable.poller(from: replica.appliedSequence + 1))
                    delay = options.retryDelay
                } else {
                    for try await batch in log.entries(from: replica.appliedSequence + 1) {
                        if freshness.mustResync(before: batch, applied: replica.appliedSequence, now: elapsed.now()) {
                            throw ResyncNeeded()
                        }
                        let skipped = try replica.apply(batch)
                        if !skipped.isEmpty { stats.recordSkipped(skipped) }
                        delay = options.retryDelay
                    }
                }
                if Task.isCancelled || replica.failure != nil { return }
                throw EventbaseError(.unavailable, "The log stopped delivering entries.")
            } catch is ResyncNeeded {
                if Task.isCancelled || replica.failure != nil { return }
                resync()
                delay = options.retryDelay
            } catch {
                if Task.isCancelled || replica.failure != nil { return }
                let failure = error as? EventbaseError
                if failure?.code == .streamDeleted, await rebuildIfRecreated() {
                    delay = options.retryDelay
                    continue
                }
                switch failure?.code {
                case .streamDeleted?, .streamNotFound?, .storageFailure?, .closed?, .permissionDenied?,
                    .authenticationFailed?:
                    // Retrying cannot help: the replica stops, and opening or waiting writes get the error.
                    logger.error("Stopped following the log", metadata: ["error": "\(error)"])
                    replica.fail(failure ?? EventbaseError(.internalError, "\(error)"))
                    return
                default:
                    logger.warning(
                        "Following the log failed; retrying", metadata: ["error": "\(error)", "delay": "\(delay)"])
                    do {
                        try await clock.sleep(for: delay)
                    } catch {
                        return
                    }
                    delay = min(delay * 2, .seconds(30))
                }
            }
        }
    }

    /// Applies entries on the calling task until the replica has applied `sequence` (opening an
    /// instance whose background work is not running yet), then stops reading.
    /// - Throws: what reading or applying throws; `.unavailable` when the log stops delivering.
    func catchUp(to sequence: UInt64) async throws {
        guard replica.appliedSequence < sequence else { return }
        if let pollable = log as? any PollableEventLog {
            let reader = pollable.poller(from: replica.appliedSequence + 1)
            while replica.appliedSequence < sequence {
                try Task.checkCancellation()
                switch try reader.poll() {
                case .batch(let batch, _):
                    let skipped = try replica.apply(batch)
                    if !skipped.isEmpty { stats.recordSkipped(skipped) }
                case .empty:
                    await reader.waitForEntries()
                case .finished:
                    throw EventbaseError.closed("The log")
                }
            }
            return
        }
        for try await batch in log.entries(from: replica.appliedSequence + 1) {
            let skipped = try replica.apply(batch)
            if !skipped.isEmpty { stats.recordSkipped(skipped) }
            if replica.appliedSequence >= sequence { return }
        }
        try Task.checkCancellation()
        throw EventbaseError(.unavailable, "The log stopped delivering entries while catching up.")
    }

    /// After a writer's append: on a log in this process, applies what it stores now, on the
    /// writer's task, unless another task is applying (it, or the follow loop that the append woke,
    /// applies the write). A failure is left to the follow loop, which meets it again. Subscription
    /// and `onMessage` handlers may then run on this task, after the waiting writers are released,
    /// one batch at a time and in log order (see `Replica`'s delivery queue); while that queue is
    /// full, the follow loop applies.
    func applyOwnAppend() {
        guard let reader = poller.withLock({ $0 }), !replica.deliveryBacklogged else { return }
        _ = try? applying.withLockIfAvailable { _ in try applyPolled(reader) }
        replica.deliverQueued()
    }

    /// Follows a pollable log: applies what `reader` has, then waits for more, until the log closes
    /// (returns) or fails (throws). Writers apply through `reader` too, between these polls.
    private func followPolling(_ reader: any LogPoller) async throws {
        poller.withLock { $0 = reader }
        defer { poller.withLock { $0 = nil } }
        // A writer that met a failure (the store's) left it to the replica, which stopped.
        while !Task.isCancelled, replica.failure == nil {
            // Slow handlers hold up applying once the delivery queue is full (writers stop applying
            // then, and wait for this loop within their write timeout).
            await replica.awaitDeliveryBacklog()
            // What was applied is handed to its handlers even when a later poll failed.
            let applied = Result { try applying.withLockIfAvailable { _ in try applyPolled(reader) } }
            replica.deliverQueued()
            guard let finished = try applied.get() else {
                // A writer is applying (without waiting on anything): try again after it.
                await Task.yield()
                continue
            }
            if finished { return }
            await reader.waitForEntries()
        }
    }

    /// Applies what `reader` has stored, up to what it stored when polled; `true` once the log has
    /// closed. Call with ``applying`` held, and ``Replica/deliverQueued()`` once it is released:
    /// handlers do not hold up the next task that applies.
    private func applyPolled(_ reader: any LogPoller) throws -> Bool {
        while true {
            // A refused batch is gone from the reader: nothing more is applied before the rebuild.
            if freshness.resyncNeeded { throw ResyncNeeded() }
            switch try reader.poll() {
            case .batch(let batch, let caughtUp):
                if freshness.mustResync(before: batch, applied: replica.appliedSequence, now: elapsed.now()) {
                    throw ResyncNeeded()
                }
                let skipped = try replica.apply(batch, delivering: false)
                if !skipped.isEmpty { stats.recordSkipped(skipped) }
                if caughtUp { return false }
            case .empty:
                return false
            case .finished:
                return true
            }
        }
    }

    /// Empties the replica to read the log again from its first entry, when it may have missed
    /// compacted delete markers (see ``ReplicaFreshness``). Writes waiting for the replica keep
    /// waiting: their events are applied again on the way.
    private func resync() {
        logger.warning(
            "The replica did not know it was caught up for longer than the delete marker retention and may have missed deletes; rebuilding it from the log",
            metadata: ["applied": "\(replica.appliedSequence)"])
        do {
            try replica.rebuild(identity: streamIdentity, time: now(), keepingWaiters: true)
        } catch {
            logger.error("Rebuilding the replica failed", metadata: ["error": "\(error)"])
        }
        freshness.resynced(at: elapsed.now())
    }

    /// Probes the log's last sequence every ``ReplicaFreshness/probePeriod``, so that a replica that
    /// keeps up is known to be fresh. Ends when markers are kept, or when the task is cancelled.
    func probeFreshness() async {
        guard let period = freshness.probePeriod else { return }
        while !Task.isCancelled {
            do {
                try await clock.sleep(for: period)
            } catch {
                return
            }
            let started = elapsed.now()
            // A probe that fails (the server is down) leaves the replica's freshness as it was.
            guard let target = try? await log.latestSequence() else { continue }
            freshness.probed(target: target, started: started, applied: replica.appliedSequence)
        }
    }

    /// After the log reported the stream deleted: if it exists again as a new stream (another
    /// identity), empties the replica (every record leaves, writes still waiting fail with
    /// `.streamDeleted`) and returns `true`, so that following starts again from its first event. If it
    /// is gone, or cannot be read, returns `false` and the replica stops with `.streamDeleted`.
    private func rebuildIfRecreated() async -> Bool {
        guard let current = try? await log.state(), current.identity != streamIdentity else {
            return false
        }
        do {
            // The log adopts the new stream (it exists, so nothing is created), then the replica empties.
            let reopened = try await log.open()
            try replica.rebuild(identity: reopened.identity, time: now())
            identity.withLock { $0 = reopened.identity }
        } catch {
            logger.error("Rebuilding the replica for the recreated stream failed", metadata: ["error": "\(error)"])
            return false
        }
        logger.warning(
            "The stream was deleted and created again; rebuilding the replica from its first event",
            metadata: ["created": "\(current.identity.created.map { "\($0)" } ?? "unknown")"])
        return true
    }

    /// What a write that its replica did not apply in time fails with.
    static func writeTimeoutMessage(streamName: String, timeout: Duration) -> String {
        "A write to stream \(streamName) was not applied within \(timeout); it may or may not have been stored: retry only with an idempotency key, which makes a repeat safe."
    }

    /// Fails writes still waiting for the replica after ``EventbaseOptions/writeTimeout``. One loop
    /// serves every write (a timer per write would cost more than the write). Ends once the replica
    /// has failed (closing fails it) or the task is cancelled.
    func expireDeadlines(streamName: String) async {
        let message = Self.writeTimeoutMessage(streamName: streamName, timeout: options.writeTimeout)
        while replica.failure == nil {
            guard let deadline = replica.nextDeadline else {
                guard await replica.deadlineAdded.next() != nil else { return }
                continue
            }
            let wait = deadline - elapsed.now()
            if wait > .zero {
                do {
                    try await clock.sleep(for: wait)
                } catch {
                    return
                }
            }
            replica.expireWaiters(now: elapsed.now(), message: message)
        }
    }
}
