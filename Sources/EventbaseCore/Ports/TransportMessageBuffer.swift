import Synchronization

/// A subscription's bounded buffer of messages that a transport adapter fills in batches and a
/// ``TransportSubscription`` empties in batches: one lock and at most one wake-up per batch instead of
/// per message.
///
/// Like an `AsyncThrowingStream` with `.bufferingOldest(limit)`: messages past the limit are dropped
/// (``append(contentsOf:)`` reports it), ``finish(throwing:)`` ends iteration after what is buffered
/// (throwing the error once), and cancelling the iterating task or dropping every copy of the
/// subscription terminates it. ``onTermination`` runs once, when it is finished or terminated.
package final class TransportMessageBuffer: Sendable {
    private struct State {
        var messages: [TransportMessage] = []
        var finished = false
        var failure: (any Error)?
        var waiter: CheckedContinuation<[TransportMessage]?, any Error>?
        var onTermination: (@Sendable () -> Void)?

        /// What the consumer can have without waiting: the buffered messages, or the end.
        mutating func takeReady() -> Result<[TransportMessage]?, any Error>? {
            if !messages.isEmpty {
                defer { messages = [] }
                return .success(messages)
            }
            guard finished else { return nil }
            if let failure {
                self.failure = nil
                return .failure(failure)
            }
            return .success(nil)
        }
    }

    /// How many messages may wait to be taken.
    package let limit: Int
    private let state = Mutex(State())

    /// Creates a buffer holding at most `limit` untaken messages.
    package init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Runs once when the buffer is finished or its consumer goes away (cancelled or dropped). Set it
    /// before the buffer can end; setting it afterwards does nothing.
    package var onTermination: (@Sendable () -> Void)? {
        get { state.withLock { $0.onTermination } }
        set {
            state.withLock { state in
                if !state.finished { state.onTermination = newValue }
            }
        }
    }

    /// Adds messages in order, handing them straight to a waiting consumer.
    /// - Returns: `false` when some were dropped because the buffer was full (nothing is dropped after
    ///   ``finish(throwing:)``: those are ignored).
    @discardableResult
    package func append(contentsOf messages: [TransportMessage]) -> Bool {
        guard !messages.isEmpty else { return true }
        let (waiter, batch, dropped) = state.withLock {
            state -> (CheckedContinuation<[TransportMessage]?, any Error>?, [TransportMessage], Bool) in
            guard !state.finished else { return (nil, [], false) }
            var dropped = false
            if let waiter = state.waiter {
                // The consumer waits, so nothing is buffered: hand the batch over as it is.
                state.waiter = nil
                if messages.count <= limit { return (waiter, messages, false) }
                return (waiter, Array(messages.prefix(limit)), true)
            }
            let room = limit - state.messages.count
            if messages.count <= room {
                // Taking the array over when nothing is buffered saves copying (and retaining) each message.
                if state.messages.isEmpty {
                    state.messages = messages
                } else {
                    state.messages.append(contentsOf: messages)
                }
            } else {
                state.messages.append(contentsOf: messages.prefix(max(0, room)))
                dropped = true
            }
            return (nil, [], dropped)
        }
        waiter?.resume(returning: batch)
        return !dropped
    }

    /// Ends the buffer: the consumer takes what is buffered, then the end (or `error`, thrown once).
    /// Only the first call counts.
    package func finish(throwing error: (any Error)? = nil) {
        let (waiter, result, onTermination) = state.withLock {
            state -> (
                CheckedContinuation<[TransportMessage]?, any Error>?, Result<[TransportMessage]?, any Error>,
                (@Sendable () -> Void)?
            ) in
            guard !state.finished else { return (nil, .success(nil), nil) }
            state.finished = true
            state.failure = error
            defer { state.onTermination = nil }
            guard let waiter = state.waiter else { return (nil, .success(nil), state.onTermination) }
            state.waiter = nil
            state.failure = nil
            return (waiter, error.map { .failure($0) } ?? .success(nil), state.onTermination)
        }
        waiter?.resume(with: result)
        onTermination?()
    }

    /// Ends the buffer from the consumer's side, dropping what is buffered.
    package func cancel() {
        let (waiter, onTermination) = state.withLock {
            state -> (CheckedContinuation<[TransportMessage]?, any Error>?, (@Sendable () -> Void)?) in
            state.messages = []
            state.failure = nil
            defer {
                state.waiter = nil
                state.onTermination = nil
            }
            if state.finished { return (state.waiter, nil) }
            state.finished = true
            return (state.waiter, state.onTermination)
        }
        waiter?.resume(returning: nil)
        onTermination?()
    }

    /// Everything buffered, waiting for some; `nil` at the end. Throws the failure once, after the
    /// buffered messages. One consumer at a time.
    package func next() async throws -> [TransportMessage]? {
        if let ready = state.withLock({ $0.takeReady() }) { return try ready.get() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation {
                (continuation: CheckedContinuation<[TransportMessage]?, any Error>) in
                let ready = state.withLock { state -> Result<[TransportMessage]?, any Error>? in
                    if let ready = state.takeReady() { return ready }
                    if Task.isCancelled { return .success(nil) }
                    precondition(state.waiter == nil, "A subscription is iterated by one task at a time.")
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            cancel()
        }
    }
}
