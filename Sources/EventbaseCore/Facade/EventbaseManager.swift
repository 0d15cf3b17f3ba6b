public import Foundation
public import Logging
import Synchronization

/// Opens, shares and closes ``Eventbase`` instances for many streams (for example one per tenant).
///
/// ``stream(_:)`` returns the open instance for a name, opening it on first use; concurrent calls
/// for one name open it once, and a failed open is not remembered. An instance that has failed (its
/// stream was deleted, its store failed, it gave up reconnecting) or was closed is closed and
/// replaced by the next ``stream(_:)``. While ``run()`` runs, instances that have been idle for
/// `keepAlive` and have no subscriptions are closed gracefully by a sweep every `cleanupInterval`;
/// an instance is never reopened before the old one has finished closing.
///
/// ```swift
/// let manager = EventbaseManager(keepAlive: .seconds(3600), cleanupInterval: .seconds(60)) { name in
///     Eventbase.builder(streamName: name).inMemory()
/// }
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { await manager.run() }          // the sweep (or EventbaseManagerService)
///     let users = try await manager.stream("users")
///     _ = try await users.put("alice", ["name": "Alice"])
///     await manager.closeAll()                        // run() returns
/// }
/// ```
public final class EventbaseManager: Sendable {
    /// What happened to a managed stream.
    public enum StreamEvent: Sendable, Hashable {
        /// An instance for the stream was opened.
        case opened(String)
        /// The instance for the stream was closed (idle, or by ``closeAll()``).
        case closed(String)
    }

    private enum Slot {
        case opening([CheckedContinuation<Eventbase, any Error>])
        case open(Eventbase)
        /// The instance is closing (idle, or failed and being replaced); callers wait until it has
        /// closed before a new one opens on the same local data.
        case closing([CheckedContinuation<Void, Never>])
    }

    private struct State {
        var slots: [String: Slot] = [:]
        var listeners: [Int: AsyncStream<StreamEvent>.Continuation] = [:]
        var nextListener = 0
        var closed = false
        /// Whether ``run()`` runs (only one call does).
        var running = false
        /// Opens between their slot becoming `.opening` and their instance being open or closed.
        var opensInFlight = 0
        /// ``closeAll()`` calls waiting for `opensInFlight` to reach 0.
        var openDrainWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// How long an instance may be idle (with no subscriptions) before it is closed.
    public let keepAlive: Duration
    /// How often idle instances are looked for.
    public let cleanupInterval: Duration
    private let factory: @Sendable (String) throws -> EventbaseBuilder
    private let clock: any Clock<Duration>
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let state = Mutex(State())
    /// Finished by ``closeAll()``: ends ``run()``.
    private let stopped: AsyncStream<Void>
    private let stop: AsyncStream<Void>.Continuation

    /// Creates a manager that builds each instance with `factory`.
    /// - Parameters:
    ///   - keepAlive: How long an instance may be idle before it is closed.
    ///   - cleanupInterval: How often to look for idle instances.
    ///   - clock: The clock for the sweep.
    ///   - now: The wall clock, compared with each instance's ``Eventbase/lastAccessed``.
    ///   - logger: Where the manager logs; also given to every instance whose builder has no
    ///     logger of its own (see ``EventbaseBuilder/logger(_:)``).
    ///   - factory: Returns a configured builder for a stream name (any adapters).
    public init(
        keepAlive: Duration,
        cleanupInterval: Duration,
        clock: any Clock<Duration>,
        now: @escaping @Sendable () -> Date,
        logger: Logger = Logger(label: "eventbase.manager", factory: { _ in SwiftLogNoOpLogHandler() }),
        factory: @escaping @Sendable (String) throws -> EventbaseBuilder
    ) {
        self.keepAlive = keepAlive
        self.cleanupInterval = cleanupInterval
        self.clock = clock
        self.now = now
        self.logger = logger
        self.factory = factory
        (stopped, stop) = AsyncStream<Void>.makeStream()
    }

    /// Sweeps idle instances every `cleanupInterval` (see ``sweep()``) on the calling task, until
    /// ``closeAll()``; cancelling the calling task closes every instance (as ``closeAll()``). Only
    /// one call runs the sweep: another returns at once. `EventbaseManagerService` runs it in a
    /// service group.
    public func run() async {
        let first = state.withLock { state in
            guard !state.running, !state.closed else { return false }
            state.running = true
            return true
        }
        guard first else { return }
        defer { state.withLock { $0.running = false } }
        await withTaskGroup(of: Void.self) { group in
            // Ends when closeAll() finishes the stream, or when the task is cancelled.
            group.addTask { for await _ in self.stopped {} }
            group.addTask {
                while !Task.isCancelled {
                    do {
                        try await self.clock.sleep(for: self.cleanupInterval)
                    } catch {
                        return
                    }
                    await self.sweep()
                }
            }
            await group.next()
            group.cancelAll()
        }
        if Task.isCancelled { await closeAll() }
    }

