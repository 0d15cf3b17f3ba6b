import Eventbase
import EventbaseTestKit
import Foundation
import Testing

@Suite struct HealthTests {
    @Test func aCaughtUpInstanceReportsNoLagAndNoConnection() async throws {
        let eventbase = try await Eventbase.builder(streamName: "health").inMemory().build()
        _ = try await eventbase.put("a", ["n": 1])
        _ = try await eventbase.put("b", ["n": 2])
        let health = await eventbase.health()
        #expect(health.streamName == "health")
        #expect(health.instanceID == eventbase.instanceID)
        #expect(health.appliedSequence == 2)
        #expect(health.streamLastSequence == 2)
        #expect(health.lag == 0)
        #expect(health.invalidEntryCount == 0)
        #expect(health.droppedStatsCount == 0)
        #expect(health.connection == nil)
        #expect(health.logError == nil)
        #expect(health.isHealthy)
        await eventbase.close()
    }

    @Test func lagCountsEntriesTheReplicaHasNotAppliedYet() async throws {
        let server = InMemoryLogServer()
        let log = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "lagging", server: server))
        let behind = try await Eventbase.builder(streamName: "lagging").eventLog(log).stateStore(InMemoryStateStore())
            .build()
        let writer = try await Eventbase.builder(streamName: "lagging").inMemory(server: server).build()
        _ = try await behind.put("first", ["n": 0])
        log.inject(.stallDelivery)
        _ = try await writer.put("a", ["n": 1])
        _ = try await writer.put("b", ["n": 2])
        let stalled = await behind.health()
        #expect(stalled.appliedSequence == 1)
        #expect(stalled.streamLastSequence == 3)
        #expect(stalled.lag == 2)
        log.heal()
        _ = try await behind.put("c", ["n": 3])
        #expect(await behind.health().lag == 0)
        await writer.close()
        await behind.close()
    }

    @Test func poisonMessagesAreCounted() async throws {
        let server = InMemoryLogServer()
        let eventbase = try await Eventbase.builder(streamName: "poisoned").inMemory(server: server).build()
        try server.publishRaw(stream: "poisoned", subject: "poisoned.x-put", payload: Array("{".utf8))
        _ = try await eventbase.put("after", ["n": 1])
        let health = await eventbase.health()
        #expect(health.invalidEntryCount == 1)
        #expect(health.appliedSequence == 2)
        await eventbase.close()
    }

    @Test func aClosedInstanceIsUnhealthyWithoutAskingTheLog() async throws {
        let eventbase = try await Eventbase.builder(streamName: "closed").inMemory().build()
        await eventbase.close()
        let health = await eventbase.health()
        #expect(health.isClosed)
        #expect(!health.isHealthy)
        #expect(health.streamLastSequence == nil)
        #expect(health.logError == .closed)
        #expect(health.lag == nil)
    }

    @Test func closeGracefullyLetsAWriteInFlightFinishAndRefusesNewOnes() async throws {
        let log = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "drain"))
        let recording = RecordingLogHandler()
        let eventbase = try await Eventbase.builder(streamName: "drain").eventLog(log)
            .stateStore(InMemoryStateStore()).logger(recording.logger).build()
        log.inject(.stallDelivery)
        let write = Task { try await eventbase.put("k", ["n": 1]) }
        await log.waitForAppendCalls(1)
        let closing = Task { await eventbase.closeGracefully() }
        await recording.waitFor { $0.message.hasPrefix("Waiting for in-flight writes") }
        await #expect {
            _ = try await eventbase.put("late", ["n": 2])
        } throws: { error in
            (error as? EventbaseError)?.code == .closed
        }
        log.heal()
        let record = try await write.value
        #expect(record.key == "k")
        await closing.value
        #expect(eventbase.isClosed)
    }
}
