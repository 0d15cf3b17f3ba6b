public import EventbaseCore
import Synchronization

/// An ``EventLog`` decorator that injects faults into another log, for testing failure paths.
///
/// ```swift
/// let log = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "s"))
/// log.inject(.hangAppends)          // appends never return: writes must time out
/// log.inject(.failAppends(.unavailable))
/// log.heal()
/// ```
public final class FaultyEventLog: EventLog {
    /// A fault to inject.
    public enum Fault: Sendable {
        /// Appends wait until healed (or cancelled).
        case hangAppends
        /// Appends throw an error with this code.
        case failAppends(EventbaseError.Code)
        /// Purges throw an error with this code.
        case failPurges(EventbaseError.Code)
    }

    private struct State {
        var fault: Fault?
        var hung: [Int: CheckedContinuation<Void, any Error>] = [:]
        var nextID = 0
        var appendCalls = 0
    }

    private let base: any EventLog
    private let state = Mutex(State())

    /// Wraps `base`, with no fault injected.
    public init(wrapping base: any EventLog) {
        self.base = base
    }

    public var streamName: String { base.streamName }

    /// How many times `append` was called.
    public var appendCalls: Int { state.withLock { $0.appendCalls } }

    /// Injects `fault` from now on.
    public func inject(_ fault: Fault) {
        state.withLock { $0.fault = fault }
    }

    /// Removes the fault and releases hung appends (they then proceed).
    public func heal() {
        let hung = state.withLock { state in
            state.fault = nil
            defer { state.hung.removeAll() }
            return Array(state.hung.values)
        }
        for continuation in hung { continuation.resume() }
    }

    public func open() async throws -> LogState { try await base.open() }

    public func state() async throws -> LogState { try await base.state() }

    public func append(_ event: Event, condition: AppendCondition?) async throws -> AppendAck {
        let (fault, id) = state.withLock { state in
            state.appendCalls += 1
            defer { state.nextID += 1 }
            return (state.fault, state.nextID)
        }
        switch fault {
        case .hangAppends?:
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let cancelled = state.withLock { state -> Bool in
                        if Task.isCancelled { return true }
                        state.hung[id] = continuation
                        return false
                    }
                    if cancelled { continuation.resume(throwing: CancellationError()) }
                }
            } onCancel: {
                let continuation = state.withLock { $0.hung.removeValue(forKey: id) }
                continuation?.resume(throwing: CancellationError())
            }
        case .failAppends(let code)?:
            throw EventbaseError(code, "Injected append failure.")
        default:
            break
        }
        return try await base.append(event, condition: condition)
    }

    public func entries(from sequence: UInt64) -> LogEntries { base.entries(from: sequence) }

    public func purgePuts(of key: String, before sequence: UInt64) async throws -> Int {
        if case .failPurges(let code)? = state.withLock({ $0.fault }) {
            throw EventbaseError(code, "Injected purge failure.")
        }
        return try await base.purgePuts(of: key, before: sequence)
    }

    public func destroy() async throws { try await base.destroy() }

    public func close() async {
        heal()
        await base.close()
    }
}
