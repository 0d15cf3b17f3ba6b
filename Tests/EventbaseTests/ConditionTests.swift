import Eventbase
import EventbaseTestKit
import Foundation
import Testing

/// Conditional puts are judged by every replica as it applies them: replicas that followed the log
/// live, replicas that start later (after purges removed history) and replicas that resume from a
/// point in between reach the same verdicts.
@Suite struct ConditionTests {
    private func open(_ stream: String, _ server: InMemoryLogServer, retention: EventbaseOptions.Retention = .latestPut)
        async throws -> Eventbase
    {
        try await Eventbase.builder(streamName: stream).inMemory(server: server)
            .configure { $0.retention = retention }.build()
    }

    private func put(_ key: String, _ n: Int, expecting expectation: Event.Expectation? = nil) -> Event {
        Event(
            kind: .put, key: key, data: ["n": .number(Double(n))], timestamp: 1, eventID: UUID().uuidString,
            changes: 1, expectation: expectation)
    }

    @Test(arguments: [false, true])
    func aConditionalPutThatADeleteOvertookIsRefusedByEveryReplica(purged: Bool) async throws {
        let server = InMemoryLogServer()
        let log = InMemoryEventLog(streamName: "race", server: server)
        _ = try await log.open()
        let live = try await open("race", server, retention: .everything)
        let first = try await log.append(put("k", 1), condition: nil)
        // A writer read revision `first`; before its conditional put is appended, a delete lands.
        let delete = try await log.append(Event(kind: .delete, key: "k", timestamp: 2), condition: nil)
        if purged { _ = try await log.purgePuts(of: "k", before: delete.sequence) }
        let late = try await log.append(put("k", 2, expecting: .revision(first.sequence)), condition: nil)
        #expect(try await live.get("k", consistency: .atLeast(late.sequence)) == nil)
        let fresh = try await open("race", server, retention: .everything)
        #expect(try await fresh.get("k") == nil)
        // Creating the key again (expecting it absent) is accepted everywhere.
        let create = try await log.append(put("k", 3, expecting: .absent), condition: nil)
        #expect(try await live.get("k", consistency: .atLeast(create.sequence))?.meta.revision == create.sequence)
        #expect(try await fresh.get("k", consistency: .atLeast(create.sequence))?.meta.revision == create.sequence)
        await fresh.close()
        await live.close()
    }

    @Test(arguments: [EventbaseOptions.Retention.latestPut, .everything])
    func conditionsSeeADeleteWhosePurgeFailed(retention: EventbaseOptions.Retention) async throws {
        let server = InMemoryLogServer()
        let faulty = FaultyEventLog(wrapping: InMemoryEventLog(streamName: "failed", server: server))
        let eventbase = try await Eventbase.builder(streamName: "failed").eventLog(faulty)
            .stateStore(InMemoryStateStore()).configure { $0.retention = retention }.build()
        let created = try await eventbase.put("k", ["v": 1], expectedRevision: nil)
        // The delete's purge fails: the old put stays in the stream, as when its writer crashed.
        faulty.inject(.failPurges(.unavailable))
        _ = try await eventbase.delete("k")
        faulty.heal()
        await #expect(throws: EventbaseError.self) {
            try await eventbase.put("k", ["v": 2], expectedRevision: created.meta.revision)
        }
        let recreated = try await eventbase.put("k", ["v": 3], expectedRevision: nil)
        #expect(recreated.data["v"] == 3 && recreated.meta.changes == 1)
        let fresh = try await open("failed", server, retention: retention)
        #expect(try await fresh.get("k") == recreated)
        await fresh.close()
        await eventbase.close()
    }

    @Test func anAcceptedConditionalPutWhoseExpectedPutWasPurgedIsAcceptedByALaterReplica() async throws {
        let server = InMemoryLogServer()
        let log = InMemoryEventLog(streamName: "purged", server: server)
        _ = try await log.open()
        let first = try await log.append(put("k", 1), condition: nil)
        let second = try await log.append(put("k", 2, expecting: .revision(first.sequence)), condition: nil)
        // The conditional put's writer purges the put it replaced.
        _ = try await log.purgePuts(of: "k", before: second.sequence)
        let fresh = try await open("purged", server)
        #expect(try await fresh.get("k")?.meta.revision == second.sequence)
        await fresh.close()
    }

    /// Random histories of puts, conditional puts (current, stale and absent expectations) and
    /// deletes, each purged as writers purge (some purges fail): a replica that followed live, one
    /// that started half-way, one that resumed from a snapshot taken half-way and one that starts at
    /// the end hold the same records.
    @Test func randomHistoriesWithPurgesGiveEveryReplicaTheSameVerdicts() async throws {
        var random = SeededGenerator(seed: 2_026)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("conditions-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        for round in 0..<120 {
            let stream = "history\(round)"
            let server = InMemoryLogServer()
            let log = InMemoryEventLog(streamName: stream, server: server)
            _ = try await log.open()
            let live = try await open(stream, server)
            var late: Eventbase?
            var resumed: Eventbase?
            func openResumed() async throws -> Eventbase {
                try await Eventbase.builder(streamName: stream)
                    .eventLog(InMemoryEventLog(streamName: stream, server: server))
                    .fileStore(path: directory.appendingPathComponent(stream).path).build()
            }
            var accepted: [String: [UInt64]] = [:]
            var last: UInt64 = 0
            for step in 0..<40 {
                if step == 20 { late = try await open(stream, server) }
                if step == 10 { resumed = try await openResumed() }
                if step == 25 { await resumed?.close() }
                let key = "k\(Int.random(in: 0..<3, using: &random))"
                let choice = Int.random(in: 0..<10, using: &random)
                let event: Event
                switch choice {
                case 0..<2:
                    event = Event(kind: .delete, key: key, timestamp: 1)
                case 2..<4:
                    event = put(key, step)
                case 4..<6:
                    event = put(key, step, expecting: .absent)
                default:
                    let known = accepted[key] ?? []
                    guard let revision = known.randomElement(using: &random) else {
                        event = put(key, step, expecting: .absent)
                        break
                    }
                    event = put(key, step, expecting: .revision(revision))
                }
                let ack = try await log.append(event, condition: nil)
                last = ack.sequence
                let record = try await live.get(key, consistency: .atLeast(ack.sequence))
                let wasAccepted = event.kind == .delete ? true : record?.meta.revision == ack.sequence
                guard wasAccepted else { continue }
                if event.kind == .put { accepted[key, default: []].append(ack.sequence) }
                // The writer purges the key's older puts; one purge in four fails.
                if Int.random(in: 0..<4, using: &random) > 0 {
                    _ = try await log.purgePuts(of: key, before: ack.sequence)
                }
            }
            let fresh = try await open(stream, server)
            resumed = try await openResumed()
            let replicas = [("late", late!), ("fresh", fresh), ("resumed", resumed!)]
            for key in ["k0", "k1", "k2"] {
                let expected = try await live.get(key)
                for (name, replica) in replicas {
                    let found = try await replica.get(key, consistency: .atLeast(last))
                    #expect(
                        found?.meta.revision == expected?.meta.revision && found?.data == expected?.data,
                        "round \(round), \(name), \(key): \(String(describing: found)) != \(String(describing: expected))"
                    )
                }
            }
            await fresh.close()
            await resumed?.close()
            await late?.close()
            await live.close()
        }
    }
}
