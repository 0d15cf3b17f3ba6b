import Foundation
import Logging
import Synchronization

extension Eventbase {
    /// Opens an instance: connects, opens the log and the store, and catches up with the log.
    /// - Parameter starting: Whether the instance runs its background work in a task of its own
    ///   (which also catches up); otherwise it catches up on this task and ``run()`` runs it.
    static func open(_ configuration: Configuration, starting: Bool) async throws -> Eventbase {
        let logger = configuration.logger
        do {
            return try await withDeadline(
                configuration.options.openTimeout, clock: configuration.clock,
                "Opening stream \(configuration.streamName)"
            ) {
                try await openUnbounded(configuration, starting: starting)
            }
        } catch {
            logger.error("Opening failed", metadata: ["error": "\(error)"])
            await configuration.eventLog.close()
            try? await configuration.stateStore.close()
            await configuration.statsSink?.close()
            await configuration.transport?.close()
            throw error
        }
    }

    static func openUnbounded(_ configuration: Configuration, starting: Bool) async throws -> Eventbase {
        if let transport = configuration.transport {
            try await transport.connect()
        }
        let logState = try await configuration.eventLog.open()
        let checkpoint = try await configuration.stateStore.open(stream: configuration.streamName)
        if checkpoint.identity != logState.identity || checkpoint.lastAppliedSequence > logState.lastSequence {
            if checkpoint.lastAppliedSequence > 0 {
                configuration.logger.warning(
                    "The stream was recreated since the local replica was saved; rebuilding it from the log",
                    metadata: [
                        "checkpoint": "\(checkpoint.lastAppliedSequence)", "lastSequence": "\(logState.lastSequence)",
                    ])
            }
            try configuration.stateStore.reset(identity: logState.identity)
        } else if await outlivesMarkerRetention(configuration, checkpoint, logState) {
            try configuration.stateStore.reset(identity: logState.identity)
        }
        reserveForReplay(configuration, logState)
        if let sink = configuration.statsSink {
            do {
                try await sink.open()
            } catch {
                configuration.logger.warning(
                    "The stats sink failed to open; stats will be dropped", metadata: ["error": "\(error)"])
            }
        }
        let replica = Replica(
            store: configuration.stateStore,
            streamName: configuration.streamName,
            logger: configuration.logger,
            onMessage: configuration.onMessage
        )
        let eventbase = Eventbase(configuration: configuration, replica: replica, identity: logState.identity)
        do {
            if starting {
                eventbase.start()
                try await replica.waitUntilApplied(logState.lastSequence)
            } else {
                try await eventbase.follower.catchUp(to: logState.lastSequence)
            }
        } catch {
            await eventbase.shutDown()
            throw error
        }
        configuration.logger.debug("Opened", metadata: ["lastSequence": "\(logState.lastSequence)"])
        return eventbase
    }

    /// Whether the replica's checkpoint is older than the delete marker retention (nine tenths of
    /// it, a margin for clocks that differ) while the log has moved on: delete markers may have been
    /// removed from the stream meanwhile, and the replica would keep records whose deletes it never
    /// sees (it must rebuild). A checkpoint that does not say how old it is (a store that keeps no
    /// time) is dated by the log's entry at its sequence; one the log no longer holds is taken as too old.
    static func outlivesMarkerRetention(
        _ configuration: Configuration, _ checkpoint: StoreCheckpoint, _ logState: LogState
    ) async -> Bool {
        guard let retention = configuration.options.deleteMarkerRetention, checkpoint.lastAppliedSequence > 0,
            checkpoint.lastAppliedSequence < logState.lastSequence
        else { return false }
        var time = checkpoint.lastAppliedTime
        if time == nil {
            time = try? await configuration.eventLog.entry(atSequence: checkpoint.lastAppliedSequence)?.time
        }
        if let time, configuration.now().timeIntervalSince(time) <= retention.timeInterval * 0.9 { return false }
        configuration.logger.warning(
            "The local replica is older than the delete marker retention; rebuilding it from the log",
            metadata: [
                "checkpoint": "\(checkpoint.lastAppliedSequence)",
                "checkpointTime": "\(time.map { "\($0)" } ?? "unknown")",
            ])
        return true
    }

