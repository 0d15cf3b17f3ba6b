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