    /// Opened and closed streams, from now on. Each access returns a new, independent sequence,
    /// which ends after ``closeAll()``.
    public var events: AsyncStream<StreamEvent> {
        let (stream, continuation) = AsyncStream<StreamEvent>.makeStream()
        let accepted = state.withLock { state -> Int? in
            guard !state.closed else { return nil }
            let id = state.nextListener
            state.nextListener += 1
            state.listeners[id] = continuation
            return id
        }
        if let id = accepted {
            continuation.onTermination = { [weak self] _ in
                _ = self?.state.withLock { $0.listeners.removeValue(forKey: id) }
            }
        } else {
            continuation.finish()
        }
        return stream
    }

    private func emit(_ event: StreamEvent) {
        let listeners = state.withLock { Array($0.listeners.values) }
        for listener in listeners { listener.yield(event) }
    }

    /// The names of the streams open now.
    public var openStreams: [String] {
        state.withLock { state in
            state.slots.compactMap { name, slot in
                if case .open = slot { return name }
                return nil
            }.sorted()
        }
    }

    /// The open instance for `name`, opening it if needed.
    ///
    /// An instance that has failed or was closed is closed and replaced; one that the sweep is
    /// closing is waited for, then opened again.
    /// - Throws: `.closed` after ``closeAll()``; what opening throws (`.invalidStreamName`, …).
    public func stream(_ name: String) async throws -> Eventbase {
        enum Step {
            case ready(Eventbase)
            case wait
            case waitForClose
            case open
            case replace(Eventbase)
            case fail(EventbaseError)
        }
        while true {
            let now = self.now()
            let step = state.withLock { state -> Step in
                if state.closed { return .fail(EventbaseError.closed("This EventbaseManager")) }
                switch state.slots[name] {
                case .open(let eventbase)?:
                    if eventbase.isClosed || eventbase.failure != nil {
                        state.slots[name] = .closing([])
                        return .replace(eventbase)
                    }
                    // Marked as used under the manager's lock, so that a sweep cannot take it as
                    // idle between this look-up and the caller's first operation.
                    eventbase.touch(now)
                    return .ready(eventbase)
                case .opening?:
                    return .wait
                case .closing?:
                    return .waitForClose
                case nil:
                    state.slots[name] = .opening([])
                    state.opensInFlight += 1
                    return .open
                }
            }
            switch step {
            case .ready(let eventbase):
                return eventbase
            case .fail(let error):
                throw error
            case .wait:
                return try await waitForOpening(name)
            case .waitForClose:
                await waitForClosing(name)
                continue
            case .replace(let failed):
                logger.warning(
                    "Replacing a failed instance",
                    metadata: [
                        "eventbase.stream": "\(name)", "error": "\(failed.failure.map { "\($0)" } ?? "closed")",
                    ])
                await failed.close()
                emit(.closed(name))
                // closeAll() may have run meanwhile: then nothing is opened again.
                guard finishClosing(name, reopen: true) else { throw EventbaseError.closed("This EventbaseManager") }
                return try await open(name)
            case .open:
                return try await open(name)
            }
        }
    }

    /// Waits for another caller's opening of `name`.
    private func waitForOpening(_ name: String) async throws -> Eventbase {
        try await withCheckedThrowingContinuation { continuation in
            let immediate: Result<Eventbase, any Error>? = state.withLock { state in
                switch state.slots[name] {
                case .opening(var waiters)?:
                    waiters.append(continuation)
                    state.slots[name] = .opening(waiters)
                    return nil
                case .open(let eventbase)?:
                    return .success(eventbase)
                case .closing?, nil:
                    return .failure(
                        EventbaseError(.unavailable, "Opening stream \(name) failed; call stream(_:) again to retry."))
                }
            }
            if let immediate { continuation.resume(with: immediate) }
        }
    }

    /// Returns once `name` is no longer closing.
    private func waitForClosing(_ name: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let closing = state.withLock { state in
                guard case .closing(var waiters)? = state.slots[name] else { return false }
                waiters.append(continuation)
                state.slots[name] = .closing(waiters)
                return true
            }
            if !closing { continuation.resume() }
        }
    }

    /// Ends the closing of `name`: its slot becomes `.opening` (when the caller reopens it and the
    /// manager is not closed) or empty, and whoever waited for the close goes on.
    /// - Returns: Whether the slot became `.opening` (the caller must then call ``open(_:)``).
    @discardableResult
    private func finishClosing(_ name: String, reopen: Bool) -> Bool {
        let (waiters, reopened) = state.withLock { state -> ([CheckedContinuation<Void, Never>], Bool) in
            guard case .closing(let waiters)? = state.slots[name] else { return ([], false) }
            let reopened = reopen && !state.closed
            state.slots[name] = reopened ? .opening([]) : nil
            if reopened { state.opensInFlight += 1 }
            return (waiters, reopened)
        }
        for waiter in waiters { waiter.resume() }
        return reopened
    }

