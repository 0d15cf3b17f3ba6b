import Eventbase
import EventbaseTestKit
import Foundation
import Synchronization
import Testing

@Suite struct ManagerTests {
    final class Counter: Sendable {
        let value = Mutex(0)
        func increment() { value.withLock { $0 += 1 } }
        var count: Int { value.withLock { $0 } }
    }

    func makeManager(clock: ManualClock, opens: Counter = Counter(), server: InMemoryLogServer = InMemoryLogServer())
        -> EventbaseManager
    {
        EventbaseManager(keepAlive: .seconds(60), cleanupInterval: .seconds(10), clock: clock, now: clock.nowProvider) {
            name in
            opens.increment()
            return EventbaseBuilder(streamName: name, clock: clock, now: clock.nowProvider).inMemory(server: server)
        }
    }

    @Test func streamReturnsTheSameOpenInstance() async throws {
        let manager = makeManager(clock: ManualClock())
        let first = try await manager.stream("users")
        let second = try await manager.stream("users")
        #expect(first === second)
        #expect(manager.openStreams == ["users"])
        await manager.closeAll()
    }

    @Test func concurrentCallsForOneNameOpenItOnce() async throws {
        let opens = Counter()
        let manager = makeManager(clock: ManualClock(), opens: opens)
        let instances = try await withThrowingTaskGroup(of: Eventbase.self) { group in
            for _ in 0..<20 { group.addTask { try await manager.stream("orders") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(opens.count == 1)
        #expect(Set(instances.map { ObjectIdentifier($0) }).count == 1)
        await manager.closeAll()
    }

    @Test func aFailedOpenIsNotCached() async throws {
        let attempts = Counter()
        let clock = ManualClock()
        let manager = EventbaseManager(
            keepAlive: .seconds(60), cleanupInterval: .seconds(10), clock: clock, now: clock.nowProvider
        ) { name in
            attempts.increment()
            return EventbaseBuilder(
                streamName: attempts.count == 1 ? "bad.name" : name, clock: clock, now: clock.nowProvider
            )
            .inMemory()
        }
        await #expect(throws: EventbaseError.self) { try await manager.stream("good") }
        _ = try await manager.stream("good")
        #expect(attempts.count == 2)
        await manager.closeAll()
    }

    @Test func idleInstancesCloseAfterKeepAliveAndEmitEvents() async throws {
        let clock = ManualClock()
        let manager = makeManager(clock: clock)
        var events = manager.events.makeAsyncIterator()
        let users = try await manager.stream("users")
        #expect(await events.next() == .opened("users"))
        // Sleeping on the clock: the manager's sweep (run() below) and the instance's freshness probe.
        let sleepers = clock.sleeperCount + 1
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await manager.run() }
            await clock.waitForSleepers(sleepers)
            clock.advance(by: .seconds(30))
            await clock.waitForSleepers(sleepers)
            #expect(!users.isClosed)
            clock.advance(by: .seconds(40))
            #expect(await events.next() == .closed("users"))
            #expect(users.isClosed)
            #expect(manager.openStreams.isEmpty)
            let reopened = try? await manager.stream("users")
            #expect(reopened !== users)
            #expect(await events.next() == .opened("users"))
            // closeAll() ends run().
            await manager.closeAll()
        }
    }

    @Test func runReturnsOnCloseAllAndWithoutItNothingIsSwept() async throws {
        let clock = ManualClock()
        let manager = makeManager(clock: clock)
        let users = try await manager.stream("users")
        clock.advance(by: .seconds(120))
        await clock.waitForSleepers(clock.sleeperCount)
        #expect(!users.isClosed)
        let running = Task { await manager.run() }
        await manager.closeAll()
        await running.value
        // A manager that is closed does not run again.
        await manager.run()
    }

    @Test func instancesWithSubscriptionsStayOpen() async throws {
        let clock = ManualClock()
        let manager = makeManager(clock: clock)
        let users = try await manager.stream("users")
        let subscription = try await users.subscribe([:]) { _, _, _, _ in }
        clock.advance(by: .seconds(120))
        await manager.sweep()
        #expect(!users.isClosed)
        subscription.cancel()
        await manager.sweep()
        #expect(users.isClosed)
        await manager.closeAll()
    }

    @Test func accessKeepsAnInstanceAlive() async throws {
        let clock = ManualClock()
        let manager = makeManager(clock: clock)
        let users = try await manager.stream("users")
        clock.advance(by: .seconds(50))
        _ = try await users.get("x")
        clock.advance(by: .seconds(50))
        await manager.sweep()
        #expect(!users.isClosed)
        await manager.closeAll()
    }

    @Test func closeAllClosesEverythingAndEndsEvents() async throws {
        let manager = makeManager(clock: ManualClock())
        let events = manager.events
        let a = try await manager.stream("a")
        let b = try await manager.stream("b")
        await manager.closeAll()
        #expect(a.isClosed && b.isClosed)
        var seen: [EventbaseManager.StreamEvent] = []
        for await event in events { seen.append(event) }
        #expect(seen == [.opened("a"), .opened("b"), .closed("a"), .closed("b")])
        await #expect(throws: EventbaseError.self) { try await manager.stream("a") }
    }

    @Test func instancesOfOneManagerShareAStreamThroughTheServer() async throws {
        let server = InMemoryLogServer()
        let first = makeManager(clock: ManualClock(), server: server)
        let second = makeManager(clock: ManualClock(), server: server)
        let writer = try await first.stream("shared")
        _ = try await writer.put("k", ["v": 1])
        let reader = try await second.stream("shared")
        #expect(try await reader.get("k")?.data["v"] == 1)
        await first.closeAll()
        await second.closeAll()
    }

    @Test func aFailedInstanceIsClosedAndReplacedOnTheNextStream() async throws {
        let server = InMemoryLogServer()
        let clock = ManualClock()
        let manager = makeManager(clock: clock, server: server)
        let users = try await manager.stream("users")
        _ = try await users.put("k", ["v": 1])
        let changes = users.changes(matching: [:])
        // The stream is deleted under the instance, which stops with `.streamDeleted`.
        let other = try await EventbaseBuilder(streamName: "users", clock: clock, now: clock.nowProvider)
            .inMemory(server: server).build()
        try await other.deleteStream()
        do {
            for try await _ in changes {}
            Issue.record("the instance's changes ended without an error")
        } catch let error as EventbaseError {
            #expect(error.code == .streamDeleted)
        }
        let replacement = try await manager.stream("users")
        #expect(replacement !== users)
        #expect(users.isClosed)
        _ = try await replacement.put("k", ["v": 2])
        #expect(try await replacement.get("k")?.data["v"] == 2)
        #expect(try await manager.stream("users") === replacement)
        await manager.closeAll()
    }

    @Test func aSweepNeverClosesAnInstanceItRacesToHandOut() async throws {
        let clock = ManualClock()
        let manager = makeManager(clock: clock)
        for round in 0..<50 {
            _ = try await manager.stream("users")
            // Idle for longer than the keep-alive: a sweep now would close it, unless a caller takes it first.
            clock.advance(by: .seconds(61))
            let handedOut = try await withThrowingTaskGroup(of: Eventbase?.self) { group in
                group.addTask {
                    await manager.sweep()
                    return nil
                }
                group.addTask { try await manager.stream("users") }
                var handedOut: Eventbase?
                for try await result in group { if let result { handedOut = result } }
                return handedOut!
            }
            #expect(!handedOut.isClosed, "round \(round): the instance handed out was closed")
            _ = try await handedOut.put("k", ["round": .number(Double(round))])
        }
        await manager.closeAll()
    }

    @Test func aReopenWaitsUntilTheOldInstanceHasClosed() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("manager-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = ManualClock()
        let server = InMemoryLogServer()
        let manager = EventbaseManager(
            keepAlive: .seconds(60), cleanupInterval: .seconds(10), clock: clock, now: clock.nowProvider
        ) { name in
            EventbaseBuilder(streamName: name, clock: clock, now: clock.nowProvider)
                .eventLog(InMemoryEventLog(streamName: name, server: server))
                .fileStore(path: directory.appendingPathComponent(name).path)
        }
        for round in 0..<20 {
            let users = try await manager.stream("users")
            _ = try await users.put("k\(round)", ["round": .number(Double(round))])
            clock.advance(by: .seconds(61))
            // The sweep closes the instance (writing its final snapshot) while the stream is asked
            // for again: the new instance opens the same folder only once the old one let go of it.
            let reopened = try await withThrowingTaskGroup(of: Eventbase?.self) { group in
                group.addTask {
                    await manager.sweep()
                    return nil
                }
                group.addTask { try await manager.stream("users") }
                var reopened: Eventbase?
                for try await result in group { if let result { reopened = result } }
                return reopened!
            }
            #expect(try await reopened.count() == round + 1)
        }
        await manager.closeAll()
    }

    @Test func closeAllWaitsForAnOpenInFlightAndClosesWhatItOpened() async throws {
        let clock = ManualClock()
        let server = InMemoryLogServer()
        // The stream holds an event, so opening waits for the replica to apply it: while delivery
        // is stalled, the open is in flight.
        let writer = EventbaseBuilder(streamName: "users", clock: clock, now: clock.nowProvider).inMemory(
            server: server)
        let first = try await writer.build()
        _ = try await first.put("k", ["v": 1])
        await first.close()
        let log = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "users", server: server))
        log.inject(.stallDelivery)
        let (factoryCalled, called) = AsyncStream<Void>.makeStream()
        let manager = EventbaseManager(
            keepAlive: .seconds(60), cleanupInterval: .seconds(10), clock: clock, now: clock.nowProvider
        ) { name in
            called.yield()
            return EventbaseBuilder(streamName: name, clock: clock, now: clock.nowProvider).eventLog(log)
                .stateStore(InMemoryStateStore())
        }
        let opening = Task { try await manager.stream("users") }
        var calls = factoryCalled.makeAsyncIterator()
        _ = await calls.next()
        let closing = Task { await manager.closeAll() }
        log.heal()
        await closing.value
        // By the time closeAll() returns, the instance the open made has been closed again.
        await #expect(throws: EventbaseError.self) {
            _ = try await log.append(Event(kind: .put, key: "x", data: ["v": 1], timestamp: 0), condition: nil)
        }
        await #expect(throws: EventbaseError.self) { try await opening.value }
        #expect(manager.openStreams.isEmpty)
    }
}
