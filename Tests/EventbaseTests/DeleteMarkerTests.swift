import Eventbase
import EventbaseTestKit
import Foundation
import Testing

/// Delete markers do not pile up: a later write of the key removes the older ones, and the last one
/// goes once its retention has passed; a replica that was offline for longer rebuilds.
@Suite struct DeleteMarkerTests {
    private func open(
        _ log: any EventLog, clock: ManualClock, retention: Duration? = .seconds(60)
    ) async throws -> Eventbase {
        try await EventbaseBuilder(streamName: log.streamName, clock: clock, now: clock.nowProvider)
            .eventLog(log).stateStore(InMemoryStateStore())
            .configure { $0.deleteMarkerRetention = retention }.build()
    }

    @Test func theLastDeleteMarkerIsRemovedOnceItsRetentionHasPassed() async throws {
        let clock = ManualClock()
        let server = InMemoryLogServer(now: clock.nowProvider)
        let log = InMemoryEventLog(streamName: "markers", server: server)
        let faulty = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "markers", server: server))
        let eventbase = try await open(faulty, clock: clock)
        let put = try await eventbase.put("k", ["v": 1])
        let deleted = try await eventbase.delete("k")
        let marker = try #require(deleted.revision)
        // The delete purged the key's put before it returned; its own marker stays.
        #expect(try await log.entry(atSequence: marker) != nil)
        #expect(try await log.entry(atSequence: put.meta.revision) == nil)
        // Not yet due.
        clock.advance(by: .seconds(30))
        #expect(try await log.entry(atSequence: marker) != nil)
        clock.advance(by: .seconds(31))
        await faulty.waitForMarkerCalls(1)
        #expect(try await log.entry(atSequence: marker) == nil)
        #expect(try await log.state().messageCount == 0)
        // The replica and a fresh one agree: the key is gone.
        #expect(try await eventbase.get("k") == nil)
        let fresh = try await open(InMemoryEventLog(streamName: "markers", server: server), clock: clock)
        #expect(try await fresh.count() == 0)
        await fresh.close()
        await eventbase.close()
    }

    @Test func aKeyWrittenAgainKeepsNoOlderMarkerAndIsNotCompacted() async throws {
        let clock = ManualClock()
        let server = InMemoryLogServer(now: clock.nowProvider)
        let log = InMemoryEventLog(streamName: "churn", server: server)
        let faulty = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "churn", server: server))
        let eventbase = try await open(faulty, clock: clock)
        for round in 0..<20 {
            _ = try await eventbase.put("k", ["round": .number(Double(round))])
            _ = try await eventbase.delete("k")
        }
        let last = try await eventbase.put("k", ["round": 20])
        // A probe deleted last: its marker is compacted after every marker of "k" was looked at.
        _ = try await eventbase.put("probe", [:])
        let probe = try #require(try await eventbase.delete("probe").revision)
        // Each delete purges the key's older puts and markers (the first had none), and so does each
        // put after a delete.
        await faulty.waitForMarkerCalls(19 + 20)
        #expect(try await log.state().messageCount == 2)
        // The markers' retention passes: "k" was written again, so none of its markers is compacted.
        let before = try await log.state().messageCount
        clock.advance(by: .seconds(61))
        await faulty.waitForMarkerCalls(19 + 20 + 1)
        #expect(try await log.entry(atSequence: probe) == nil)
        #expect(try await log.state().messageCount == before - 1)
        #expect(try await eventbase.get("k") == last)
        await eventbase.close()
    }

    @Test func aReplicaOfflineForLongerThanTheRetentionRebuildsAndConverges() async throws {
        let clock = ManualClock()
        let server = InMemoryLogServer(now: clock.nowProvider)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("markers-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        func openOffline() async throws -> Eventbase {
            try await EventbaseBuilder(streamName: "offline", clock: clock, now: clock.nowProvider)
                .eventLog(InMemoryEventLog(streamName: "offline", server: server))
                .fileStore(path: directory.path)
                .configure { $0.deleteMarkerRetention = .seconds(60) }.build()
        }
        let faulty = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "offline", server: server))
        let writer = try await open(faulty, clock: clock)
        let kept = try await writer.put("kept", ["v": 1])
        let gone = try await writer.put("gone", ["v": 1])
        var offline = try await openOffline()
        #expect(try await offline.get("gone", consistency: .atLeast(gone.meta.revision)) != nil)
        await offline.close()
        // While the replica is offline, the key is deleted and its marker compacted.
        _ = try await writer.delete("gone")
        clock.advance(by: .seconds(61))
        await faulty.waitForMarkerCalls(1)
        #expect(try await faulty.state().messageCount == 1)
        _ = try await writer.put("later", ["v": 2])
        offline = try await openOffline()
        #expect(try await offline.get("gone") == nil)
        #expect(try await offline.get("kept") == kept)
        #expect(try await offline.keys() == ["kept", "later"])
        await offline.close()
        await writer.close()
    }

    @Test func aRunningReplicaCutOffForLongerThanTheRetentionRebuildsAndConverges() async throws {
        let clock = ManualClock()
        let server = InMemoryLogServer(now: clock.nowProvider)
        let writerLog = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "cut", server: server))
        let followerLog = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "cut", server: server))
        let writer = try await open(writerLog, clock: clock)
        let follower = try await open(followerLog, clock: clock)
        let stay = try await writer.put("stay", ["v": 1])
        _ = try await writer.put("gone", ["v": 1])
        #expect(try await follower.get("stay", consistency: .atLeast(stay.meta.revision)) != nil)
        // The follower loses its connection. Meanwhile the key is deleted, its marker compacted
        // once the retention has passed, and another key written.
        followerLog.inject(.disconnect)
        _ = try await writer.delete("gone")
        clock.advance(by: .seconds(61))
        await writerLog.waitForMarkerCalls(including: [.compactDeleted("gone")])
        let later = try await writer.put("later", ["v": 2])
        // Back: the follower's reader resumes past the compacted delete, and the follower, which has
        // not known it was caught up for longer than the retention, rebuilds instead of applying.
        followerLog.heal()
        #expect(try await follower.get("later", consistency: .atLeast(later.meta.revision)) != nil)
        #expect(try await follower.get("gone") == nil)
        #expect(try await follower.keys() == ["later", "stay"])
        await follower.close()
        await writer.close()
    }
}