    /// Opens `name`, whose slot the caller has set to `.opening` (counting it in `opensInFlight`).
    private func open(_ name: String) async throws -> Eventbase {
        defer { openFinished() }
        let result: Result<Eventbase, any Error>
        do {
            var builder = try factory(name)
            if !builder.hasLogger { builder = builder.logger(logger) }
            result = .success(try await builder.build())
        } catch {
            result = .failure(error)
        }
        let (waiters, accepted) = state.withLock { state -> ([CheckedContinuation<Eventbase, any Error>], Bool) in
            guard case .opening(let waiters)? = state.slots[name] else { return ([], false) }
            if state.closed {
                state.slots[name] = nil
                return (waiters, false)
            }
            switch result {
            case .success(let eventbase): state.slots[name] = .open(eventbase)
            case .failure: state.slots[name] = nil
            }
            return (waiters, true)
        }
        switch result {
        case .success(let eventbase):
            guard accepted else {
                await eventbase.close()
                let error = EventbaseError.closed("This EventbaseManager")
                for waiter in waiters { waiter.resume(throwing: error) }
                throw error
            }
            logger.debug("Opened stream", metadata: ["eventbase.stream": "\(name)"])
            emit(.opened(name))
            for waiter in waiters { waiter.resume(returning: eventbase) }
            return eventbase
        case .failure(let error):
            for waiter in waiters { waiter.resume(throwing: error) }
            throw error
        }
    }

    /// Counts an open as finished (its instance is open, or closed again) and wakes ``closeAll()``
    /// once none is left.
    private func openFinished() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.opensInFlight -= 1
            guard state.opensInFlight == 0 else { return [] }
            defer { state.openDrainWaiters.removeAll() }
            return state.openDrainWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once no open is in flight. Call after setting `closed`: no new one starts then.
    private func opensDrained() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                guard state.opensInFlight > 0 else { return true }
                state.openDrainWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Closes every instance idle for at least `keepAlive` with no subscriptions, and every failed
    /// one, gracefully (writes in flight finish first). ``run()`` runs this every
    /// `cleanupInterval`; call it yourself to sweep now.
    public func sweep() async {
        let cutoff = now().addingTimeInterval(-keepAlive.timeInterval)
        let idle = state.withLock { state -> [(String, Eventbase)] in
            var idle: [(String, Eventbase)] = []
            for (name, slot) in state.slots {
                guard case .open(let eventbase) = slot else { continue }
                if eventbase.isClosed || eventbase.failure != nil
                    || (eventbase.activeSubscriptionCount == 0 && eventbase.lastAccessed <= cutoff)
                {
                    idle.append((name, eventbase))
                    state.slots[name] = .closing([])
                }
            }
            return idle
        }
        for (name, eventbase) in idle {
            await eventbase.closeGracefully()
            logger.debug("Closed idle stream", metadata: ["eventbase.stream": "\(name)"])
            emit(.closed(name))
            finishClosing(name, reopen: false)
        }
    }

    /// Closes every instance and ends ``run()``. An instance still opening is closed as soon as it
    /// has opened (its callers get `.closed`), and one being closed finishes closing, before this
    /// returns. Later ``stream(_:)`` calls throw `.closed`.
    public func closeAll() async {
        await closeAll(gracefully: false)
    }

    /// Closes every instance gracefully (see ``Eventbase/closeGracefully()``: writes in flight
    /// finish first, then each instance closes) and ends ``run()``. Later ``stream(_:)`` calls
    /// throw `.closed`. This is what `EventbaseManagerService` runs on a graceful shutdown.
    public func closeAllGracefully() async {
        await closeAll(gracefully: true)
    }

    private func closeAll(gracefully: Bool) async {
        let (open, closing, listeners) = state.withLock {
            state -> ([(String, Eventbase)], [String], [AsyncStream<StreamEvent>.Continuation]) in
            state.closed = true
            var open: [(String, Eventbase)] = []
            var closing: [String] = []
            for (name, slot) in state.slots {
                switch slot {
                case .open(let eventbase):
                    open.append((name, eventbase))
                    state.slots[name] = nil
                case .closing:
                    closing.append(name)
                case .opening:
                    break
                }
            }
            let listeners = Array(state.listeners.values)
            state.listeners.removeAll()
            return (open, closing, listeners)
        }
        stop.finish()
        // Instances a sweep or a replacement is closing finish closing before this returns, and so
        // do opens in flight (each closes the instance it opened, the manager being closed).
        for name in closing { await waitForClosing(name) }
        await opensDrained()
        if gracefully {
            // Stop accepting writes everywhere at once, then wait for each instance.
            await withTaskGroup(of: Void.self) { group in
                for (_, eventbase) in open { group.addTask { await eventbase.closeGracefully() } }
            }
        }
        for (name, eventbase) in open.sorted(by: { $0.0 < $1.0 }) {
            await eventbase.close()
            for listener in listeners { listener.yield(.closed(name)) }
        }
        for listener in listeners { listener.finish() }
    }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval`.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
