import EventbaseCore
import EventbaseFileStore
import EventbaseTestKit
import Foundation
import Testing

/// Snapshots are written after a number of changes, after an interval on the injected clock, on
/// checkpoint and on close.
@Suite struct SnapshotPolicyTests {
    static let stream = "policy"

    @Test func aSnapshotIsWrittenAfterTheConfiguredNumberOfChanges() async throws {
        try await withTemporaryDirectory { directory in
            let recorder = SnapshotRecorder()
            let store = FileStateStore(
                directory: directory,
                options: .init(snapshotEveryEvents: 5, snapshotInterval: nil, onSnapshot: recorder.callback))
            _ = try await store.open(stream: Self.stream)
            try store.reset(identity: StreamIdentity(name: Self.stream, created: nil))
            let afterReset = try await recorder.next()
            #expect(afterReset.lastAppliedSequence == 0 && afterReset.recordCount == 0)

            for index in 0..<5 {
                try store.apply(sampleBatch(from: index, count: 1))
            }
            let first = try await recorder.next()
            #expect(first.lastAppliedSequence == 5 && first.recordCount == 5)
            #expect(first.generation == afterReset.generation + 1)

            try store.apply(sampleBatch(from: 5, count: 3))
            try store.apply(sampleBatch(from: 8, count: 2))
            let second = try await recorder.next()
            #expect(second.lastAppliedSequence == 10 && second.recordCount == 10)
            #expect(second.generation == first.generation + 1)
            try await store.close()
        }
    }

    @Test func aSnapshotIsWrittenAfterTheIntervalWhenSomethingChanged() async throws {
        try await withTemporaryDirectory { directory in
            let clock = ManualClock()
            let recorder = SnapshotRecorder()
            let store = FileStateStore(
                directory: directory,
                options: .init(snapshotEveryEvents: nil, snapshotInterval: .seconds(30), onSnapshot: recorder.callback),
                clock: clock)
            _ = try await store.open(stream: Self.stream)
            try store.apply(sampleBatch(from: 0, count: 3))
            await clock.waitForSleepers(1)
            clock.advance(by: .seconds(30))
            let first = try await recorder.next()
            #expect(first.lastAppliedSequence == 3)

            // Nothing changed: the next tick writes nothing, so the next snapshot is the very next
            // generation and holds the change made after that tick.
            await clock.waitForSleepers(1)
            clock.advance(by: .seconds(30))
            await clock.waitForSleepers(1)
            try store.apply(sampleBatch(from: 3, count: 1))
            clock.advance(by: .seconds(30))
            let second = try await recorder.next()
            #expect(second.lastAppliedSequence == 4)
            #expect(second.generation == first.generation + 1)
            try await store.close()
            #expect(clock.sleeperCount == 0)
        }
    }

    @Test func closeWritesTheFinalSnapshotAndIsIdempotent() async throws {
        try await withTemporaryDirectory { directory in
            let recorder = SnapshotRecorder()
            let store = FileStateStore(
                directory: directory,
                options: .init(snapshotEveryEvents: nil, snapshotInterval: nil, onSnapshot: recorder.callback))
            _ = try await store.open(stream: Self.stream)
            try store.apply(sampleBatch(from: 0, count: 2))
            async let first: Void = store.close()
            async let second: Void = store.close()
            _ = try await (first, second)
            try await store.close()
            #expect(try await recorder.next().lastAppliedSequence == 2)
            let error = #expect(throws: EventbaseError.self) { try store.apply(sampleBatch(from: 2, count: 1)) }
            #expect(error?.code == .closed)
            await #expect(throws: EventbaseError.self) { try await store.checkpoint() }
            // A closed store can be opened again and reads what it wrote.
            #expect(try await store.open(stream: Self.stream).lastAppliedSequence == 2)
            try await store.close()
        }
    }

    @Test func readsAndAppliesDoNotWaitForASnapshotBeingWritten() async throws {
        try await withTemporaryDirectory { directory in
            let recorder = SnapshotRecorder()
            let store = FileStateStore(
                directory: directory,
                options: .init(snapshotEveryEvents: 50_000, snapshotInterval: nil, onSnapshot: recorder.callback))
            _ = try await store.open(stream: Self.stream)
            try store.apply(sampleBatch(from: 0, count: 50_000))
            // The snapshot of 50,000 records is being written while these run; the view it writes
            // is the one taken when the count was reached.
            for index in 50_000..<50_100 {
                try store.apply(sampleBatch(from: index, count: 1))
                #expect(store.record(forKey: "key-\(index)") != nil)
            }
            let snapshot = try await recorder.next()
            #expect(snapshot.recordCount >= 50_000 && snapshot.recordCount <= 50_100)
            #expect(UInt64(snapshot.recordCount) == snapshot.lastAppliedSequence)
            try await store.close()
        }
    }
}
