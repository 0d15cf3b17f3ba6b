public import EventbaseCore
import Synchronization

/// An ``EventLog`` decorator that injects faults into another log, for testing failure paths.
///
/// ```swift
/// let log = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "s"))
/// log.inject(.stallDelivery)        // appends succeed, readers get nothing: writes must time out
/// log.inject(.failAppends(.unavailable))
/// log.heal()
/// ```
public final class FaultyEventLog: EventLog {
    /// A fault to inject.
    public enum Fault: Sendable {
        /// Appends succeed, but readers receive nothing more until healed (as when a replica's
        /// consumer is stuck): writes wait for their own replica and must time out.
        case stallDelivery
        /// Appends throw an error with this code.
        case failAppends(EventbaseError.Code)
        /// Purges throw an error with this code.
        case failPurges(EventbaseError.Code)
        /// Purges wait until healed (as when the server is slow to answer them), then run.
        case holdPurges
        /// As when the connection to the server is lost and the log's readers resume once it is
        /// back: what readers would deliver meanwhile is lost, and once healed they read again from
        /// where they were (what was purged meanwhile is skipped). ``latestSequence()`` and
        /// ``state()`` fail with `.unavailable` until healed.
        case disconnect
    }

    private struct State {
        var fault: Fault?
        var stalled: [Int: CheckedContinuation<Void, any Error>] = [:]
        var nextID = 0
        var appendCalls = 0
        var appendWaiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var purgeCalls: [(key: String, before: UInt64)] = []
        var purgeWaiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var markerCalls: [MarkerCall] = []
        var reconnectWaiters: [CheckedContinuation<Void, Never>] = []
        var markerWaiters: [(ready: @Sendable ([MarkerCall]) -> Bool, continuation: CheckedContinuation<Void, Never>)] =
            []
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

    /// Returns once `append` has been called at least `count` times in all.
    public func waitForAppendCalls(_ count: Int) async {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Bool in
                if state.appendCalls >= count { return true }
                state.appendWaiters.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Every `purgePuts(of:before:)` call so far, in order: the key and the sequence.
    public var purgeCalls: [(key: String, before: UInt64)] { state.withLock { $0.purgeCalls } }

    /// Returns once `purgePuts(of:before:)` has been called at least `count` times in all.
    public func waitForPurgeCalls(_ count: Int) async {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Bool in
                if state.purgeCalls.count >= count { return true }
                state.purgeWaiters.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// A finished (returned or thrown) call that removes delete markers.
    public enum MarkerCall: Sendable, Equatable {
        /// `purgeDeletes(of:before:)` for the key.
        case purgeDeletes(String)
        /// `compactDeleted(_:at:)` for the key.
        case compactDeleted(String)
    }

    /// Returns once `purgeDeletes(of:before:)` and `compactDeleted(_:at:)` have finished (returned or
    /// thrown) at least `count` times in all.
    public func waitForMarkerCalls(_ count: Int) async {
        await waitForMarkerCalls { $0.count >= count }
    }

    /// Returns once every call in `calls` has finished (in any order, among any others).
    public func waitForMarkerCalls(including calls: [MarkerCall]) async {
        await waitForMarkerCalls { finished in calls.allSatisfy { finished.contains($0) } }
    }

    private func waitForMarkerCalls(where ready: @escaping @Sendable ([MarkerCall]) -> Bool) async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                if ready(state.markerCalls) { return true }
                state.markerWaiters.append((ready, continuation))
                return false
            }
            if done { continuation.resume() }
        }
    }

