import Foundation
import Logging
import Synchronization

extension Eventbase {
    /// Closes the instance: pending writes fail with `.closed`, subscriptions end, background work
    /// stops (queued stats are flushed), and the ports are closed. Every later operation throws
    /// `.closed`. Idempotent; concurrent calls all return once closing has finished.
    public func close() async {
        await shutDown()
    }

    /// Closes the instance gracefully: new writes are refused with `.closed`, writes already in
    /// flight are allowed to finish (each is bounded by ``EventbaseOptions/writeTimeout``), then
    /// ``close()`` runs (a durable state store writes its final snapshot, the connection closes).
    ///
    /// Reads keep working until the close itself. This is what `EventbaseService` runs on a
    /// graceful shutdown.
    public func closeGracefully() async {
        let writes = lifecycle.withLock { $0.writesInFlight }
        if writes > 0 {
            logger.debug("Waiting for in-flight writes before closing", metadata: ["writes": "\(writes)"])
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            switch lifecycle.withLock({ $0.startDraining(continuation) }) {
            case .wait: break
            case .close: continuation.resume()
            }
        }
        await shutDown()
    }

    func shutDown() async {
        var action = InstanceLifecycle<CheckedContinuation<Void, Never>>.CloseAction.done
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            action = lifecycle.withLock { $0.close(continuation) }
            switch action {
            case .shutDown, .done: continuation.resume()
            case .wait: break
            }
        }
        guard case .shutDown(let drainWaiters) = action else { return }
        for waiter in drainWaiters { waiter.resume() }
        logger.debug("Closing")
        stopBackground()
        // Purges still queued run before the log closes (each waits on the server at most its
        // request deadline; all of them together at most the write timeout), so the stream keeps
        // only the newest put of keys written just before the close.
        let timeout = configuration.options.writeTimeout
        let clock = configuration.clock
        if lifecycle.withLock({ $0.backgroundRunning }) {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.maintenance.purgesDrained() }
                group.addTask { try? await clock.sleep(for: timeout) }
                await group.next()
                group.cancelAll()
            }
        }
        // Closing the log ends the follow loop; the stats loop ends once its queue is empty, so
        // queued stats are flushed.
        await configuration.eventLog.close()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            switch lifecycle.withLock({ $0.waitForBackground(continuation) }) {
            case .wait: break
            case .done: continuation.resume()
            }
        }
        do {
            try await store.close()
        } catch {
            logger.error("Closing the state store failed", metadata: ["error": "\(error)"])
        }
        await configuration.statsSink?.close()
        await configuration.transport?.close()
        for waiter in lifecycle.withLock({ $0.closed() }) { waiter.resume() }
        logger.debug("Closed")
    }

    /// Deletes the stream and this instance's local data, then closes. Other instances on the stream
    /// stop with `.streamDeleted`.
    /// - Throws: what the log throws when deleting; `.closed` if already closed.
    public func deleteStream() async throws {
        _ = try begin()
        try await log.destroy()
        try? store.reset(identity: StreamIdentity(name: streamName, created: nil))
        await close()
    }
}
