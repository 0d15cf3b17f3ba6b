import Eventbase
import EventbaseTestKit
import Foundation
import Synchronization
import Testing

/// On a log in this process (a `PollableEventLog`), writers apply what the log stores as soon as
/// their append returns (while the instance has no subscriptions), besides the follow loop; the
/// replica must still apply each event once, in log order.
@Suite struct WritersApplyTests {
    /// 64 writers on keys they share. With a subscription the follow loop applies and the subscriber
    /// sees every event once, in log order; without one the writers apply. Either way the replica
    /// ends equal, record for record, to a fresh replica replaying the same log. Run a few times: a
    /// lost or reordered apply shows in some interleavings, not all.
    @Test(arguments: [false, true], 1...3)
    func concurrentWritersApplyEveryEventOnceInLogOrder(subscribed: Bool, round: Int) async throws {
        let server = InMemoryLogServer()
        func open(_ store: some StateStore) async throws -> Eventbase {
            try await Eventbase.builder(streamName: "order")
                .eventLog(InMemoryEventLog(streamName: "order", server: server)).stateStore(store).build()
        }
        let store = MetaCountingStore()
        let eventbase = try await open(store)
        let seen = Mutex<[UInt64]>([])
        let subscription =
            subscribed
            ? try await eventbase.subscribe([:]) { _, _, _, change in
                seen.withLock { $0.append(change.entry.sequence) }
            } : nil
        let writers = 64
        let putsEach = 40
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    for round in 0..<putsEach {
                        // Keys shared between writers, so batches hold the same key more than once.
                        let key = "k\((writer * 7 + round) % 50)"
                        let record = try await eventbase.put(key, ["writer": .number(Double(writer))])
                        // Read-your-writes: the put returned after its own replica applied it.
                        let stored = try #require(try await eventbase.get(key))
                        #expect(stored.meta.revision >= record.meta.revision)
                    }
                }
            }
            try await group.waitForAll()
        }
        let total = UInt64(writers * putsEach)
        #expect(eventbase.appliedSequence == total)
        // Every event applied once: a batch applied after a later one would be skipped.
        #expect(store.appliedChanges == Int(total))
        if let subscription {
            #expect(seen.withLock { $0 } == Array(1...total))
            subscription.cancel()
        }
        let fresh = try await open(InMemoryStateStore())
        #expect(try await eventbase.count([:]) == 50)
        for index in 0..<50 {
            let live = try await eventbase.get("k\(index)")
            #expect(live != nil)
            #expect(try await fresh.get("k\(index)") == live)
        }
        await fresh.close()
        await eventbase.close()
    }
}
