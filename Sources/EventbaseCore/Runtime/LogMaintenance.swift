import Logging
import Synchronization

/// Keeps the stream small in the background (with ``EventbaseOptions/Retention/latestPut``): after a
/// write, purges the key's older puts and, once they are gone, its older delete markers; and removes
/// the delete markers this instance wrote once their retention has passed.
///
/// Writers queue work without waiting (a full queue skips it: the next write of the key purges
/// everything older anyway). ``runPurges()`` and ``runCompactions()`` do it, until ``finish()``.
final class LogMaintenance: Sendable {
    /// A key whose older puts (and, with `markers`, delete markers) should be purged below a sequence.
    struct PurgeRequest: Sendable {
        let key: String
        let before: UInt64
        /// Whether this replica saw a delete of the key: only then can a marker be left to purge (a
        /// purge that matches nothing is not free, and on nats-server 2.9 it moves consumers on).
        var markers = false
    }

    /// A delete marker to remove once its retention has passed, if it is still the key's last event.
    struct MarkerCompaction: Sendable {
        let key: String
        let sequence: UInt64
        /// When it is due, on the instance's elapsed clock.
        let due: Duration
    }

    private struct State {
        /// Set when the purge loop has ended (its queue finished and drained).
        var purgesDone = false
        var purgeWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let log: any EventLog
    private let store: any StateStore
    private let replica: Replica
    private let clock: any Clock<Duration>
    private let elapsed: ElapsedClock
    private let logger: Logger
    private let purges: BoundedQueue<PurgeRequest>
    private let compactions: BoundedQueue<MarkerCompaction>
    private let state = Mutex(State())

    init(
        log: any EventLog, store: any StateStore, replica: Replica, capacity: Int, clock: any Clock<Duration>,
        elapsed: ElapsedClock, logger: Logger
    ) {
        self.log = log
        self.store = store
        self.replica = replica
        self.clock = clock
        self.elapsed = elapsed
        self.logger = logger
        self.purges = BoundedQueue(capacity: capacity)
        self.compactions = BoundedQueue(capacity: capacity)
    }

    /// Queues a purge of `key`'s puts below `sequence` (and then of its delete markers, with `markers`).
    func purge(_ key: String, before sequence: UInt64, markers: Bool) {
        purges.offer(PurgeRequest(key: key, before: sequence, markers: markers))
    }

    /// Queues the removal of `key`'s delete marker at `sequence`, due at `due` on the elapsed clock.
    func compact(_ key: String, at sequence: UInt64, due: Duration) {
        compactions.offer(MarkerCompaction(key: key, sequence: sequence, due: due))
    }

    /// Stops taking work: ``runPurges()`` returns once the queued purges ran, ``runCompactions()``
    /// drops the compactions not yet due.
    func finish() {
        purges.finish()
        compactions.finish()
    }

    /// Runs queued purges until ``finish()`` and the queue is empty.
    func runPurges() async {
        defer {
            let waiters = state.withLock { state in
                state.purgesDone = true
                defer { state.purgeWaiters.removeAll() }
                return state.purgeWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
        while let batch = await purges.next() {
            // Only the newest request per key matters: it purges everything older.
            var newest: [ExactKey: (before: UInt64, markers: Bool)] = [:]
            for request in batch {
                let known = newest[ExactKey(request.key)]
                newest[ExactKey(request.key)] = (
                    max(known?.before ?? 0, request.before), (known?.markers ?? false) || request.markers
                )
            }
            for (key, request) in newest {
                do {
                    _ = try await log.purgePuts(of: key.string, before: request.before)
                    // Delete markers below the write only once no older put is left (ADR 0005).
                    if request.markers { _ = try await log.purgeDeletes(of: key.string, before: request.before) }
                } catch {
                    logger.debug("A background purge failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Removes the delete markers this instance wrote once their retention has passed, if each is
    /// still its key's last event (not written or deleted again since). Ends after ``finish()``, or
    /// when the task is cancelled while it waits.
    func runCompactions() async {
        var pending: [MarkerCompaction] = []
        var head = 0
        while !Task.isCancelled {
            if head == pending.count {
                pending.removeAll(keepingCapacity: true)
                head = 0
                guard let batch = await compactions.next() else { return }
                pending.append(contentsOf: batch)
                continue
            }
            // All share one retention, so they come due in the order they were queued.
            let next = pending[head]
            let wait = next.due - elapsed.now()
            if wait > .zero {
                do {
                    try await clock.sleep(for: wait)
                } catch {
                    return
                }
            }
            head += 1
            guard store.meta(forKey: next.key) == nil, replica.latestDelete(of: next.key) == next.sequence else {
                continue
            }
            do {
                let removed = try await log.compactDeleted(next.key, at: next.sequence)
                logger.trace(
                    "Compacted a delete marker", metadata: ["sequence": "\(next.sequence)", "removed": "\(removed)"])
            } catch {
                logger.debug("Compacting a delete marker failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Returns once ``runPurges()`` has ended, or when the task is cancelled.
    func purgesDrained() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = state.withLock { state in
                    if state.purgesDone || Task.isCancelled { return true }
                    state.purgeWaiters.append(continuation)
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            let waiters = state.withLock { state in
                defer { state.purgeWaiters.removeAll() }
                return state.purgeWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }
}
