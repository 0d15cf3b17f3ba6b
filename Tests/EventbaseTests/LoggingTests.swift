import Eventbase
import EventbaseTestKit
import Foundation
import Logging
import Testing

@Suite struct LoggingTests {
    @Test func normalOperationLogsOnlyBelowInfoWithTheStreamAndInstanceInTheMetadata() async throws {
        let recording = RecordingLogHandler()
        let eventbase = try await Eventbase.builder(streamName: "quiet").inMemory().logger(recording.logger).build()
        _ = try await eventbase.put("a", ["name": "Ann"])
        _ = try await eventbase.get("a")
        _ = try await eventbase.query(["name": "Ann"])
        let subscription = try await eventbase.subscribe(["name": "Ann"]) { _, _, _, _ in }
        _ = try await eventbase.delete("a")
        subscription.cancel()
        await eventbase.close()

        let entries = recording.entries
        #expect(entries.contains { $0.message == "Opened" })
        #expect(entries.contains { $0.message == "Closed" })
        for entry in entries {
            #expect(entry.level < .info, "normal operation logged \(entry.level): \(entry.message)")
            #expect(entry.metadata["eventbase.stream"] == "quiet")
            #expect(entry.metadata["eventbase.instance"] == "\(eventbase.instanceID)")
        }
    }

    @Test func faultsAreWarningsAndNeverCarryDocumentContents() async throws {
        let recording = RecordingLogHandler()
        struct Refused: Error {}
        let eventbase = try await Eventbase.builder(streamName: "faulty").inMemory()
            .logger(recording.logger)
            .onMessage { _ in throw Refused() }
            .build()
        let subscription = try await eventbase.subscribe([:]) { _, _, _, _ in throw Refused() }
        _ = try await eventbase.put("k", ["secret": "do-not-log-this-value"])
        subscription.cancel()
        await eventbase.close()

        let loud = recording.entries.filter { $0.level >= .info }
        #expect(loud.contains { $0.level == .warning && $0.message.contains("onMessage threw") })
        #expect(loud.contains { $0.level == .warning && $0.message.contains("subscription handler threw") })
        for entry in recording.entries {
            #expect(!entry.text.contains("do-not-log-this-value"))
        }
    }

    @Test func aSkippedInvalidEntryIsAWarning() async throws {
        let recording = RecordingLogHandler()
        let server = InMemoryLogServer()
        let eventbase = try await Eventbase.builder(streamName: "poison").inMemory(server: server)
            .logger(recording.logger).build()
        try server.publishRaw(stream: "poison", subject: "poison.bad-put", payload: Array("not json".utf8))
        _ = try await eventbase.put("after", ["n": 1])
        #expect(recording.entries.contains { $0.level == .warning && $0.message.contains("not a valid event") })
        await eventbase.close()
    }

    @Test func theManagerGivesItsLoggerToInstancesWithoutOne() async throws {
        let recording = RecordingLogHandler()
        let manager = EventbaseManager(
            keepAlive: .seconds(60), cleanupInterval: .seconds(60), logger: recording.logger,
            factory: { name in Eventbase.builder(streamName: name).inMemory() })
        let users = try await manager.stream("users")
        _ = try await users.put("u", ["n": 1])
        await manager.closeAll()
        #expect(
            recording.entries.contains {
                $0.message == "Opened" && $0.metadata["eventbase.stream"] == "users"
                    && $0.metadata["eventbase.instance"] == "\(users.instanceID)"
            })
        #expect(recording.entries.allSatisfy { $0.level < .info })
    }
}
