import EventbaseCore
import Foundation

extension EventbaseBehaviourSuite {
    /// The checks of the write contract: retry-safe writes, deletes of missing keys, reads at a
    /// chosen consistency, bounded live queries.
    func writeContract(_ check: Check, _ eventbase: Eventbase, _ stream: String) async throws {
        let label = check.rawValue
        switch check {
        case .idempotentPutsAreStoredOnce:
            let first = try await eventbase.put("k", ["v": 1], idempotencyKey: "request-1")
            let position = eventbase.appliedSequence
            let repeated = try await eventbase.put("k", ["v": 1], idempotencyKey: "request-1")
            try expect(repeated == first, label, "a repeated put returned \(repeated), the first \(first)")
            try expect(
                repeated.meta.changes == 1, label, "a repeated put counted \(repeated.meta.changes) changes")
            let other = try await open(stream, "other")
            do {
                let elsewhere = try await other.put("k", ["v": 1], idempotencyKey: "request-1")
                try expect(
                    elsewhere.meta.revision == first.meta.revision, label,
                    "another instance's repeat got revision \(elsewhere.meta.revision), the first \(first.meta.revision)"
                )
                // A later write to the key does not change what a repeat of the first one answers.
                let later = try await other.put("k", ["v": 2])
                let afterLater = try await eventbase.put("k", ["v": 1], idempotencyKey: "request-1")
                try expect(
                    afterLater.meta.revision == first.meta.revision && afterLater.data == first.data, label,
                    "a repeat after a later write returned \(afterLater)")
                try expect(later.meta.changes == 2, label, "the later put counted \(later.meta.changes) changes")
                // Only the first put and the later one were stored.
                let probe = try await eventbase.put("probe", ["v": 0])
                try expect(
                    probe.meta.revision == position + 2, label,
                    "the stream holds \(probe.meta.revision - position - 1) writes after the first put, expected 1")
                // A conditional put repeated after it succeeded returns its record, although the
                // key's revision has moved on; the same condition without the key conflicts.
                let created = try await other.put("c", ["v": 1], expectedRevision: nil, idempotencyKey: "create-c")
                let recreated = try await eventbase.put(
                    "c", ["v": 1], expectedRevision: nil, idempotencyKey: "create-c")
                try expect(recreated == created, label, "a repeated conditional put returned \(recreated)")
                try await expectError(.conflict, label, "the same condition under another idempotency key") {
                    try await eventbase.put("c", ["v": 1], expectedRevision: nil, idempotencyKey: "create-c-2")
                }
                // A stale or impossible revision conflicts with an idempotency key as without one.
                try await expectError(.conflict, label, "a stale revision with an idempotency key") {
                    try await eventbase.put(
                        "k", ["v": 9], expectedRevision: first.meta.revision, idempotencyKey: "stale")
                }
                try await expectError(.conflict, label, "a revision never written, with an idempotency key") {
                    try await eventbase.put("c", ["v": 9], expectedRevision: 0, idempotencyKey: "zero")
                }
                // Another idempotency key is another write.
                let distinct = try await eventbase.put("k", ["v": 3], idempotencyKey: "request-2")
                try expect(distinct.meta.revision > probe.meta.revision, label, "a new idempotency key was not stored")
            } catch {
                await other.close()
                throw error
            }
            await other.close()

        case .idempotentInsertsReturnTheSameKey:
            let first = try await eventbase.insert(["name": "Ann"], idempotencyKey: "signup-42")
            let repeated = try await eventbase.insert(["name": "Ann"], idempotencyKey: "signup-42")
            try expect(
                repeated.id == first.id, label, "a repeated insert used key \(repeated.id), the first \(first.id)")
            try expect(repeated.record == first.record, label, "a repeated insert returned another record")
            try expect(UUID(uuidString: first.id) != nil, label, "the derived key \(first.id) is not a UUID")
            try expect(try await eventbase.count() == 1, label, "a repeated insert stored a second document")
            let other = try await eventbase.insert(["name": "Ann"], idempotencyKey: "signup-43")
            try expect(other.id != first.id, label, "two idempotency keys inserted under one key")

        case .idempotentDeletesAreStoredOnce:
            _ = try await eventbase.put("k", ["v": 1])
            let first = try await eventbase.delete("k", idempotencyKey: "remove-k")
            try expect(first.existed && first.revision != nil, label, "the first delete returned \(first)")
            let repeated = try await eventbase.delete("k", idempotencyKey: "remove-k")
            try expect(
                repeated.revision == first.revision && repeated.existed, label,
                "a repeated delete returned \(repeated), the first \(first)")
            let probe = try await eventbase.put("probe", ["v": 0])
            try expect(
                probe.meta.revision == (first.revision ?? 0) + 1, label, "a repeated delete wrote another event")

        case .invalidIdempotencyKeysAreRefused:
            let before = eventbase.appliedSequence
            let long = String(repeating: "x", count: 513)
            for key in ["", long] {
                try await expectError(.invalidArgument, label, "put with idempotency key of \(key.count) bytes") {
                    try await eventbase.put("k", ["v": 1], idempotencyKey: key)
                }
                try await expectError(.invalidArgument, label, "insert with idempotency key of \(key.count) bytes") {
                    try await eventbase.insert(["v": 1], idempotencyKey: key)
                }
                try await expectError(.invalidArgument, label, "delete with idempotency key of \(key.count) bytes") {
                    try await eventbase.delete("k", idempotencyKey: key)
                }
            }
            let probe = try await eventbase.put("probe", ["v": 0])
            try expect(probe.meta.revision == before + 1, label, "a refused write was stored")

        case .deletingAMissingKeyWritesNothing:
            let before = eventbase.appliedSequence
            let result = try await eventbase.delete("never-written")
            try expect(
                !result.existed && result.revision == nil && result.purged == 0, label,
                "deleting a missing key returned \(result)")
            let probe = try await eventbase.put("probe", ["v": 0])
            try expect(probe.meta.revision == before + 1, label, "deleting a missing key wrote an event")
            let deleted = try await eventbase.delete("probe")
            try expect(
                deleted.existed && deleted.revision == probe.meta.revision + 1, label,
                "deleting an existing key returned \(deleted)")

        case .readsAtLatestSeeOtherInstancesWrites:
            let other = try await open(stream, "other")
            do {
                for index in 0..<20 {
                    let key = "k\(index)"
                    let written = try await eventbase.put(key, ["n": .number(Double(index))])
                    let latest = try await other.get(key, consistency: .latest)
                    try expect(latest == written, label, "a read at .latest returned \(String(describing: latest))")
                    let atLeast = try await other.get(key, consistency: .atLeast(written.meta.revision))
                    try expect(atLeast == written, label, "a read at .atLeast returned \(String(describing: atLeast))")
                }
                let deleted = try await eventbase.delete("k0")
                let keys = try await other.keys(consistency: .atLeast(deleted.revision ?? 0))
                try expect(!keys.contains("k0"), label, "keys at .atLeast the delete still held k0")
                let count = try await other.count(["n": ["$gte": 0]], consistency: .latest)
                try expect(count == 19, label, "count at .latest was \(count)")
                let queried = try await other.query(["n": 19], consistency: .latest)
                try expect(queried.count == 1, label, "query at .latest found \(queried.count)")
                let records = try await other.records(matching: ["n": 19], consistency: .latest)
                try expect(records.count == 1, label, "records at .latest found \(records.count)")
            } catch {
                await other.close()
                throw error
            }
            await other.close()

        case .readsAtAnUnreachedRevisionTimeOut:
            let impatient = try await backend.builder(streamName: stream, replicaName: "impatient")
                .configure { $0.readTimeout = .milliseconds(200) }.build()
            do {
                let written = try await eventbase.put("k", ["v": 1])
                try await expectError(.timeout, label, "a read at an unreached revision") {
                    try await impatient.get("k", consistency: .atLeast(written.meta.revision + 1_000))
                }
                let found = try await impatient.get("k", consistency: .atLeast(written.meta.revision))
                try expect(found == written, label, "after a timed-out read, a read found \(String(describing: found))")
            } catch {
                await impatient.close()
                throw error
            }
            await impatient.close()

        case .liveQueriesAreBoundedByTheChangeBuffer:
            let bounded = try await backend.builder(streamName: stream, replicaName: "bounded")
                .configure { $0.changeBufferSize = 4 }.build()
            do {
                for index in 0..<10 { _ = try await bounded.put("old\(index)", ["group": 1]) }
                // The snapshot (10 records) is larger than the buffer: it is not what the buffer bounds.
                let live = bounded.liveQuery(["group": 1])
                // Nobody iterates while 20 changes arrive: more than the buffer holds.
                for index in 0..<20 { _ = try await bounded.put("new\(index)", ["group": 1]) }
                var existing = 0
                var changes = 0
                do {
                    for try await event in live {
                        switch event {
                        case .existing: existing += 1
                        case .caughtUp: try expect(existing == 10, label, "the snapshot had \(existing) records")
                        case .change: changes += 1
                        }
                    }
                    throw ConformanceFailure(check: label, message: "an overflowing live query ended without an error")
                } catch let error as EventbaseError {
                    try expect(error.code == .slowConsumer, label, "an overflowing live query threw \(error.code)")
                }
                try expect(changes <= 4, label, "the live query buffered \(changes) changes, more than 4")
                try expect(
                    bounded.activeSubscriptionCount == 0, label, "the overflowed live query is still subscribed")
            } catch {
                await bounded.close()
                throw error
            }
            await bounded.close()

        case .conditionsSeeDeletesInEveryRetentionMode:
            for (name, retention) in [("latestPut", EventbaseOptions.Retention.latestPut), ("everything", .everything)]
            {
                let modeStream = stream + "_" + name
                let instance = try await backend.builder(streamName: modeStream, replicaName: name)
                    .configure { $0.retention = retention }.build()
                do {
                    let created = try await instance.put("k", ["v": 1], expectedRevision: nil)
                    let deleted = try await instance.delete("k")
                    try await expectError(.conflict, label, "\(name): a revision from before the delete") {
                        try await instance.put("k", ["v": 2], expectedRevision: created.meta.revision)
                    }
                    try await expectError(.conflict, label, "\(name): the delete's revision names no record") {
                        try await instance.put("k", ["v": 2], expectedRevision: deleted.revision)
                    }
                    let recreated = try await instance.put("k", ["v": 3], expectedRevision: nil)
                    try expect(
                        recreated.meta.changes == 1 && recreated.data["v"] == 3, label,
                        "\(name): recreating after a delete returned \(recreated)")
                    try await expectError(.conflict, label, "\(name): nil on a key that exists again") {
                        try await instance.put("k", ["v": 4], expectedRevision: nil)
                    }
                    // Another instance, and a replica that starts now, agree.
                    let fresh = try await open(modeStream, name + "-fresh")
                    let found = try await fresh.get("k", consistency: .atLeast(recreated.meta.revision))
                    await fresh.close()
                    try expect(found == recreated, label, "\(name): a fresh replica holds \(String(describing: found))")
                } catch {
                    try? await instance.deleteStream()
                    await instance.close()
                    throw error
                }
                try? await instance.deleteStream()
                await instance.close()
            }

        case .conditionalDeletesAndUpdates:
            let first = try await eventbase.put("k", ["v": 1])
            let second = try await eventbase.put("k", ["v": 2])
            try await expectError(.conflict, label, "a delete at a stale revision") {
                try await eventbase.delete("k", expectedRevision: first.meta.revision)
            }
            try expect(try await eventbase.get("k") == second, label, "a refused delete removed the key")
            let deleted = try await eventbase.delete("k", expectedRevision: second.meta.revision)
            try expect(deleted.existed && deleted.revision != nil, label, "a conditional delete returned \(deleted)")
            try await expectError(.conflict, label, "a conditional delete of a deleted key") {
                try await eventbase.delete("k", expectedRevision: second.meta.revision)
            }
            try await expectError(.invalidArgument, label, "update with no attempts") {
                try await eventbase.update("counter", maxAttempts: 0) { _ in [:] }
            }
            let other = try await open(stream, "other")
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for instance in [eventbase, other] {
                        group.addTask {
                            for _ in 0..<10 {
                                _ = try await instance.update("counter", maxAttempts: 100) { current in
                                    let count = current?.data["count"]?.intValue ?? 0
                                    return ["count": .number(Double(count + 1))]
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let counter = try await other.get("counter", consistency: .latest)
                try expect(
                    counter?.data["count"] == 20 && counter?.meta.changes == 20, label,
                    "twenty updates gave \(String(describing: counter?.data))")
                let removed = try await eventbase.update("counter") { _ in nil }
                try expect(removed == nil, label, "an update returning nil returned \(String(describing: removed))")
                try expect(
                    try await other.get("counter", consistency: .latest) == nil, label,
                    "an update returning nil did not delete")
            } catch {
                await other.close()
                throw error
            }
            await other.close()

        default:
            throw ConformanceFailure(check: label, message: "not a write-contract check")
        }
    }
}
