import Eventbase
import EventbaseTestKit
import Foundation
import Testing

/// Who runs an instance's background work: a task of its own (`build()`), or the caller
/// (`withEventbase`, `buildUnstarted()` and `run()`).
@Suite struct BackgroundWorkTests {
    @Test func withEventbaseRunsTheWorkInTheCallersTaskAndClosesAfterTheBody() async throws {
        let server = InMemoryLogServer()
        let other = try await Eventbase.builder(streamName: "scoped").inMemory(server: server).build()
        var used: Eventbase?
        let count = try await Eventbase.builder(streamName: "scoped").inMemory(server: server).withEventbase {
            eventbase in
            used = eventbase
            _ = try await eventbase.put("mine", ["v": 1])
            // Another instance's write reaches this replica: the follow loop runs.
            let theirs = try await other.put("theirs", ["v": 2])
            #expect(try await eventbase.get("theirs", consistency: .atLeast(theirs.meta.revision)) != nil)
            return try await eventbase.count()
        }
        #expect(count == 2)
        #expect(used?.isClosed == true)
        await #expect(throws: EventbaseError.self) { _ = try await used?.get("mine") }
        await other.close()
    }

    @Test func withEventbaseClosesTheInstanceWhenTheBodyThrows() async throws {
        struct Failure: Error {}
        var used: Eventbase?
        await #expect(throws: Failure.self) {
            try await Eventbase.builder(streamName: "thrown").inMemory().withEventbase { eventbase in
                used = eventbase
                _ = try await eventbase.put("k", ["v": 1])
                throw Failure()
            }
        }
        #expect(used?.isClosed == true)
    }

    @Test func anUnstartedInstanceCaughtUpAtOpenAndFollowsOnceRun() async throws {
        let server = InMemoryLogServer()
        let writer = try await Eventbase.builder(streamName: "unstarted").inMemory(server: server).build()
        _ = try await writer.put("before", ["v": 1])
        let eventbase = try await Eventbase.builder(streamName: "unstarted").inMemory(server: server)
            .configure { $0.writeTimeout = .milliseconds(200) }.buildUnstarted()
        // Opening caught up on the caller's task.
        #expect(try await eventbase.get("before") != nil)
        // Until run() follows the log, a write is not applied: it fails after the write timeout,
        // saying that only an idempotent retry is safe (it may have been stored, and it was).
        await #expect {
            _ = try await eventbase.put("early", ["v": 2])
        } throws: { error in
            guard let error = error as? EventbaseError else { return false }
            return error.code == .timeout && error.message.contains("idempotency key")
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await eventbase.run() }
            // Running, it applies what it missed (the early write was stored) and what comes next.
            let after = try await writer.put("after", ["v": 3])
            #expect(try await eventbase.get("after", consistency: .atLeast(after.meta.revision)) != nil)
            #expect(try await eventbase.get("early") != nil)
            _ = try await eventbase.put("late", ["v": 4])
            await eventbase.close()
            try await group.waitForAll()
        }
        // run() returned once the instance closed; running it again returns at once.
        await eventbase.run()
        await writer.close()
    }

    @Test func runOnAnInstanceThatRunsItsOwnWorkWaitsUntilItCloses() async throws {
        let eventbase = try await Eventbase.builder(streamName: "own").inMemory().build()
        let (started, signal) = AsyncStream<Void>.makeStream()
        let waiting = Task {
            signal.yield()
            await eventbase.run()
            return eventbase.isClosed
        }
        var iterator = started.makeAsyncIterator()
        _ = await iterator.next()
        _ = try await eventbase.put("k", ["v": 1])
        await eventbase.close()
        #expect(await waiting.value)
    }

    @Test func cancellingTheTaskThatRunsTheWorkClosesTheInstance() async throws {
        let eventbase = try await Eventbase.builder(streamName: "cancelled").inMemory().buildUnstarted()
        let running = Task { await eventbase.run() }
        _ = try await eventbase.put("k", ["v": 1])
        running.cancel()
        await running.value
        #expect(eventbase.isClosed)
        await #expect(throws: EventbaseError.self) { _ = try await eventbase.put("k", ["v": 2]) }
    }
}
