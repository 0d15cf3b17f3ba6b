import Synchronization

/// Tells whether a running replica may have missed delete markers that were compacted while it
/// lagged, so that it must rebuild from the log.
///
/// A delete marker is removed once ``EventbaseOptions/deleteMarkerRetention`` has passed since it
/// was written. A replica that knew, at some moment, that it had applied everything the log held
/// can have missed no marker written after that moment for as long as less than the retention has
/// passed since. So the replica remembers when it last knew it was caught up (a probe of the log's
/// last sequence that it then reached); past ``limit`` (nine tenths of the retention, a margin for
/// clocks that run at slightly different rates), a batch that skips sequences may have skipped a
/// compacted delete, and the replica rebuilds instead of applying it. A batch that follows on from
/// what was applied skips nothing and is applied as usual.
///
/// Times are on the instance's elapsed clock.
final class ReplicaFreshness: Sendable {
    private struct State {
        var caughtUpAt: Duration
        /// A probe's target that the replica had not reached when probed, and when the probe began.
        var pending: (target: UInt64, started: Duration)?
    }

    /// How long the replica may go without knowing it was caught up; `nil` when markers are kept.
    let limit: Duration?
    private let state: Mutex<State>
    /// Set once a batch was refused: every later one is refused too, until ``resynced(at:)``. An
    /// atomic, so that the common case (a batch that follows on) takes no lock.
    private let refused = Atomic<Bool>(false)

    /// - Parameters:
    ///   - retention: The delete marker retention; `nil` (markers are kept) makes the replica never stale.
    ///   - caughtUpAt: When the replica last knew it was caught up (when the log was opened).
    init(retention: Duration?, caughtUpAt: Duration) {
        limit = retention.map { $0 * 0.9 }
        state = Mutex(State(caughtUpAt: caughtUpAt))
    }

    /// How often to probe the log's last sequence: a quarter of the retention, at most a minute.
    var probePeriod: Duration? {
        limit.map { min($0 / 4, .seconds(60)) }
    }

    /// Records a probe begun at `started` that found `target` as the log's last sequence, when the
    /// replica had applied `applied`; a target an earlier probe found and the replica has reached
    /// since counts too.
    func probed(target: UInt64, started: Duration, applied: UInt64) {
        state.withLock { state in
            if let pending = state.pending, applied >= pending.target {
                state.caughtUpAt = max(state.caughtUpAt, pending.started)
                state.pending = nil
            }
            if applied >= target {
                state.caughtUpAt = max(state.caughtUpAt, started)
                state.pending = nil
            } else if state.pending == nil {
                state.pending = (target, started)
            }
        }
    }

    /// Whether `batch` must not be applied, the replica having applied `applied`: it skips sequences
    /// and the replica has not known it was caught up for longer than ``limit``. Once this returns
    /// `true`, it does for every batch until ``resynced(at:)``.
    func mustResync(before batch: LogBatch, applied: UInt64, now: Duration) -> Bool {
        guard let limit else { return false }
        if refused.load(ordering: .acquiring) { return true }
        let next = batch.entries.first?.sequence ?? batch.position + 1
        guard next > applied + 1 else { return false }
        guard state.withLock({ now - $0.caughtUpAt > limit }) else { return false }
        refused.store(true, ordering: .releasing)
        return true
    }

    /// Whether a batch was refused and the replica has not rebuilt since.
    var resyncNeeded: Bool { refused.load(ordering: .acquiring) }

    /// Records that the replica was emptied at `now` to read the log again from its first entry.
    func resynced(at now: Duration) {
        state.withLock { state in
            state.caughtUpAt = now
            state.pending = nil
        }
        refused.store(false, ordering: .releasing)
    }
}

/// Thrown inside the follow loop when a batch may follow compacted delete markers the replica
/// never saw (see ``ReplicaFreshness``): the replica rebuilds, then follows from the first entry.
struct ResyncNeeded: Error {}
