public import EventbaseCore
import Foundation

/// The behaviour every ``PollableEventLog`` adapter's ``LogPoller`` must have, in addition to
/// ``EventLogConformance``. Run each check from your own test framework:
///
/// ```swift
/// @Test(arguments: PollableLogConformance.Check.allCases)
/// func pollerConformance(_ check: PollableLogConformance.Check) async throws {
///     try await PollableLogConformance { name in MyEventLog(streamName: name) }.run(check)
/// }
/// ```
public struct PollableLogConformance: Sendable {
    /// The checks.
    public enum Check: String, CaseIterable, Sendable, CustomStringConvertible {
        /// Polls read what `entries(from:)` reads, from the sequence asked for, then `.empty`; a batch
        /// marked caught up is followed by `.empty`.
        case pollsReadWhatEntriesRead
        /// Polls from several tasks get consecutive batches that never overlap.
        case concurrentPollsNeverOverlap
        /// `waitForEntries()` returns at once when something is unpolled, and on the next append.
        case waitForEntriesReturnsOnAppend
        /// A wait ends when its task is cancelled; polling from a cancelled task does not end the reader.
        case cancellationEndsAWaitButNotTheReader
        /// After the stream is destroyed, every poll throws `.streamDeleted` (or `.streamNotFound`).
        case destroyFailsEveryPoll
        /// After `close()`, a wait returns and every poll is `.finished`.
        case closeFinishesPolls

        public var description: String { rawValue }
    }

    /// Makes a log for a stream name; called once per check, with a new stream name per check.
    public typealias Factory = @Sendable (_ streamName: String) async throws -> any PollableEventLog

    private let makeLog: Factory
    private let timeout: Duration

    /// Creates the suite.
    /// - Parameters:
    ///   - timeout: How long any one wait may take before the check fails.
    ///   - makeLog: Makes a log.
    public init(timeout: Duration = .seconds(10), makeLog: @escaping Factory) {
        self.timeout = timeout
        self.makeLog = makeLog
    }

    /// Runs every check.
    public func runAll() async throws {
        for check in Check.allCases { try await run(check) }
    }

    /// Runs one check on a fresh stream, destroying the stream afterwards.
    public func run(_ check: Check) async throws {
        try await withFreshLog(
            prefix: "pollable", make: makeLog, asEventLog: { $0 }, checkDestroysStream: check == .destroyFailsEveryPoll,
            check: { log, _ in
                _ = try await log.open()
                try await body(check, log: log)
            })
    }

    /// Polls until `.empty`, returning the batches.
    private func drain(_ poller: any LogPoller, _ label: String) throws -> [LogBatch] {
        var batches: [LogBatch] = []
        while true {
            switch try poller.poll() {
            case .batch(let batch, _): batches.append(batch)
            case .empty: return batches
            case .finished: throw ConformanceFailure(check: label, message: "an open log's poller finished")
            }
        }
    }

