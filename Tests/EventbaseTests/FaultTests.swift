import Eventbase
import EventbaseTestKit
import Foundation
import Testing

@Suite struct FaultTests {
    func open(_ log: FaultyEventLog, clock: ManualClock, writeTimeout: Duration = .seconds(5)) async throws -> Eventbase
    {
        try await EventbaseBuilder(streamName: log.streamName, clock: clock, now: clock.nowProvider)
            .eventLog(log)
            .stateStore(InMemoryStateStore())
            .configure { $0.writeTimeout = writeTimeout }
            .build()
    }

    @Test func onlyPutsThatCanLeaveAnOlderPutOfTheKeyRequestAPurge() async throws {
        let log = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "retention"))
        let eventbase = try await open(log, clock: ManualClock())
        // Creating keys right after the applied tail: no older put of them can be in the stream.
        _ = try await eventbase.put("a", ["n": 1])
        _ = try await eventbase.put("b", ["n": 1])
        let update = try await eventbase.put("a", ["n": 2])
        await log.waitForPurgeCalls(1)
        // Purges run in the order they were requested: had a creating put requested one, it came first.
        let first = try #require(log.purgeCalls.first)
        #expect(first.key == "a" && first.before == update.meta.revision)
        await eventbase.close()
    }

    /// Closing lets purges already requested run before the log closes, so the stream keeps only the
    /// newest put of a key written just before the close.
    @Test func closeRunsQueuedPurgesBeforeClosingTheLog() async throws {
        let server = InMemoryLogServer()
        let log = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "closing", server: server))
        let eventbase = try await open(log, clock: ManualClock())
        log.inject(.holdPurges)
        _ = try await eventbase.put("a", ["n": 1])
        let newest = try await eventbase.put("a", ["n": 2])
        await log.waitForPurgeCalls(1)
        // The purge waits on a slow server while the instance closes; the server answers once the
        // instance refuses operations.
        let closing = Task { await eventbase.close() }
        while (try? await eventbase.get("a")) != nil { await Task.yield() }
        log.heal()
        await closing.value
        #expect(server.entries(of: "closing").map(\.sequence) == [newest.meta.revision])
    }

    @Test func concurrentPutsOfNewKeysRequestNoPurgeButAPutOverAnotherInstancesPutDoes() async throws {
        let server = InMemoryLogServer()
        let log = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "retention", server: server))
        let eventbase = try await open(log, clock: ManualClock())
        let other = try await open(
            FaultyEventLog(wrapping: InMemoryEventLog(streamName: "retention", server: server)), clock: ManualClock())
        // 64 writers creating keys: each lands after puts of other keys, none after a put of its own key.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<64 {
                group.addTask { _ = try await eventbase.put("new-\(index)", ["n": .number(Double(index))]) }
            }
            try await group.waitForAll()
        }
        // A deleted key put again: the delete's writer purges, and the put purges the delete's marker.
        let deleted = try await eventbase.delete("new-3")
        let again = try await eventbase.put("new-3", ["n": 3])
        // Another instance's put of a key, then this instance's: the older put is left to purge.
        let theirs = try await other.put("shared", ["by": "other"])
        _ = try await eventbase.put("shared", ["by": "this"])
        await log.waitForPurgeCalls(3)
        let calls = log.purgeCalls
        #expect(calls.map(\.key) == ["new-3", "new-3", "shared"])
        #expect(calls[0].before == deleted.revision && calls[1].before == again.meta.revision)
        #expect(calls[2].before > theirs.meta.revision)
        await other.close()
        await eventbase.close()
    }

    @Test func aStreamRecreatedUnderARunningInstanceRebuildsItsReplica() async throws {
        let server = InMemoryLogServer()
        func instance() async throws -> Eventbase {
            try await EventbaseBuilder(streamName: "recreated", clock: ContinuousClock(), now: { Date() })
                .eventLog(InMemoryEventLog(streamName: "recreated", server: server))
                .stateStore(InMemoryStateStore())
                .build()
        }
        let eventbase = try await instance()
        _ = try await eventbase.put("old", ["n": 1])
        let (changes, continuation) = AsyncStream.makeStream(of: (Change.Kind, String).self)
        let subscription = try await eventbase.subscribe(["n": ["$gte": 0]]) { key, _, _, change in
            continuation.yield((change.kind, key))
        }
        try server.recreateStream("recreated", created: Date(timeIntervalSince1970: 2_000_000_000))
        var iterator = changes.makeAsyncIterator()
        // The old stream's record leaves; the instance keeps running on the new stream.
        let left = await iterator.next()
        #expect(left?.0 == .left && left?.1 == "old")
        _ = try await eventbase.put("new", ["n": 2])
        let entered = await iterator.next()
        #expect(entered?.0 == .entered && entered?.1 == "new")
        #expect(try await eventbase.keys() == ["new"])
        #expect(try await eventbase.get("new")?.meta.revision == 1)
        // A replica built from scratch on the new stream holds the same.
        let fresh = try await instance()
        #expect(try await fresh.keys() == ["new"])
        subscription.cancel()
        await fresh.close()
        await eventbase.close()
    }

    @Test func aStreamDeletedUnderARunningInstanceStopsItWithATypedError() async throws {
        let server = InMemoryLogServer()
        let eventbase = try await EventbaseBuilder(streamName: "deleted", clock: ContinuousClock(), now: { Date() })
            .eventLog(InMemoryEventLog(streamName: "deleted", server: server))
            .stateStore(InMemoryStateStore())
            .build()
        _ = try await eventbase.put("k", ["n": 1])
        try await InMemoryEventLog(streamName: "deleted", server: server).destroy()
        await #expect {
            _ = try await eventbase.put("k", ["n": 2])
        } throws: { error in
            (error as? EventbaseError)?.code == .streamDeleted
        }
        await eventbase.close()
    }

    @Test func aWriteNotAppliedLocallyFailsWithATimeoutAfterTheConfiguredDeadline() async throws {
        let clock = ManualClock()
        let log = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "faults"))
        let eventbase = try await open(log, clock: clock, writeTimeout: .seconds(3))
        _ = try await eventbase.put("before", ["n": 1])
        log.inject(.stallDelivery)
        let write = Task { try await eventbase.put("k", ["n": 1]) }
        // The write's deadline is fixed when it starts, before it appends.
        await log.waitForAppendCalls(2)
        clock.advance(by: .seconds(2))
        #expect(eventbase.appliedSequence == 1)
        clock.advance(by: .seconds(1))
        await #expect {
            _ = try await write.value
        } throws: { error in
            (error as? EventbaseError)?.code == .timeout
        }
        // Reads keep answering from the replica, and the instance catches up when the log does:
        // the timed-out write was durable, so it is applied too.
        #expect(try await eventbase.get("before") != nil)
        log.heal()
        _ = try await eventbase.put("after", ["n": 2])
        #expect(try await eventbase.get("k") != nil)
        #expect(try await eventbase.get("after") != nil)
        await eventbase.close()
    }

    @Test func aFailingLogGivesItsTypedErrorAndLosesNothingAcknowledged() async throws {
        let log = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "faults"))
        let eventbase = try await open(log, clock: ManualClock())
        _ = try await eventbase.put("kept", ["n": 1])
        log.inject(.failAppends(.unavailable))
        await #expect {
            _ = try await eventbase.put("lost", ["n": 1])
        } throws: { error in
            (error as? EventbaseError)?.code == .unavailable
        }
        #expect(try await eventbase.get("kept") != nil)
        #expect(try await eventbase.get("lost") == nil)
        await eventbase.close()
    }

    @Test func closeFailsPendingWritesWithClosed() async throws {
        let clock = ManualClock()
        let log = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "faults"))
        let eventbase = try await open(log, clock: clock)
        log.inject(.stallDelivery)
        let write = Task { try await eventbase.put("k", ["n": 1]) }
        await log.waitForAppendCalls(1)
        await eventbase.close()
        await #expect {
            _ = try await write.value
        } throws: { error in
            (error as? EventbaseError)?.code == .closed
        }
    }

    @Test func aFailedPurgeDoesNotFailADelete() async throws {
        let log = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "faults"))
        let eventbase = try await open(log, clock: ManualClock())
        _ = try await eventbase.put("k", ["n": 1])
        log.inject(.failPurges(.unavailable))
        let result = try await eventbase.delete("k")
        #expect(result.purged == 0)
        #expect(try await eventbase.get("k") == nil)
        await eventbase.close()
    }

    @Test func invalidMessagesOnTheStreamAreSkippedAndCounted() async throws {
        let server = InMemoryLogServer()
        let eventbase = try await Eventbase.builder(streamName: "poison").inMemory(server: server).build()
        try server.publishRaw(stream: "poison", subject: "poison.YQ==-put", payload: Array("not json".utf8))
        try server.publishRaw(
            stream: "poison", subject: "poison.YQ==-put",
            payload: Array(#"{"type":"PUT","id":"b","data":{},"timestamp":1}"#.utf8))
        _ = try await eventbase.put("after", ["n": 1])
        #expect(eventbase.invalidEntryCount == 2)
        #expect(try await eventbase.get("after") != nil)
        #expect(try await eventbase.keys() == ["after"])
        await eventbase.close()
    }

    @Test func streamsWrittenInTheOriginalFormatAreRead() async throws {
        let server = InMemoryLogServer()
        let eventbase = try await Eventbase.builder(streamName: "v3").inMemory(server: server).build()
        let put = #"{"type":"PUT","id":"user1","data":{"name":"Ann"},"timestamp":1700000000000}"#
        try server.publishRaw(stream: "v3", subject: "v3.dXNlcjE=-put", payload: Array(put.utf8))
        try server.publishRaw(stream: "v3", subject: "v3.dXNlcjE=-put", payload: Array(put.utf8))
        _ = try await eventbase.put("sync", ["n": 1])
        let record = try #require(try await eventbase.get("user1"))
        #expect(record.data == ["name": "Ann", "id": "user1"])
        #expect(record.meta.changes == 2)
        let delete = #"{"type":"DELETE","id":"user1","timestamp":1700000000001}"#
        try server.publishRaw(stream: "v3", subject: "v3.dXNlcjE=-delete", payload: Array(delete.utf8))
        _ = try await eventbase.put("sync", ["n": 2])
        #expect(try await eventbase.get("user1") == nil)
        await eventbase.close()
    }

    @Test func aStoreAheadOfTheLogIsRebuilt() async throws {
        let store = InMemoryStateStore()
        let first = InMemoryLogServer()
        let old = try await Eventbase.builder(streamName: "recreated").eventLog(
            InMemoryEventLog(streamName: "recreated", server: first)
        ).stateStore(store).build()
        for index in 0..<5 { _ = try await old.put("old\(index)", ["n": 1]) }
        await old.close()
        // The same stream name on a new server: a recreated stream with fewer events.
        let second = InMemoryLogServer()
        let seeded = try await Eventbase.builder(streamName: "recreated").inMemory(server: second).build()
        _ = try await seeded.put("new", ["n": 1])
        await seeded.close()
        let reopened = try await Eventbase.builder(streamName: "recreated").eventLog(
            InMemoryEventLog(streamName: "recreated", server: second)
        ).stateStore(store).build()
        #expect(try await reopened.keys() == ["new"])
        await reopened.close()
    }

    @Test func buildValidatesItsConfiguration() async throws {
        await #expect {
            _ = try await Eventbase.builder(streamName: "bad.name").inMemory().build()
        } throws: { error in
            (error as? EventbaseError)?.code == .invalidStreamName
        }
        await #expect {
            _ = try await Eventbase.builder(streamName: "ok").build()
        } throws: { error in
            (error as? EventbaseError)?.code == .invalidArgument
        }
        let eventbase = try await Eventbase.builder(streamName: "ok").inMemory().build()
        await #expect {
            _ = try await eventbase.put("", ["n": 1])
        } throws: { error in
            (error as? EventbaseError)?.code == .invalidKey
        }
        await #expect {
            _ = try await eventbase.put("k", [1, 2])
        } throws: { error in
            (error as? EventbaseError)?.code == .invalidArgument
        }
        await #expect {
            _ = try await eventbase.query([:], options: QueryOptions(limit: -1))
        } throws: { error in
            (error as? EventbaseError)?.code == .invalidArgument
        }
        await eventbase.close()
    }
}
