public import EventbaseCore
import Foundation

/// The behaviour every ``EventLog`` adapter must have, as checks that throw a descriptive
/// ``ConformanceFailure``. Run each check from your own test framework:
///
/// ```swift
/// @Test(arguments: EventLogConformance.Check.allCases)
/// func conformance(_ check: EventLogConformance.Check) async throws {
///     try await EventLogConformance { name in MyEventLog(streamName: name) }.run(check)
/// }
/// ```
public struct EventLogConformance: Sendable {
    /// The checks.
    public enum Check: String, CaseIterable, Sendable, CustomStringConvertible {
        /// Opening a new stream gives last sequence 0, no messages and an identity with the stream's name.
        case openCreatesAnEmptyStream
        /// Opening again keeps the stream's identity and its events.
        case openIsIdempotent
        /// Appends get strictly increasing sequences, and `state()` reports the last one.
        case appendAssignsIncreasingSequences
        /// `entries(from:)` replays the stored entries in order, then delivers new appends.
        case entriesReplayThenFollow
        /// `entries(from:)` starts at the sequence asked for.
        case entriesStartAtTheRequestedSequence
        /// Puts and deletes read back unchanged: odd keys, nested data, timestamp, event id and carried meta.
        case eventsRoundTrip
        /// A second append with the same event id returns the first's sequence, marked duplicate, and stores nothing.
        case duplicateEventIDsAreStoredOnce
        /// `.keyAbsent` and `.keyRevision(_:)` conditions append when they hold and throw `.conflict` when not.
        case keyRevisionConditions
        /// `purgePuts(of:before:)` removes only the key's puts below the sequence, never newer ones or other keys.
        case purgeKeepsNewerPuts
        /// A batch's position reaches the last sequence even when the newest entries were purged.
        case positionCoversPurgedEntries
        /// Destroying the stream ends its readers with `.streamDeleted` (or `.streamNotFound`).
        case destroyStopsReaders
        /// After `close()`, readers finish (or throw `.closed`) and appends throw `.closed`.
        case closeEndsReadersAndRejectsWrites
        /// Two logs on one stream name see each other's appends.
        case twoLogsShareOneStream

        public var description: String { rawValue }
    }

    /// Makes a log for a stream name; called once or more per check, with a new stream name per check.
    public typealias Factory = @Sendable (_ streamName: String) async throws -> any EventLog

    private let makeLog: Factory
    private let timeout: Duration