    private func body(_ check: Check, log: any PollableEventLog) async throws {
        let label = check.rawValue
        switch check {
        case .pollsReadWhatEntriesRead:
            var acks: [AppendAck] = []
            for index in 0..<5 {
                acks.append(try await log.append(putEvent("k\(index)", ["n": .number(Double(index))]), condition: nil))
            }
            let read = try await collect(log.entries(from: acks[1].sequence), timeout: timeout, label) { entries, _ in
                entries.count >= 4
            }
            let poller = log.poller(from: acks[1].sequence)
            let polled = try drain(poller, label)
            let sequences = polled.flatMap(\.entries).map(\.sequence)
            try expect(
                sequences == read.entries.map(\.sequence), label,
                "polled \(sequences), entries(from:) read \(read.entries.map(\.sequence))")
            try expect(
                polled.flatMap(\.entries).map { $0.event?.key } == read.entries.map { $0.event?.key }, label,
                "polled other events than entries(from:) read")
            try expect(
                polled.last?.position == acks[4].sequence, label, "the last batch's position is not the last sequence")
            let next = try await log.append(putEvent("live", ["n": 5]), condition: nil)
            guard case .batch(let batch, let caughtUp) = try poller.poll() else {
                throw ConformanceFailure(check: label, message: "a poll after an append found nothing")
            }
            try expect(
                batch.entries.map(\.sequence) == [next.sequence], label, "polled \(batch.entries.map(\.sequence))")
            if caughtUp {
                guard case .empty = try poller.poll() else {
                    throw ConformanceFailure(check: label, message: "a poll after a caught-up batch found more")
                }
            }

        case .concurrentPollsNeverOverlap:
            let poller = log.poller(from: 1)
            let writes = 200
            let polled = try await withThrowingTaskGroup(of: [UInt64].self) { group in
                group.addTask {
                    for index in 0..<writes {
                        _ = try await log.append(putEvent("k\(index)", ["n": 1]), condition: nil)
                    }
                    return []
                }
                for _ in 0..<4 {
                    group.addTask {
                        var sequences: [UInt64] = []
                        for _ in 0..<(writes * 2) {
                            if case .batch(let batch, _) = try poller.poll() {
                                sequences += batch.entries.map(\.sequence)
                            }
                            await Task.yield()
                        }
                        return sequences
                    }
                }
                var all: [[UInt64]] = []
                for try await sequences in group { all.append(sequences) }
                return all
            }
            let rest = try drain(poller, label).flatMap(\.entries).map(\.sequence)
            let all = (polled.flatMap { $0 } + rest).sorted()
            try expect(
                all == Array(1...UInt64(writes)), label,
                "four pollers together read \(all.count) entries (\(Set(all).count) distinct), expected each of \(writes) once"
            )
            for sequences in polled {
                try expect(sequences == sequences.sorted(), label, "one task's polls went backwards")
            }

        case .waitForEntriesReturnsOnAppend:
            let poller = log.poller(from: 1)
            _ = try drain(poller, label)
            _ = try await log.append(putEvent("a", ["n": 1]), condition: nil)
            // Unpolled: returns at once.
            try await withDeadline(timeout, clock: ContinuousClock(), label) { await poller.waitForEntries() }
            _ = try drain(poller, label)
            let woken = try await withDeadline(timeout, clock: ContinuousClock(), label) {
                try await withThrowingTaskGroup(of: UInt64?.self) { group in
                    group.addTask {
                        await poller.waitForEntries()
                        return nil
                    }
                    group.addTask {
                        try await log.append(putEvent("b", ["n": 2]), condition: nil).sequence
                    }
                    var appended: UInt64?
                    for try await result in group { appended = appended ?? result }
                    return appended
                }
            }
            let polled = try drain(poller, label).flatMap(\.entries).map(\.sequence)
            try expect(
                woken.map { polled == [$0] } == true, label,
                "after the wait, polled \(polled); appended \(woken.map(String.init) ?? "nothing")")

        case .cancellationEndsAWaitButNotTheReader:
            let poller = log.poller(from: 1)
            _ = try drain(poller, label)
            let waiting = Task { await poller.waitForEntries() }
            waiting.cancel()
            try await withDeadline(timeout, clock: ContinuousClock(), label) { await waiting.value }
            let cancelledPoll = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try poller.poll()
            }
            guard case .empty = try await cancelledPoll.value else {
                throw ConformanceFailure(check: label, message: "a poll from a cancelled task did not find nothing")
            }
            let ack = try await log.append(putEvent("a", ["n": 1]), condition: nil)
            let polled = try drain(poller, label).flatMap(\.entries).map(\.sequence)
            try expect(polled == [ack.sequence], label, "after cancellations, polled \(polled)")

        case .destroyFailsEveryPoll:
            let poller = log.poller(from: 1)
            _ = try await log.append(putEvent("a", ["n": 1]), condition: nil)
            _ = try drain(poller, label)
            try await log.destroy()
            try await withDeadline(timeout, clock: ContinuousClock(), label) { await poller.waitForEntries() }
            for attempt in 1...2 {
                do {
                    let result = try poller.poll()
                    throw ConformanceFailure(check: label, message: "poll \(attempt) after destroy() gave \(result)")
                } catch let error as EventbaseError {
                    try expect(
                        error.code == .streamDeleted || error.code == .streamNotFound, label,
                        "poll \(attempt) after destroy() threw \(error.code), expected streamDeleted")
                }
            }

        case .closeFinishesPolls:
            let poller = log.poller(from: 1)
            _ = try drain(poller, label)
            let waiting = Task { await poller.waitForEntries() }
            await log.close()
            try await withDeadline(timeout, clock: ContinuousClock(), label) { await waiting.value }
            for attempt in 1...2 {
                guard case .finished = try poller.poll() else {
                    throw ConformanceFailure(check: label, message: "poll \(attempt) after close() did not finish")
                }
            }
        }
    }
}
