import Foundation

/// The lifecycle of an open ``Eventbase`` instance, as a state machine without I/O: each event
/// returns what the instance must do, which it does outside its lock.
///
/// ```
/// open ──closeGracefully()──▶ draining ──last write ends──▶ closing ──shut down──▶ closed
///   └──────────────────────────close()─────────────────────────▲
/// ```
///
/// Reads are accepted until closing begins; writes only while open, and they are counted, so that
/// draining ends once the last one has. The background work is run either by a task of the
/// instance's own, or by a caller of ``Eventbase/run()``; closing waits for it to end.
///
/// A `Waiter` is whoever waits for a transition (a continuation, for the instance): the machine
/// only keeps waiters and hands them back when their transition happens.
struct InstanceLifecycle<Waiter> {
    enum State {
        case open(writes: Int)
        /// New writes are refused; `waiters` wait for the writes in flight to end.
        case draining(writes: Int, waiters: [Waiter])
        /// Shutting down; `waiters` (other callers of close) wait for it to finish.
        case closing(waiters: [Waiter])
        case closed
    }

    /// Who runs the background work.
    enum Background {
        /// Not yet started (an instance from `buildUnstarted()` before ``Eventbase/run()``).
        case notStarted
        /// A task of the instance's own (an instance from `build()`).
        case ownTask
        /// A caller of ``Eventbase/run()``.
        case caller
        /// Ended; `waiters` were waiting for that.
        case ended
    }

    private(set) var state: State = .open(writes: 0)
    private(set) var background: Background = .notStarted
    /// Who waits for the background work to end (closing, and callers of `run()` on an instance
    /// whose background work runs elsewhere).
    private var backgroundWaiters: [Waiter] = []
    /// When an operation last used the instance.
    private(set) var lastAccessed: Date

    init(lastAccessed: Date) {
        self.lastAccessed = lastAccessed
    }

    var isClosed: Bool {
        switch state {
        case .open, .draining: false
        case .closing, .closed: true
        }
    }

    /// Whether the background work runs (on a task of the instance's own, or a caller's).
    var backgroundRunning: Bool {
        switch background {
        case .ownTask, .caller: true
        case .notStarted, .ended: false
        }
    }

    var writesInFlight: Int {
        switch state {
        case .open(let writes), .draining(let writes, _): writes
        case .closing, .closed: 0
        }
    }

    /// Marks the instance as used at `now` (never moving back).
    mutating func touch(_ now: Date) {
        lastAccessed = max(lastAccessed, now)
    }

    // MARK: Operations

    /// A read (or any operation that is not a write) begins at `now`: `false` once closing began.
    mutating func beginRead(at now: Date) -> Bool {
        lastAccessed = now
        return !isClosed
    }

    /// A write begins at `now`: `false` (refused) once draining or closing began; otherwise it is
    /// counted until ``endWrite()``.
    mutating func beginWrite(at now: Date) -> Bool {
        lastAccessed = now
        guard case .open(let writes) = state else { return false }
        state = .open(writes: writes + 1)
        return true
    }

    /// A write counted by ``beginWrite(at:)`` ended. Returns whom to wake: the drain's waiters, once
    /// the last write of a draining instance ended.
    mutating func endWrite() -> [Waiter] {
        switch state {
        case .open(let writes):
            state = .open(writes: max(0, writes - 1))
            return []
        case .draining(let writes, let waiters):
            guard writes <= 1 else {
                state = .draining(writes: writes - 1, waiters: waiters)
                return []
            }
            state = .draining(writes: 0, waiters: [])
            return waiters
        case .closing, .closed:
            return []
        }
    }

    // MARK: Closing

    enum DrainAction: Equatable {
        /// Writes are in flight: the waiter was kept and is resumed once they have ended.
        case wait
        /// No write is in flight (or the instance is already closing): go on to close.
        case close
    }

    /// Graceful closing begins: writes are refused from now on. `waiter` is kept when writes are in
    /// flight (resume it yourself when the action is `.close`).
    mutating func startDraining(_ waiter: Waiter) -> DrainAction {
        switch state {
        case .open(let writes):
            guard writes > 0 else {
                state = .draining(writes: 0, waiters: [])
                return .close
            }
            state = .draining(writes: writes, waiters: [waiter])
            return .wait
        case .draining(let writes, var waiters):
            guard writes > 0 else { return .close }
            waiters.append(waiter)
            state = .draining(writes: writes, waiters: waiters)
            return .wait
        case .closing, .closed:
            return .close
        }
    }

    enum CloseAction {
        /// This caller shuts the instance down; writes still draining are released.
        case shutDown(drainWaiters: [Waiter])
        /// Another caller is shutting it down: the waiter was kept and is resumed once closed.
        case wait
        /// Already closed: resume the waiter.
        case done
    }

    /// Closing is asked for. The first caller gets `.shutDown`; callers while it runs wait for it.
    mutating func close(_ waiter: Waiter) -> CloseAction {
        switch state {
        case .open:
            state = .closing(waiters: [])
            return .shutDown(drainWaiters: [])
        case .draining(_, let waiters):
            state = .closing(waiters: [])
            return .shutDown(drainWaiters: waiters)
        case .closing(var waiters):
            waiters.append(waiter)
            state = .closing(waiters: waiters)
            return .wait
        case .closed:
            return .done
        }
    }

    /// Shutting down finished. Returns the callers to wake.
    mutating func closed() -> [Waiter] {
        guard case .closing(let waiters) = state else { return [] }
        state = .closed
        return waiters
    }

    // MARK: Background work

    enum RunAction {
        /// Run the background work on this task.
        case run
        /// It runs elsewhere (or has ended): the waiter was kept and is resumed once it has
        /// ended, or is to be resumed now when `ended`.
        case wait(ended: Bool)
        /// The instance is closing or closed before its background work ever ran.
        case closed
    }

    /// A caller of ``Eventbase/run()`` arrived.
    mutating func run(_ waiter: Waiter) -> RunAction {
        switch background {
        case .notStarted:
            guard !isClosed else { return .closed }
            background = .caller
            return .run
        case .ownTask, .caller:
            backgroundWaiters.append(waiter)
            return .wait(ended: false)
        case .ended:
            return .wait(ended: true)
        }
    }

    /// The instance runs its background work in a task of its own.
    mutating func startedOwnTask() {
        background = .ownTask
    }

    /// The background work ended. Returns whom to wake.
    mutating func backgroundEnded() -> [Waiter] {
        background = .ended
        defer { backgroundWaiters.removeAll() }
        return backgroundWaiters
    }

    enum BackgroundWaitAction {
        /// Wait: the waiter was kept and is resumed once the background work has ended.
        case wait
        /// Nothing runs (never started, or ended): resume the waiter.
        case done
    }

    /// Closing waits for the background work to end.
    mutating func waitForBackground(_ waiter: Waiter) -> BackgroundWaitAction {
        switch background {
        case .ownTask, .caller:
            backgroundWaiters.append(waiter)
            return .wait
        case .notStarted, .ended:
            return .done
        }
    }
}
