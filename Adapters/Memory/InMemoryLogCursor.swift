import EventbaseCore
import Synchronization

/// One reader of an in-memory stream: each call to ``next()`` (or ``poll()``) hands over every entry
/// stored since the last one (up to ``batchLimit``) in one batch; ``next()`` waits for the next append
/// when there is none. Appends wake a reader only while it waits, so a busy reader costs writers
/// nothing and reads in ever larger batches.
final class InMemoryLogCursor: LogPoller {
    /// The most entries in one batch.
    static let batchLimit = 4096

    private struct Position {
        /// The lowest sequence to deliver.
        var from: UInt64
        /// The last position reported (entries up to it were delivered).
        var reported: UInt64 = 0
        var started = false
        var done = false
        /// Why reading failed; every later step fails with it.
        var failure: EventbaseError?
    }

    private enum Step {
        case batch(LogBatch, caughtUp: Bool)
        /// Something to take (when only looking).
        case ready
        case end
        case failure(EventbaseError)
        case wait
    }

    private let log: InMemoryEventLog
    private let server: InMemoryLogServer
    private let stream: String
    /// The stream followed; `nil` when it did not exist when reading started.
    private let incarnation: Int?
    /// Identifies this reader's waiter.
    private let id: Int
    private let position: Mutex<Position>

    init(log: InMemoryEventLog, from sequence: UInt64) {
        self.log = log
        self.server = log.server
        self.stream = log.streamName
        let name = log.streamName
        (incarnation, id) = log.server.state.withLock { state in
            defer { state.nextWaiter += 1 }
            return (state.streams[name]?.incarnation, state.nextWaiter)
        }
        position = Mutex(Position(from: sequence))
    }

    func poll() throws -> LogPoll {
        switch step(waiter: nil, endsOnCancellation: false) {
        case .batch(let batch, let caughtUp): return .batch(batch, caughtUp: caughtUp)
        case .end: return .finished
        case .failure(let error): throw error
        case .wait, .ready: return .empty
        }
    }

    func waitForEntries() async {
        guard case .wait = step(waiter: nil, take: false, endsOnCancellation: false) else { return }
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                // Registered under the lock that appends take, so none is missed.
                guard case .wait = step(waiter: continuation, take: false, endsOnCancellation: false) else {
                    return continuation.resume()
                }
            }
        } onCancel: {
            removeWaiter()?.continuation.resume()
        }
    }

    private func removeWaiter() -> InMemoryLogServer.Waiter? {
        server.state.withLock { [stream, id] state in state.streams[stream]?.waiters.removeValue(forKey: id) }
    }

    func next() async throws -> LogBatch? {
        while true {
            switch step(waiter: nil) {
            case .batch(let batch, _): return batch
            case .end: return nil
            case .failure(let error): throw error
            case .wait, .ready: break
            }
            // Nothing new: wait for an append (checked again under the lock, so none is missed).
            var woken: Step = .wait
            await withTaskCancellationHandler {
                await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                    woken = step(waiter: continuation)
                    if case .wait = woken { return }
                    continuation.resume()
                }
            } onCancel: {
                removeWaiter()?.continuation.resume()
            }
            switch woken {
            case .batch(let batch, _): return batch
            case .end: return nil
            case .failure(let error): throw error
            case .wait, .ready: continue
            }
        }
    }

    /// Takes what there is to deliver (only says `.ready` unless `take`), or registers `waiter` (when
    /// given) to be woken by the next append. A cancelled task ends the reader when
    /// `endsOnCancellation`; it never registers a waiter.
    private func step(
        waiter: UnsafeContinuation<Void, Never>?, take: Bool = true, endsOnCancellation: Bool = true
    ) -> Step {
        position.withLock { position in
            if let failure = position.failure { return .failure(failure) }
            guard !position.done else { return .end }
            let step = server.state.withLock { state -> Step in
                if log.isClosed || (endsOnCancellation && Task.isCancelled) { return .end }
                guard let incarnation, let index = state.streams.index(forKey: stream),
                    state.streams.values[index].incarnation == incarnation
                else {
                    return .failure(.deleted(stream))
                }
                if position.started, state.streams.values[index].lastSequence <= position.reported {
                    if waiter != nil, Task.isCancelled { return .ready }
                    if let waiter {
                        state.streams.values[index].waiters[id] = InMemoryLogServer.Waiter(
                            owner: ObjectIdentifier(log), continuation: waiter)
                    }
                    return .wait
                }
                guard take else { return .ready }
                let data = state.streams.values[index]
                let first = max(position.from, position.reported + 1)
                let slots = data.slots
                let start = first < slots.base ? 0 : Int(min(first - slots.base, UInt64(slots.count)))
                let (entries, end) = slots.entries(from: start, limit: Self.batchLimit)
                // Past the newest entry the position is the stream's last sequence (its newest
                // entries may have been purged).
                let reached = end >= slots.count ? data.lastSequence : slots.base + UInt64(end) - 1
                position.started = true
                position.reported = max(position.reported, reached)
                return .batch(LogBatch(entries: entries, position: reached), caughtUp: end >= slots.count)
            }
            switch step {
            case .end: position.done = true
            case .failure(let error): position.failure = error
            case .batch, .wait, .ready: break
            }
            return step
        }
    }
}
