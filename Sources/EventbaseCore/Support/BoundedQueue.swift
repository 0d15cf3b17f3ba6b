import Synchronization

/// A bounded multi-producer queue drained by one background loop.
///
/// Producers never wait: ``offer(_:)`` drops the element (and counts it) when the queue is full.
/// The consumer awaits ``next()`` for everything queued so far.
final class BoundedQueue<Element: Sendable>: Sendable {
    private struct State {
        var elements: [Element] = []
        var waiter: CheckedContinuation<[Element]?, Never>?
        var finished = false
        var dropped = 0
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Queues an element; returns `false` (and counts a drop) when full or finished.
    @discardableResult
    func offer(_ element: Element) -> Bool {
        let action: (CheckedContinuation<[Element]?, Never>, [Element])? = state.withLock { state in
            guard !state.finished, state.elements.count < capacity else {
                state.dropped += 1
                return nil
            }
            if let waiter = state.waiter {
                state.waiter = nil
                return (waiter, [element])
            }
            state.elements.append(element)
            return nil
        }
        if let (waiter, elements) = action {
            waiter.resume(returning: elements)
        }
        return true
    }

    /// How many elements were dropped because the queue was full.
    var droppedCount: Int { state.withLock { $0.dropped } }

    /// Everything queued, waiting until there is something; `nil` once finished and empty.
    func next() async -> [Element]? {
        await withCheckedContinuation { continuation in
            let ready: [Element]?? = state.withLock { state in
                if !state.elements.isEmpty {
                    defer { state.elements.removeAll(keepingCapacity: true) }
                    return .some(state.elements)
                }
                if state.finished { return .some(nil) }
                precondition(state.waiter == nil, "BoundedQueue has one consumer")
                state.waiter = continuation
                return .none
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Ends the queue: the consumer gets what is left, then `nil`.
    func finish() {
        let waiter = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}
