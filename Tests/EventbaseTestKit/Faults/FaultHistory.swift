public import EventbaseCore
import Foundation
import Synchronization

/// A record of every operation a fault scenario ran: when it was invoked and completed, on which
/// key, with which value, under which event id, and how it ended.
///
/// Workers call ``invoke(key:value:opID:)`` before an operation and ``complete(_:outcome:sequence:)``
/// after it; checkers read ``operations`` once the load has stopped.
public final class FaultHistory: Sendable {
    /// How an operation ended.
    public enum Outcome: String, Sendable, Hashable, Codable {
        /// Acknowledged: the write is durable and was applied locally.
        case ok
        /// Definitely not applied (a typed error such as `.conflict` that the log decided).
        case rejected
        /// May or may not have been applied (a typed `.timeout`, `.unavailable`, a lost connection).
        case unknown
        /// Not finished yet (only while the load runs).
        case pending
    }

    /// One operation.
    public struct Operation: Sendable, Hashable {
        /// Its index in the history.
        public var index: Int
        /// The key written.
        public var key: String
        /// The value written.
        public var value: JSONValue
        /// A unique id the value carries (so the stream can be searched for it).
        public var opID: String
        /// When it was invoked, from the history's start.
        public var invoked: Duration
        /// When it completed, from the history's start (`nil` while pending).
        public var completed: Duration?
        /// How it ended.
        public var outcome: Outcome
        /// The log sequence of an acknowledged write.
        public var sequence: UInt64?
        /// The error code of a failed one.
        public var errorCode: String?
        /// How often it was retried with its idempotency key after an unknown outcome.
        public var retries: Int = 0
    }

    /// A fault injected during the run.
    public struct Fault: Sendable, Hashable {
        /// What kind of fault (`sigkill`, `sigstop`, `reset`, `blackhole`, ...).
        public var kind: String
        /// When it started, from the history's start.
        public var at: Duration
        /// When it was lifted, if it was.
        public var lifted: Duration?
    }

    private struct State {
        var operations: [Operation] = []
        var faults: [Fault] = []
        var acknowledged = 0
        var completed = 0
        var waiters: [Int: (count: Int, acknowledgedOnly: Bool, continuation: CheckedContinuation<Void, Never>)] = [:]
        var nextWaiter = 0

        /// Removes and returns the waiters whose count is reached.
        mutating func ready() -> [CheckedContinuation<Void, Never>] {
            let due = waiters.filter { $0.value.count <= ($0.value.acknowledgedOnly ? acknowledged : completed) }
            for id in due.keys { waiters[id] = nil }
            return due.values.map(\.continuation)
        }
    }

    private let start = ContinuousClock.now
    private let state = Mutex(State())

    /// Creates an empty history; its clock starts now.
    public init() {}

    /// The time since the history started.
    public var now: Duration { ContinuousClock.now - start }

    /// Records an operation's invocation and returns its index.
    public func invoke(key: String, value: JSONValue, opID: String) -> Int {
        let now = self.now
        return state.withLock { state in
            let index = state.operations.count
            state.operations.append(
                Operation(
                    index: index, key: key, value: value, opID: opID, invoked: now, completed: nil,
                    outcome: .pending, sequence: nil, errorCode: nil))
            return index
        }
    }

    /// Records that an operation whose outcome was unknown is being retried with its idempotency key.
    public func retried(_ index: Int) {
        state.withLock { $0.operations[index].retries += 1 }
    }

    /// How many retries after unknown outcomes the operations made.
    public var retries: Int { state.withLock { $0.operations.reduce(0) { $0 + $1.retries } } }

    /// Records an operation's completion.
    public func complete(_ index: Int, outcome: Outcome, sequence: UInt64? = nil, errorCode: String? = nil) {
        let now = self.now
        let ready = state.withLock { state in
            state.operations[index].completed = now
            state.operations[index].outcome = outcome
            state.operations[index].sequence = sequence
            state.operations[index].errorCode = errorCode
            if outcome == .ok { state.acknowledged += 1 }
            state.completed += 1
            return state.ready()
        }
        for waiter in ready { waiter.resume() }
    }

    /// How many operations completed `ok` so far.
    public var acknowledged: Int { state.withLock { $0.acknowledged } }

    /// Waits until `count` operations in all have completed `ok`.
    /// - Throws: `.timeout` after `timeout`, with `what` in the message.
    public func waitUntilAcknowledged(_ count: Int, timeout: Duration, _ what: String) async throws {
        try await withDeadline(timeout, clock: ContinuousClock(), what) { [self] in
            await reaching(count, acknowledgedOnly: true)
        }
    }

    /// How many operations have completed so far, whatever their outcome.
    public var completed: Int { state.withLock { $0.completed } }

    /// Waits until `count` operations in all have completed, whatever their outcome.
    /// - Throws: `.timeout` after `timeout`, with `what` in the message.
    public func waitUntilCompleted(_ count: Int, timeout: Duration, _ what: String) async throws {
        try await withDeadline(timeout, clock: ContinuousClock(), what) { [self] in
            await reaching(count, acknowledgedOnly: false)
        }
    }

    private func reaching(_ count: Int, acknowledgedOnly: Bool) async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = state.withLock { state -> Bool in
                    let reached = (acknowledgedOnly ? state.acknowledged : state.completed) >= count
                    if reached || Task.isCancelled { return true }
                    state.waiters[id] = (count, acknowledgedOnly, continuation)
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume()
        }
    }

    /// Records the completion of an operation from the error it threw: `.conflict`,
    /// `.invalidArgument`, `.invalidKey` and `.limitExceeded` are rejections (the write did not
    /// happen); anything else leaves it unknown.
    public func complete(_ index: Int, error: any Error) {
        let code = (error as? EventbaseError)?.code
        let rejected: Set<EventbaseError.Code> = [.conflict, .invalidArgument, .invalidKey, .limitExceeded]
        complete(
            index, outcome: code.map { rejected.contains($0) } == true ? .rejected : .unknown,
            errorCode: code.map { "\($0)" } ?? "\(type(of: error))")
    }

    /// Records that a fault started; returns its index for ``lift(_:)``.
    @discardableResult
    public func fault(_ kind: String) -> Int {
        let now = self.now
        return state.withLock { state in
            state.faults.append(Fault(kind: kind, at: now))
            return state.faults.count - 1
        }
    }

    /// Records that a fault ended.
    public func lift(_ index: Int) {
        let now = self.now
        state.withLock { $0.faults[index].lifted = now }
    }

    /// Every operation so far.
    public var operations: [Operation] { state.withLock { $0.operations } }

    /// Every fault so far.
    public var faults: [Fault] { state.withLock { $0.faults } }

    /// The longest time, between the first fault and the last completion, during which no
    /// operation completed `ok`: how long writes were unavailable. Zero without faults.
    public var longestUnavailability: Duration {
        let (operations, faults) = state.withLock { ($0.operations, $0.faults) }
        guard let firstFault = faults.map(\.at).min() else { return .zero }
        let okTimes = operations.filter { $0.outcome == .ok }.compactMap(\.completed).sorted()
        var longest: Duration = .zero
        var previous = okTimes.last { $0 <= firstFault } ?? firstFault
        for time in okTimes where time > firstFault {
            longest = max(longest, time - previous)
            previous = time
        }
        let end = operations.compactMap(\.completed).max() ?? previous
        return max(longest, end - previous)
    }
}