    /// The most records ``reserveForReplay(_:_:)`` makes room for: a wrong guess (a stream of
    /// deletes, say) costs at most a table of this size.
    static let replayReservationLimit: UInt64 = 4 << 20

    /// Before a replay into an empty store, tells the store how many records to expect, so that it
    /// makes room once instead of growing its tables step by step (rehashing every record so far at
    /// each step). With the default retention the stream holds about one message a key (older puts
    /// are purged), so its message count is the guess; a stream that keeps every event says
    /// nothing about how many keys it has.
    static func reserveForReplay(_ configuration: Configuration, _ logState: LogState) {
        let store = configuration.stateStore
        guard configuration.options.retention == .latestPut, store.count == 0, logState.messageCount > 1 else {
            return
        }
        store.reserveCapacity(Int(min(logState.messageCount, replayReservationLimit)))
    }

    func start() {
        lifecycle.withLock { $0.startedOwnTask() }
        // Unstructured by request: build() returns an open instance whose work outlives the call
        // (close() waits for it); run() and withEventbase run the same work in the caller's task.
        Task { [self] in
            await runBackground()
            backgroundEnded()
        }
    }

    /// Runs the instance's background work on the calling task, and returns once the instance has
    /// closed.
    ///
    /// An instance from ``EventbaseBuilder/buildUnstarted()`` needs this to follow the log (until it
    /// runs, its replica does not move and writes wait for it), purge, record stats and run its
    /// companions: call it from a task group, or let `EventbaseService` run it in a service group.
    /// An instance from ``EventbaseBuilder/build()`` runs its background work in a task of its own:
    /// then this only waits until the instance has closed.
    ///
    /// Cancelling the calling task closes the instance (as ``close()``).
    public func run() async {
        var action = InstanceLifecycle<CheckedContinuation<Void, Never>>.RunAction.closed
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            action = lifecycle.withLock { $0.run(continuation) }
            switch action {
            case .run, .closed, .wait(ended: true): continuation.resume()
            case .wait(ended: false): break
            }
        }
        guard case .run = action else { return }
        await withTaskCancellationHandler {
            await runBackground()
        } onCancel: {
            stopBackground()
        }
        backgroundEnded()
        if Task.isCancelled { await close() }
    }

    /// Marks the background work as ended and wakes whoever waits for that.
    func backgroundEnded() {
        for waiter in lifecycle.withLock({ $0.backgroundEnded() }) { waiter.resume() }
    }

    /// Tells the background loops to end: the replica refuses further writes, the queues finish.
    func stopBackground() {
        replica.fail(EventbaseError.closed())
        replica.deadlineAdded.finish()
        stats.finish()
        maintenance.finish()
    }

    /// The instance's background work: following the log, draining stats and purges, and the
    /// companions given to ``EventbaseBuilder/companion(_:)``.
    func runBackground() async {
        backgroundStarted.store(true, ordering: .releasing)
        await withTaskGroup(of: Void.self) { timers in
            // Deadlines sleep on the clock; they are cancelled once the other loops have ended.
            timers.addTask { await self.follower.expireDeadlines(streamName: self.streamName) }
            // Delete markers wait for their retention on the clock; pending ones are dropped on close.
            timers.addTask { await self.maintenance.runCompactions() }
            // Probes of the log's end, which tell the replica it is fresh (see `ReplicaFreshness`).
            timers.addTask { await self.follower.probeFreshness() }
            // Companions (such as a metrics poller) run until the instance closes; they are
            // cancelled with the deadline loop.
            for companion in self.configuration.companions {
                timers.addTask { await companion(self) }
            }
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.follower.run() }
                group.addTask { await self.stats.run() }
                group.addTask { await self.maintenance.runPurges() }
            }
            timers.cancelAll()
        }
    }
}