    /// Creates the suite.
    /// - Parameters:
    ///   - timeout: How long any one wait may take before the check fails.
    ///   - makeLog: Makes a log; two calls with the same name must reach the same stream.
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
            prefix: "conformance", make: makeLog, asEventLog: { $0 },
            checkDestroysStream: check == .destroyStopsReaders || check == .closeEndsReadersAndRejectsWrites,
            check: { log, name in try await body(check, log: log, name: name) })
    }

    private func body(_ check: Check, log: any EventLog, name: String) async throws {
        let label = check.rawValue
        switch check {
        case .openCreatesAnEmptyStream:
            let state = try await log.open()
            try expect(
                state.lastSequence == 0, label, "a new stream has lastSequence \(state.lastSequence), expected 0")
            try expect(state.messageCount == 0, label, "a new stream holds \(state.messageCount) messages")
            try expect(state.identity.name == name, label, "identity names \(state.identity.name), expected \(name)")

        case .openIsIdempotent:
            let first = try await log.open()
            _ = try await log.append(putEvent("a", ["n": 1]), condition: nil)
            let second = try await log.open()
            try expect(first.identity == second.identity, label, "opening again changed the stream's identity")
            try expect(second.lastSequence == 1, label, "opening again lost the appended event")

        case .appendAssignsIncreasingSequences:
            _ = try await log.open()
            var last: UInt64 = 0
            for index in 0..<5 {
                let ack = try await log.append(putEvent("k\(index)", ["n": .number(Double(index))]), condition: nil)
                try expect(ack.sequence > last, label, "sequence \(ack.sequence) does not increase after \(last)")
                try expect(!ack.duplicate, label, "a new event was reported as a duplicate")
                last = ack.sequence
            }
            let state = try await log.state()
            try expect(
                state.lastSequence == last, label, "state().lastSequence \(state.lastSequence), expected \(last)")

        case .entriesReplayThenFollow:
            _ = try await log.open()
            let first = try await log.append(putEvent("a", ["n": 1]), condition: nil)
            let second = try await log.append(putEvent("b", ["n": 2]), condition: nil)
            let entries = log.entries(from: 1)
            let backlog = try await collect(entries, timeout: timeout, label) { collected, _ in collected.count >= 2 }
            try expect(
                backlog.entries.map(\.sequence) == [first.sequence, second.sequence], label,
                "replayed \(backlog.entries.map(\.sequence)), expected [\(first.sequence), \(second.sequence)]")
            let live = try await withDeadline(timeout, clock: ContinuousClock(), label) {
                var iterator = entries.makeAsyncIterator()
                let third = try await log.append(putEvent("c", ["n": 3]), condition: nil)
                while let batch = try await iterator.next() {
                    if let entry = batch.entries.first { return (entry, third.sequence) }
                }
                throw ConformanceFailure(check: label, message: "following ended before the live entry")
            }
            try expect(live.0.sequence == live.1, label, "followed entry \(live.0.sequence), expected \(live.1)")
            try expect(live.0.event?.key == "c", label, "followed the wrong event")

        case .entriesStartAtTheRequestedSequence:
            _ = try await log.open()
            var sequences: [UInt64] = []
            for index in 0..<4 {
                sequences.append(try await log.append(putEvent("k\(index)", ["n": 1]), condition: nil).sequence)
            }
            let read = try await collect(log.entries(from: sequences[2]), timeout: timeout, label) { collected, _ in
                collected.count >= 2
            }
            try expect(
                read.entries.map(\.sequence) == Array(sequences[2...]), label,
                "reading from \(sequences[2]) gave \(read.entries.map(\.sequence))")

        case .eventsRoundTrip:
            _ = try await log.open()
            let key = "ke.y *>!@#$%^&*()_+ ü 🙂"
            let data: JSONValue = ["name": "Ann", "nested": ["list": [1, 2.5, "x", nil, true]], "empty": [:]]
            let event = Event(
                kind: .put, key: key, data: data, timestamp: 1_712_345_678_901, eventID: "id-1", changes: 3,
                dateCreated: 1_700_000_000_123)
            _ = try await log.append(event, condition: nil)
            _ = try await log.append(Event(kind: .delete, key: key, timestamp: 5, eventID: "id-2"), condition: nil)
            let read = try await collect(log.entries(from: 1), timeout: timeout, label) { collected, _ in
                collected.count >= 2
            }
            guard let put = read.entries[0].event, let delete = read.entries[1].event else {
                throw ConformanceFailure(check: label, message: "an appended event was read back as invalid")
            }
            try expect(put.kind == .put && put.key == key, label, "the put's kind or key changed")
            try expect(put.data == data, label, "the put's data changed: \(put.data.map { "\($0)" } ?? "nil")")
            try expect(put.timestamp == event.timestamp, label, "the timestamp changed")
            try expect(put.changes == 3 && put.dateCreated == 1_700_000_000_123, label, "carried meta was lost")
            try expect(delete.kind == .delete && delete.key == key && delete.data == nil, label, "the delete changed")

        case .duplicateEventIDsAreStoredOnce:
            _ = try await log.open()
            let event = putEvent("a", ["n": 1], id: "same-id")
            let first = try await log.append(event, condition: nil)
            let second = try await log.append(event, condition: nil)
            try expect(second.sequence == first.sequence, label, "a duplicate got a new sequence \(second.sequence)")
            try expect(second.duplicate, label, "a duplicate was not reported as one")
            let state = try await log.state()
            try expect(state.messageCount == 1, label, "a duplicate was stored: \(state.messageCount) messages")

        case .keyRevisionConditions:
            _ = try await log.open()
            let created = try await log.append(putEvent("a", ["n": 1]), condition: .keyAbsent)
            try await expectError(.conflict, label, "keyAbsent on an existing key") {
                try await log.append(putEvent("a", ["n": 2]), condition: .keyAbsent)
            }
            let updated = try await log.append(putEvent("a", ["n": 3]), condition: .keyRevision(created.sequence))
            try await expectError(.conflict, label, "a stale keyRevision") {
                try await log.append(putEvent("a", ["n": 4]), condition: .keyRevision(created.sequence))
            }
            _ = try await log.append(putEvent("a", ["n": 5]), condition: .keyRevision(updated.sequence))
            _ = try await log.append(putEvent("b", ["n": 1]), condition: .keyAbsent)

        case .purgeKeepsNewerPuts:
            _ = try await log.open()
            let first = try await log.append(putEvent("a", ["n": 1]), condition: nil)
            _ = try await log.append(putEvent("b", ["n": 1]), condition: nil)
            _ = try await log.append(putEvent("a", ["n": 2]), condition: nil)
            let third = try await log.append(putEvent("a", ["n": 3]), condition: nil)
            let newer = try await log.append(putEvent("a", ["n": 4]), condition: nil)
            let purged = try await log.purgePuts(of: "a", before: third.sequence)
            try expect(purged == 2, label, "purged \(purged) entries, expected 2")
            let read = try await collect(log.entries(from: first.sequence), timeout: timeout, label) { collected, _ in
                collected.count >= 3
            }
            let aSequences = read.entries.filter { $0.event?.key == "a" }.map(\.sequence)
            try expect(
                aSequences == [third.sequence, newer.sequence], label,
                "after purging, key a has entries \(aSequences), expected [\(third.sequence), \(newer.sequence)]")
            try expect(read.entries.contains { $0.event?.key == "b" }, label, "purging key a removed key b")

        case .positionCoversPurgedEntries:
            _ = try await log.open()
            _ = try await log.append(putEvent("a", ["n": 1]), condition: nil)
            let last = try await log.append(putEvent("a", ["n": 2]), condition: nil)
            _ = try await log.purgePuts(of: "a", before: last.sequence + 1)
            let read = try await collect(log.entries(from: 1), timeout: timeout, label) { _, position in
                position >= last.sequence
            }
            try expect(read.entries.isEmpty, label, "purged entries were delivered")
            let state = try await log.state()
            try expect(state.lastSequence == last.sequence, label, "purging changed lastSequence")
            try expect(state.messageCount == 0, label, "purged entries are still counted")

        case .destroyStopsReaders:
            _ = try await log.open()
            _ = try await log.append(putEvent("a", ["n": 1]), condition: nil)
            let entries = log.entries(from: 1)
            _ = try await collect(entries, timeout: timeout, label) { collected, _ in collected.count >= 1 }
            try await log.destroy()
            do {
                _ = try await withDeadline(timeout, clock: ContinuousClock(), label) {
                    for try await _ in entries {}
                }
                throw ConformanceFailure(check: label, message: "a reader ended without an error after destroy()")
            } catch let error as EventbaseError {
                try expect(
                    error.code == .streamDeleted || error.code == .streamNotFound, label,
                    "a reader of a destroyed stream threw \(error.code), expected streamDeleted")
            }

        case .closeEndsReadersAndRejectsWrites:
            _ = try await log.open()
            let entries = log.entries(from: 1)
            await log.close()
            do {
                try await withDeadline(timeout, clock: ContinuousClock(), label) {
                    for try await _ in entries {}
                }
            } catch let error as EventbaseError where error.code == .closed {
                // Ending with .closed is as good as finishing.
            }
            try await expectError(.closed, label, "append after close()") {
                try await log.append(putEvent("a", ["n": 1]), condition: nil)
            }
            let other = try await makeLog(name)
            try? await other.destroy()
            await other.close()

        case .twoLogsShareOneStream:
            _ = try await log.open()
            let other = try await makeLog(name)
            _ = try await other.open()
            let entries = other.entries(from: 1)
            let ack = try await log.append(putEvent("shared", ["n": 1]), condition: nil)
            let read = try await collect(entries, timeout: timeout, label) { collected, _ in
                collected.contains { $0.sequence == ack.sequence }
            }
            try expect(read.entries.last?.event?.key == "shared", label, "the other log did not see the write")
            await other.close()
        }
    }
}
