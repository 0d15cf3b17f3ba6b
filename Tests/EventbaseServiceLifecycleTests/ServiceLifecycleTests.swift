import Eventbase
import EventbaseServiceLifecycle
import EventbaseTestKit
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@Suite struct ServiceLifecycleTests {
    let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("eventbase-lifecycle-\(UUID().uuidString)").path
    }

    @Test func aGracefulShutdownFinishesTheWriteInFlightThenSnapshotsAndCloses() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = InMemoryLogServer()
        let log = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "todos", server: server))
        let recording = RecordingLogHandler()
        let eventbase = try await Eventbase.builder(streamName: "todos")
            .eventLog(log)
            .fileStore(path: directory)
            .logger(recording.logger)
            .build()
        let group = ServiceGroup(services: [EventbaseService(eventbase)], logger: quiet)
        let running = Task { try await group.run() }

        log.inject(.stallDelivery)
        let write = Task { try await eventbase.put("milk", ["title": "Buy milk"]) }
        await log.waitForAppendCalls(1)
        await group.triggerGracefulShutdown()
        await recording.waitFor { $0.message.hasPrefix("Waiting for in-flight writes") }
        #expect(!eventbase.isClosed)
        log.heal()
        #expect(try await write.value.key == "milk")
        try await running.value
        #expect(eventbase.isClosed)

        // The final snapshot holds the write: a new instance on the same folder replays nothing.
        let replayed = Counter()
        let reopened = try await Eventbase.builder(streamName: "todos")
            .inMemory(server: server)
            .fileStore(path: directory)
            .onMessage { _ in replayed.increment() }
            .build()
        #expect(replayed.value == 0)
        #expect(try await reopened.get("milk")?.data["title"] == "Buy milk")
        await reopened.close()
    }

    @Test func theServiceRunsTheBackgroundWorkOfAnUnstartedInstance() async throws {
        let server = InMemoryLogServer()
        let other = try await Eventbase.builder(streamName: "served").inMemory(server: server).build()
        let eventbase = try await Eventbase.builder(streamName: "served").inMemory(server: server).buildUnstarted()
        let group = ServiceGroup(services: [EventbaseService(eventbase)], logger: quiet)
        let running = Task { try await group.run() }
        // The group's task follows the log: writes are applied, and so are another instance's.
        _ = try await eventbase.put("mine", ["v": 1])
        let theirs = try await other.put("theirs", ["v": 2])
        #expect(try await eventbase.get("theirs", consistency: .atLeast(theirs.meta.revision)) != nil)
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(eventbase.isClosed)
        await other.close()
    }

    @Test func aGracefulShutdownClosesEveryStreamOfAManager() async throws {
        let manager = EventbaseManager(keepAlive: .seconds(3600), cleanupInterval: .seconds(3600)) { name in
            Eventbase.builder(streamName: name).inMemory()
        }
        let a = try await manager.stream("a")
        let b = try await manager.stream("b")
        _ = try await a.put("k", ["n": 1])
        let group = ServiceGroup(services: [EventbaseManagerService(manager)], logger: quiet)
        let running = Task { try await group.run() }
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(a.isClosed)
        #expect(b.isClosed)
        #expect(manager.openStreams.isEmpty)
        await #expect {
            _ = try await manager.stream("a")
        } throws: { error in
            (error as? EventbaseError)?.code == .closed
        }
    }

    @Test func cancellingTheGroupClosesAtOnce() async throws {
        let eventbase = try await Eventbase.builder(streamName: "cancelled").inMemory().build()
        let group = ServiceGroup(services: [EventbaseService(eventbase)], logger: quiet)
        let running = Task { try await group.run() }
        running.cancel()
        _ = try? await running.value
        #expect(eventbase.isClosed)
    }
}

/// A thread-safe count.
final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func increment() { count.withLock { $0 += 1 } }
}
