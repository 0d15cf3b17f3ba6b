import EventbaseCore
import Synchronization

/// The hand-off between a reader and whoever iterates its ``LogEntries``: entries accumulate here
/// and each `next()` takes everything buffered as one ``LogBatch`` (so batches grow when the consumer
/// is slower than the network). A full buffer makes ``send(_:position:)`` wait: back-pressure.
final class BatchChannel: Sendable {
    private enum End {
        case finished
        case failed(any Error)
    }

    private struct State {
        var entries: [LogEntry] = []
        var position: UInt64
        var reportedPosition: UInt64
        var end: End?
        var endDelivered = false
        var consumer: CheckedContinuation<LogBatch?, any Error>?
        var producer: CheckedContinuation<Void, Never>?

        mutating func takeBatch() -> LogBatch? {
            guard !entries.isEmpty || position > reportedPosition else { return nil }
            let batch = LogBatch(entries: entries, position: position)
            entries = []
            reportedPosition = batch.position
            return batch
        }
    }

    private let state: Mutex<State>
    /// How many entries may wait before ``send(_:position:)`` waits.
    let capacity: Int

    /// Creates a channel whose position starts at `position` (not reported until it advances).
    init(capacity: Int, position: UInt64) {
        self.capacity = max(1, capacity)
        state = Mutex(State(position: position, reportedPosition: position))
    }

    /// Adds entries and the reader's position; waits while the buffer is full (until the consumer
    /// takes, the channel ends, or the task is cancelled).
    func send(_ entries: [LogEntry], position: UInt64) async {
        let capacity = self.capacity
        let (handOff, full) = state.withLock {
            state -> ((CheckedContinuation<LogBatch?, any Error>, LogBatch)?, Bool) in
            guard state.end == nil else { return (nil, false) }
            // Taking the array over when nothing is buffered saves copying (and retaining) each entry.
            if state.entries.isEmpty { state.entries = entries } else { state.entries.append(contentsOf: entries) }
            state.position = max(state.position, position)
            guard let consumer = state.consumer, let batch = state.takeBatch() else {
                return (nil, state.entries.count >= capacity)
            }
            state.consumer = nil
            return ((consumer, batch), false)
        }
        if let (consumer, batch) = handOff { consumer.resume(returning: batch) }
        // Most sends find room: only a full buffer pays for a continuation.
        guard full else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let wait = state.withLock { state -> Bool in
                    guard state.entries.count >= capacity, state.end == nil, !Task.isCancelled else { return false }
                    state.producer = continuation
                    return true
                }
                if !wait { continuation.resume() }
            }
        } onCancel: {
            state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.producer = nil }
                return state.producer
            }?.resume()
        }
    }

    /// The next batch: everything buffered, or waits for some. `nil` once the channel finished (or
    /// the task is cancelled); throws the failure once, after the buffered entries.
    func next() async throws -> LogBatch? {
        enum Action {
            case batch(LogBatch, CheckedContinuation<Void, Never>?)
            case finish
            case fail(any Error)
            case wait
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<LogBatch?, any Error>) in
                let action = state.withLock { state -> Action in
                    if let batch = state.takeBatch() {
                        defer { state.producer = nil }
                        return .batch(batch, state.producer)
                    }
                    if let end = state.end {
                        if state.endDelivered { return .finish }
                        state.endDelivered = true
                        if case .failed(let error) = end { return .fail(error) }
                        return .finish
                    }
                    if Task.isCancelled { return .finish }
                    state.consumer = continuation
                    return .wait
                }
                switch action {
                case .batch(let batch, let producer):
                    producer?.resume()
                    continuation.resume(returning: batch)
                case .finish:
                    continuation.resume(returning: nil)
                case .fail(let error):
                    continuation.resume(throwing: error)
                case .wait:
                    break
                }
            }
        } onCancel: {
            state.withLock { state -> CheckedContinuation<LogBatch?, any Error>? in
                defer { state.consumer = nil }
                return state.consumer
            }?.resume(returning: nil)
        }
    }

    /// Ends the channel: the consumer gets what is buffered, then `nil` (or `error`, thrown once).
    /// Only the first call counts.
    func finish(throwing error: (any Error)? = nil) {
        let (consumer, producer, result) = state.withLock {
            state -> (
                CheckedContinuation<LogBatch?, any Error>?, CheckedContinuation<Void, Never>?,
                Result<LogBatch?, any Error>
            ) in
            if state.end == nil { state.end = error.map { .failed($0) } ?? .finished }
            let producer = state.producer
            state.producer = nil
            guard let consumer = state.consumer else { return (nil, producer, .success(nil)) }
            state.consumer = nil
            if let batch = state.takeBatch() { return (consumer, producer, .success(batch)) }
            state.endDelivered = true
            if case .failed(let error)? = state.end { return (consumer, producer, .failure(error)) }
            return (consumer, producer, .success(nil))
        }
        producer?.resume()
        consumer?.resume(with: result)
    }

    /// Whether the buffer is full (the producer waits, or will, for the consumer).
    var isFull: Bool { state.withLock { $0.entries.count >= capacity } }

    /// Whether the channel has ended.
    var isFinished: Bool { state.withLock { $0.end != nil } }
}

/// A queue of events for one reader task: any task pushes, the reader takes everything at once.
final class ReaderInbox<Event: Sendable>: Sendable {
    private struct State {
        var events: [Event] = []
        var waiter: CheckedContinuation<[Event], Never>?
    }

    private let state = Mutex(State())

    /// Adds an event, waking the reader.
    func push(_ event: Event) {
        let waiter = state.withLock { state -> CheckedContinuation<[Event], Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.events.append(event)
            return nil
        }
        waiter?.resume(returning: [event])
    }

    /// Everything queued, without waiting.
    func takeAvailable() -> [Event] {
        state.withLock { state in
            defer { state.events = [] }
            return state.events
        }
    }

    /// Everything queued, waiting for at least one event (empty when the task is cancelled).
    func takeAll() async -> [Event] {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[Event], Never>) in
                let events = state.withLock { state -> [Event]? in
                    if !state.events.isEmpty || Task.isCancelled {
                        defer { state.events = [] }
                        return state.events
                    }
                    state.waiter = continuation
                    return nil
                }
                if let events { continuation.resume(returning: events) }
            }
        } onCancel: {
            state.withLock { state -> CheckedContinuation<[Event], Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }?.resume(returning: [])
        }
    }
}