    private func markerCallFinished(_ call: MarkerCall) {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.markerCalls.append(call)
            let calls = state.markerCalls
            let ready = state.markerWaiters.filter { $0.ready(calls) }.map(\.continuation)
            state.markerWaiters.removeAll { $0.ready(calls) }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    /// Injects `fault` from now on.
    public func inject(_ fault: Fault) {
        state.withLock { $0.fault = fault }
    }

    private func failIfDisconnected() throws {
        if case .disconnect? = state.withLock({ $0.fault }) {
            throw EventbaseError(.unavailable, "Injected disconnection.")
        }
    }

    /// Whether disconnected: then returns once healed (or closed).
    private func waitIfDisconnected() async -> Bool {
        guard case .disconnect? = state.withLock({ $0.fault }) else { return false }
        await withCheckedContinuation { (reconnected: CheckedContinuation<Void, Never>) in
            let waiting = state.withLock { state -> Bool in
                guard case .disconnect? = state.fault else { return false }
                state.reconnectWaiters.append(reconnected)
                return true
            }
            if !waiting { reconnected.resume() }
        }
        return true
    }

    /// Removes the fault and releases stalled readers (they then deliver what they held).
    public func heal() {
        let (stalled, reconnected) = state.withLock { state in
            state.fault = nil
            defer {
                state.stalled.removeAll()
                state.reconnectWaiters.removeAll()
            }
            return (Array(state.stalled.values), state.reconnectWaiters)
        }
        for continuation in stalled { continuation.resume() }
        for continuation in reconnected { continuation.resume() }
    }

    /// Waits while delivery is stalled (or, with `purges`, while purges are held).
    fileprivate func waitWhileStalled(purges: Bool = false) async throws {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let proceed = state.withLock { state -> Bool in
                    let held: Bool
                    switch state.fault {
                    case .stallDelivery?: held = !purges
                    case .holdPurges?: held = purges
                    default: held = false
                    }
                    guard held, !Task.isCancelled else { return true }
                    state.stalled[id] = continuation
                    return false
                }
                if proceed { continuation.resume() }
            }
        } onCancel: {
            let continuation = state.withLock { $0.stalled.removeValue(forKey: id) }
            continuation?.resume(throwing: CancellationError())
        }
    }

    public func open() async throws -> LogState { try await base.open() }

    public func state() async throws -> LogState {
        try failIfDisconnected()
        return try await base.state()
    }

    public func append(_ event: Event, condition: AppendCondition?) async throws -> AppendAck {
        let (fault, ready) = state.withLock { state in
            state.appendCalls += 1
            var ready: [CheckedContinuation<Void, Never>] = []
            let calls = state.appendCalls
            state.appendWaiters.removeAll { waiter in
                guard calls >= waiter.count else { return false }
                ready.append(waiter.continuation)
                return true
            }
            return (state.fault, ready)
        }
        for continuation in ready { continuation.resume() }
        if case .failAppends(let code)? = fault {
            throw EventbaseError(code, "Injected append failure.")
        }
        return try await base.append(event, condition: condition)
    }

    public func entries(from sequence: UInt64) -> LogEntries {
        let (stream, continuation) = AsyncThrowingStream<LogBatch, any Error>.makeStream()
        let relay = Task { [self] in
            var next = sequence
            do {
                reading: while true {
                    for try await batch in base.entries(from: next) {
                        // Lost with the connection: read again from where the reader was.
                        if await waitIfDisconnected() { continue reading }
                        try await waitWhileStalled()
                        continuation.yield(batch)
                        next = batch.position + 1
                    }
                    break
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in relay.cancel() }
        return LogEntries(stream)
    }

    public func purgePuts(of key: String, before sequence: UInt64) async throws -> Int {
        let (fault, ready) = state.withLock { state in
            state.purgeCalls.append((key, sequence))
            let count = state.purgeCalls.count
            let ready = state.purgeWaiters.filter { $0.count <= count }.map(\.continuation)
            state.purgeWaiters.removeAll { $0.count <= count }
            return (state.fault, ready)
        }
        for continuation in ready { continuation.resume() }
        if case .failPurges(let code)? = fault {
            throw EventbaseError(code, "Injected purge failure.")
        }
        try await waitWhileStalled(purges: true)
        return try await base.purgePuts(of: key, before: sequence)
    }

    public func latestSequence() async throws -> UInt64 {
        try failIfDisconnected()
        return try await base.latestSequence()
    }

    /// Purges delete markers as the base log does; `failPurges` makes it throw too.
    public func purgeDeletes(of key: String, before sequence: UInt64) async throws -> Int {
        defer { markerCallFinished(.purgeDeletes(key)) }
        if case .failPurges(let code)? = state.withLock({ $0.fault }) {
            throw EventbaseError(code, "Injected purge failure.")
        }
        return try await base.purgeDeletes(of: key, before: sequence)
    }

    /// Compacts a delete marker as the base log does; `failPurges` makes it throw too.
    public func compactDeleted(_ key: String, at sequence: UInt64) async throws -> Int {
        defer { markerCallFinished(.compactDeleted(key)) }
        if case .failPurges(let code)? = state.withLock({ $0.fault }) {
            throw EventbaseError(code, "Injected purge failure.")
        }
        return try await base.compactDeleted(key, at: sequence)
    }

    public func entry(atSequence sequence: UInt64) async throws -> LogEntry? {
        try await base.entry(atSequence: sequence)
    }

    public func destroy() async throws { try await base.destroy() }

    public func close() async {
        heal()
        await base.close()
    }
}
