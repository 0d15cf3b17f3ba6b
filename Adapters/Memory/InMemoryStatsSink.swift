public import EventbaseCore
import Synchronization

/// A ``StatsSink`` that keeps every stat in memory, for tests and for inspecting an instance.
public final class InMemoryStatsSink: StatsSink {
    private struct State {
        var stats: [Stat] = []
        var listeners: [Int: AsyncStream<Stat>.Continuation] = [:]
        var nextListener = 0
    }

    private let state = Mutex(State())

    /// Creates an empty sink.
    public init() {}

    /// Every stat recorded so far, in order.
    public var stats: [Stat] { state.withLock { $0.stats } }

    /// Stats as they are recorded, from now on.
    public func updates() -> AsyncStream<Stat> {
        let (stream, continuation) = AsyncStream<Stat>.makeStream()
        let id = state.withLock { state in
            defer { state.nextListener += 1 }
            state.listeners[state.nextListener] = continuation
            return state.nextListener
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.listeners.removeValue(forKey: id) }
        }
        return stream
    }

    public func open() async throws {}

    public func record(_ stats: [Stat]) async throws {
        let listeners = state.withLock { state in
            state.stats.append(contentsOf: stats)
            return Array(state.listeners.values)
        }
        for listener in listeners {
            for stat in stats { listener.yield(stat) }
        }
    }

    public func close() async {}
}
