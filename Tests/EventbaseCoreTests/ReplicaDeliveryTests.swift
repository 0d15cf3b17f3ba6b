import Dispatch
import Foundation
import Logging
import Synchronization
import Testing

@testable import EventbaseCore

/// Handlers run one change at a time, in log order, whichever task applied the change: a batch
/// applied while another task is handing changes over waits in the queue for that task.
@Suite struct ReplicaDeliveryTests {
    final class Log: Sendable {
        let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var values: [String] { lines.withLock { $0 } }
    }

    func put(_ sequence: UInt64, _ key: String) -> LogBatch {
        let event = Event(kind: .put, key: key, data: ["n": .number(Double(sequence))], timestamp: 0, changes: 1)
        return LogBatch(
            entries: [LogEntry(sequence: sequence, time: Date(timeIntervalSince1970: 1_700_000_000), event: event)],
            position: sequence)
    }

    func puts(_ sequences: ClosedRange<UInt64>) -> LogBatch {
        let time = Date(timeIntervalSince1970: 1_700_000_000)
        return LogBatch(
            entries: sequences.map { sequence in
                LogEntry(
                    sequence: sequence, time: time,
                    event: Event(kind: .put, key: "k\(sequence)", data: [:], timestamp: 0, changes: 1))
            },
            position: sequences.upperBound)
    }

    func replica(_ log: Log, blockingOn blocking: String? = nil, until release: DispatchSemaphore? = nil) throws
        -> Replica
    {
        let replica = Replica(
            store: ReplicaIndexTests.RefusingStore(), streamName: "s", logger: Logger(label: "test"), onMessage: nil)
        _ = try replica.subscribe(
            Query.all,
            sink: .handler { key, _, _, _ in
                log.append(key)
                if key == blocking { release?.wait() }
            })
        return replica
    }

    @Test func aFullQueueIsHandedOverByTheTaskThatWaitsForIt() async throws {
        let log = Log()
        let replica = try replica(log)
        let count = UInt64(Replica.deliveryBacklogLimit + 4)
        try replica.apply(puts(1...count), delivering: false)
        #expect(replica.deliveryBacklogged)
        await replica.awaitDeliveryBacklog()
        #expect(!replica.deliveryBacklogged)
        #expect(log.values == (1...count).map { "k\($0)" })
    }

    @Test func aWaiterIsResumedOnceTheTaskHandingOverIsDone() async throws {
        let log = Log()
        let release = DispatchSemaphore(value: 0)
        let replica = try replica(log, blockingOn: "k1", until: release)
        try replica.apply(puts(1...1), delivering: false)
        // Another thread hands over the first change and is held inside its handler.
        let done = Log()
        Thread {
            replica.deliverQueued()
            done.append("done")
        }.start()
        while log.values.isEmpty { await Task.yield() }
        let count = UInt64(Replica.deliveryBacklogLimit + 4)
        try replica.apply(puts(2...count), delivering: false)
        #expect(replica.deliveryBacklogged)
        let waiter = Task { await replica.awaitDeliveryBacklog() }
        while replica.deliveryWaiterCount == 0 { await Task.yield() }
        // The waiter waits for that thread rather than handing over out of order.
        #expect(log.values == ["k1"])
        release.signal()
        await waiter.value
        while done.values.isEmpty { await Task.yield() }
        #expect(!replica.deliveryBacklogged)
        #expect(log.values == (1...count).map { "k\($0)" })
    }

    @Test func aBatchAppliedDuringAHandlerIsHandedOverAfterIt() throws {
        let replica = Replica(
            store: ReplicaIndexTests.RefusingStore(), streamName: "s", logger: Logger(label: "test"), onMessage: nil)
        let log = Log()
        let nested = put(2, "b")
        _ = try replica.subscribe(
            Query.all,
            sink: .handler { key, _, _, _ in
                log.append("start \(key)")
                if key == "a" {
                    // Another task would apply here; this one is handing changes over, so the new
                    // batch waits in the queue instead of running its handler inside this one.
                    do { try replica.apply(nested) } catch { log.append("failed \(error)") }
                    log.append("applied b")
                }
                log.append("end \(key)")
            })
        try replica.apply(put(1, "a"), delivering: false)
        #expect(log.values.isEmpty)
        replica.deliverQueued()
        #expect(log.values == ["start a", "applied b", "end a", "start b", "end b"])
        #expect(replica.appliedSequence == 2)
    }
}
