public import EventbaseCore
import Foundation
import Synchronization

/// The behaviours of eventbase (the original's tests, and the flaws fixed), as checks that run on
/// any backend. The in-memory backend runs them in unit tests; JetStream runs them against a real
/// server.
///
/// ```swift
/// @Test(arguments: EventbaseBehaviourSuite.Check.allCases)
/// func behaviour(_ check: EventbaseBehaviourSuite.Check) async throws {
///     try await EventbaseBehaviourSuite(backend: myBackend).run(check)
/// }
/// ```
public struct EventbaseBehaviourSuite: Sendable {
    /// Makes builders for a backend.
    public protocol Backend: Sendable {
        /// A builder for an instance on `streamName` whose local replica is stored as `replicaName`:
        /// two builders with the same `replicaName` share persisted local state (for reopen checks);
        /// every builder with the same `streamName` shares the stream.
        func builder(streamName: String, replicaName: String) async throws -> EventbaseBuilder
    }

    /// The checks.
    public enum Check: String, CaseIterable, Sendable, CustomStringConvertible {
        /// `get` of a key that was never written is `nil`.
        case getOfAMissingKeyIsNil
        /// A put then a get returns the data with `id` added, `changes` 1 and `dateCreated == dateModified`.
        case putThenGetReturnsDataWithIDAndFirstMeta
        /// A second put makes `changes` 2 and a later `dateModified`, keeping `dateCreated`.
        case secondPutCountsTwoChangesAndMovesDateModified
        /// A put replaces the whole document; fields it omits are gone.
        case putReplacesTheDocument
        /// After a delete, `get` is `nil`.
        case deleteMakesGetNil
        /// `insert` stores the document under a new UUID key.
        case insertGeneratesAUUIDKey
        /// Two instances on one stream see each other's writes.
        case twoInstancesSeeEachOthersWrites
        /// Reopening on the same replica replays only the events it has not applied (`onMessage` sees only those).
        case reopeningReplaysOnlyNewEvents
        /// Keys with special characters (`!@#$%^&*()_+`, `.`, `*`, `>`, spaces, unicode) round-trip.
        case specialCharacterKeysRoundTrip
        /// Canonically equivalent keys (NFC and NFD spellings) are distinct keys, byte for byte.
        case equivalentUnicodeKeysStayDistinct
        /// `keys(_:)` filters keys by a regular expression.
        case keysFilterByRegex
        /// Subscriptions with `$regex`, `$eq` and plain values are called for matching writes only.
        case subscribeWithRegexEqualityAndPlainValues
        /// A subscription is told when a record stops matching (changed or deleted).
        case subscriptionsLearnWhenRecordsLeave
        /// A cancelled subscription is not called again.
        case cancelledSubscriptionsStopBeingCalled
        /// A subscription handler that throws does not stop replication or other subscriptions.
        case throwingHandlersNeverStopReplication
        /// `changes(matching:)` yields the changes made after it was created.
        case changeSequencesYieldLiveChanges
        /// `liveQuery(_:)` yields the matching records, then `caughtUp`, then changes.
        case liveQueriesStartWithExistingRecords
        /// Query operators, `sort`, `limit`, `offset` and `project` give the expected documents in order.
        case queryOperatorsSortLimitOffsetProject
        /// `count(_:)` counts exactly the matching documents.
        case countIsExact
        /// Unknown operators and invalid regular expressions throw `.invalidQuery`, never match silently.
        case invalidQueriesAreTypedErrors
        /// A replica replaying from scratch after purges computes the same meta as the live one.
        case metaIsIdenticalOnAReplicaReplayingAfterPurges
        /// Concurrent writes on one instance each return their own record.
        case concurrentWritersEachGetTheirOwnRecord
        /// `put(_:_:expectedRevision:)` with a stale revision throws `.conflict`.
        case optimisticConcurrencyRejectsStaleWrites
        /// A `Codable` value round-trips through `put` and `get(_:as:)`.
        case typedCodableRoundTrip
        /// Every operation after `close()` throws `.closed`.
        case everyOperationAfterCloseThrowsClosed
        /// `deleteStream()` removes the stream and the local replica's data.
        case deleteStreamRemovesTheStreamAndLocalData
        /// A put repeated with its idempotency key, by the same or another instance, writes nothing
        /// new and returns the first put's record, also after later writes to the key.
        case idempotentPutsAreStoredOnce
        /// An insert repeated with its idempotency key returns the same id and writes nothing new.
        case idempotentInsertsReturnTheSameKey
        /// A delete repeated with its idempotency key returns the first delete's revision.
        case idempotentDeletesAreStoredOnce
        /// Empty and over-long idempotency keys are `.invalidArgument`, and nothing is written.
        case invalidIdempotencyKeysAreRefused
        /// Deleting a key that does not exist writes nothing and says `existed: false`.
        case deletingAMissingKeyWritesNothing
        /// Reads at `.latest` and `.atLeast` see another instance's acknowledged write.
        case readsAtLatestSeeOtherInstancesWrites
        /// A read at `.atLeast` a revision the stream never reaches ends in `.timeout`.
        case readsAtAnUnreachedRevisionTimeOut
        /// A live query's snapshot may exceed the change buffer; changes past the buffer end it
        /// with `.slowConsumer`.
        case liveQueriesAreBoundedByTheChangeBuffer
        /// In every retention mode, a revision from before a delete conflicts, and `nil` (the key
        /// does not exist) succeeds after a delete.
        case conditionsSeeDeletesInEveryRetentionMode
        /// `delete(_:expectedRevision:)` refuses stale revisions; `update` retries lost races, so
        /// concurrent increments from two instances all count.
        case conditionalDeletesAndUpdates

        public var description: String { rawValue }
    }

    let backend: any Backend
    let timeout: Duration

    /// Creates the suite for a backend.
    public init(backend: any Backend, timeout: Duration = .seconds(10)) {
        self.backend = backend
        self.timeout = timeout
    }

    /// Runs one check on a fresh stream.
    public func run(_ check: Check) async throws {
        let stream = uniqueStreamName("behaviour")
        let eventbase = try await backend.builder(streamName: stream, replicaName: "main").build()
        do {
            try await body(check, eventbase, stream)
        } catch {
            await eventbase.close()
            throw error
        }
        if check != .deleteStreamRemovesTheStreamAndLocalData {
            try? await eventbase.deleteStream()
        }
        await eventbase.close()
    }

    func open(_ stream: String, _ replica: String) async throws -> Eventbase {
        try await backend.builder(streamName: stream, replicaName: replica).build()
    }

    /// Waits for `condition` to hold, re-checking after each change the instance applies.
    private func eventually(
        _ eventbase: Eventbase, _ label: String, _ what: String,
        _ condition: @escaping @Sendable () async throws -> Bool
    ) async throws {
        let changes = eventbase.changes(matching: [:])
        if try await condition() { return }
        try await withDeadline(timeout, clock: ContinuousClock(), "\(label): \(what)") {
            for try await _ in changes where try await condition() {
                return
            }
            throw ConformanceFailure(check: label, message: "the instance closed before \(what)")
        }
    }

    // swiftlint:disable:next function_body_length cyclomatic_complexity
    private func body(_ check: Check, _ eventbase: Eventbase, _ stream: String) async throws {
        let label = check.rawValue
        switch check {
        case .getOfAMissingKeyIsNil:
            try expect(try await eventbase.get("nope") == nil, label, "get of a missing key was not nil")

        case .putThenGetReturnsDataWithIDAndFirstMeta:
            let returned = try await eventbase.put("user123", ["name": "John Doe"])
            let found = try await eventbase.get("user123")
            try expect(found == returned, label, "get returned something other than put")
            try expect(
                found?.data == ["name": "John Doe", "id": "user123"], label,
                "data lacks the id: \(String(describing: found?.data))")
            try expect(
                found?.meta.changes == 1, label, "changes is \(String(describing: found?.meta.changes)), expected 1")
            try expect(
                found?.meta.dateCreated == found?.meta.dateModified, label, "dateCreated != dateModified after one put")

        case .secondPutCountsTwoChangesAndMovesDateModified:
            let first = try await eventbase.put("k", ["v": 1])
            let second = try await eventbase.put("k", ["v": 2])
            try expect(second.meta.changes == 2, label, "changes is \(second.meta.changes), expected 2")
            try expect(second.meta.dateCreated == first.meta.dateCreated, label, "dateCreated moved")
            try expect(second.meta.dateModified > first.meta.dateModified, label, "dateModified did not move forward")
            try expect(second.meta.revision > first.meta.revision, label, "the revision did not increase")

        case .putReplacesTheDocument:
            _ = try await eventbase.put("k", ["a": 1, "b": 2])
            let replaced = try await eventbase.put("k", ["a": 3])
            try expect(
                replaced.data == ["a": 3, "id": "k"], label, "a put merged instead of replacing: \(replaced.data)")

        case .deleteMakesGetNil:
            _ = try await eventbase.put("k", ["v": 1])
            let result = try await eventbase.delete("k")
            try expect(result.existed, label, "delete did not see the key")
            try expect(try await eventbase.get("k") == nil, label, "get after delete was not nil")
            let again = try await eventbase.put("k", ["v": 2])
            try expect(again.meta.changes == 1, label, "a put after a delete did not start a new record")

        case .insertGeneratesAUUIDKey:
            let inserted = try await eventbase.insert(["name": "John Doe"])
            try expect(UUID(uuidString: inserted.id) != nil, label, "insert's key \(inserted.id) is not a UUID")
            try expect(
                try await eventbase.get(inserted.id)?.data["name"] == "John Doe", label,
                "the inserted record is missing")

        case .twoInstancesSeeEachOthersWrites:
            let other = try await open(stream, "other")
            do {
                _ = try await eventbase.put("from-main", ["n": 1])
                let written = try await other.put("from-other", ["n": 2])
                try await eventually(eventbase, label, "main sees other's write") {
                    try await eventbase.get("from-other") == written
                }
                try await eventually(other, label, "other sees main's write") {
                    try await other.get("from-main")?.data["n"] == 1
                }
            } catch {
                await other.close()
                throw error
            }
            await other.close()

        case .reopeningReplaysOnlyNewEvents:
            _ = try await eventbase.put("a", ["n": 1])
            let replicaName = "reopen"
            let first = try await backend.builder(streamName: stream, replicaName: replicaName).build()
            try expect(try await first.get("a") != nil, label, "a new replica did not replay the log")
            await first.close()
            _ = try await eventbase.put("b", ["n": 2])
            let seen = Mutex<[String]>([])
            let second = try await backend.builder(streamName: stream, replicaName: replicaName)
                .onMessage { entry in seen.withLock { $0.append(entry.event?.key ?? "?") } }
                .build()
            let keys = seen.withLock { $0 }
            let hasA = try await second.get("a") != nil
            await second.close()
            try expect(keys == ["b"], label, "onMessage saw \(keys) on reopen, expected only [\"b\"]")
            try expect(hasA, label, "the reopened replica lost a record from its checkpoint")

        case .specialCharacterKeysRoundTrip:
            let keys = [
                "!@#$%^&*()_+", ".", "*", ">", "a.b.c", "with space", "日本語", "🙂", "$JS.API.STREAM.DELETE", "../..",
                "a\nb",
            ]
            for (index, key) in keys.enumerated() {
                _ = try await eventbase.put(key, ["index": .number(Double(index))])
            }
            for (index, key) in keys.enumerated() {
                let found = try await eventbase.get(key)
                try expect(
                    found?.data["index"] == .number(Double(index)), label,
                    "key \(key.debugDescription) did not round-trip")
                try expect(found?.data["id"] == .string(key), label, "the id of \(key.debugDescription) changed")
            }
            let all = try await eventbase.keys()
            try expect(Set(all) == Set(keys), label, "keys() returned \(all)")

        case .equivalentUnicodeKeysStayDistinct:
            // Canonically equivalent (NFC/NFD) keys, NUL and the longest key are distinct keys that
            // round-trip byte-exactly, here and on a replica that replays the log.
            let longest = String(repeating: "k", count: NameRules.maxKeyBytes(stream: stream))
            let keys = ["\u{E9}", "e\u{301}", "\u{C5}", "A\u{30A}", "\u{212B}", "\u{0}", "a\u{0}b", longest]
            for (index, key) in keys.enumerated() {
                _ = try await eventbase.put(key, ["index": .number(Double(index))])
            }
            _ = try await eventbase.delete("e\u{301}")
            let tooLong = longest + "k"
            do {
                _ = try await eventbase.put(tooLong, ["index": 0])
                throw ConformanceFailure(check: label, message: "a key over the limit was accepted")
            } catch let error as EventbaseError {
                try expect(error.code == .invalidKey, label, "a key over the limit threw \(error.code)")
            }
            let replay = try await open(stream, "replay")
            do {
                for instance in [eventbase, replay] {
                    for (index, key) in keys.enumerated() {
                        let found = try await instance.get(key)
                        if Array(key.utf8) == Array("e\u{301}".utf8) {
                            try expect(found == nil, label, "the deleted NFD key still reads back")
                            continue
                        }
                        try expect(
                            found?.data["index"] == .number(Double(index)), label,
                            "key \(Array(key.unicodeScalars)) read back another key's record")
                        try expect(
                            found.map { Array($0.key.utf8) == Array(key.utf8) } == true
                                && found?.data["id"]?.stringValue.map { Array($0.utf8) == Array(key.utf8) } == true,
                            label, "key \(Array(key.unicodeScalars)) did not round-trip byte-exactly")
                    }
                    let all = try await instance.keys().map { Array($0.utf8) }
                    let expected = keys.filter { Array($0.utf8) != Array("e\u{301}".utf8) }.map { Array($0.utf8) }
                    try expect(Set(all) == Set(expected) && all.count == expected.count, label, "keys() aliased keys")
                }
            } catch {
                await replay.close()
                throw error
            }
            await replay.close()

        case .keysFilterByRegex:
            for key in ["user.1", "user.2", "admin.1", "usera"] {
                _ = try await eventbase.put(key, ["k": .string(key)])
            }
            let users = try await eventbase.keys("^user\\.")
            try expect(users == ["user.1", "user.2"], label, "keys(^user\\.) returned \(users)")
            try expect(try await eventbase.keys("1$") == ["admin.1", "user.1"], label, "keys(1$) was wrong")
            do {
                _ = try await eventbase.keys("(")
                throw ConformanceFailure(check: label, message: "an invalid pattern was accepted")
            } catch let error as EventbaseError {
                try expect(error.code == .invalidQuery, label, "an invalid pattern threw \(error.code)")
            }

        case .subscribeWithRegexEqualityAndPlainValues:
            let regexHits = Recorder()
            let eqHits = Recorder()
            let plainHits = Recorder()
            let a = try await eventbase.subscribe(["name": ["$regex": "^Jo"]]) { key, _, _, _ in regexHits.append(key) }
            let b = try await eventbase.subscribe(["age": ["$eq": 30]]) { key, _, _, _ in eqHits.append(key) }
            let c = try await eventbase.subscribe(["type": "user"]) { key, _, _, _ in plainHits.append(key) }
            _ = try await eventbase.put("john", ["name": "John", "age": 30, "type": "user"])
            _ = try await eventbase.put("ann", ["name": "Ann", "age": 30, "type": "admin"])
            _ = try await eventbase.put("joe", ["name": "Joe", "age": 40, "type": "user"])
            try expect(regexHits.values == ["john", "joe"], label, "$regex subscription saw \(regexHits.values)")
            try expect(eqHits.values == ["john", "ann"], label, "$eq subscription saw \(eqHits.values)")
            try expect(plainHits.values == ["john", "joe"], label, "plain-value subscription saw \(plainHits.values)")
            try expect(
                eventbase.activeSubscriptionCount == 3, label,
                "active subscriptions: \(eventbase.activeSubscriptionCount)")
            for subscription in [a, b, c] { subscription.cancel() }
            try expect(eventbase.activeSubscriptionCount == 0, label, "cancelled subscriptions are still counted")

        case .subscriptionsLearnWhenRecordsLeave:
            let kinds = Recorder()
            let subscription = try await eventbase.subscribe(["age": ["$gte": 18]]) { key, data, _, change in
                kinds.append("\(change.kind.rawValue):\(key):\(data == nil ? "nil" : "data")")
            }
            _ = try await eventbase.put("k", ["age": 20])
            _ = try await eventbase.put("k", ["age": 21])
            _ = try await eventbase.put("k", ["age": 10])
            _ = try await eventbase.put("k", ["age": 30])
            _ = try await eventbase.delete("k")
            subscription.cancel()
            let expected = ["entered:k:data", "updated:k:data", "left:k:data", "entered:k:data", "left:k:nil"]
            try expect(kinds.values == expected, label, "saw \(kinds.values), expected \(expected)")

        case .cancelledSubscriptionsStopBeingCalled:
            let hits = Recorder()
            let subscription = try await eventbase.subscribe([:]) { key, _, _, _ in hits.append(key) }
            _ = try await eventbase.put("one", ["n": 1])
            subscription.cancel()
            subscription.cancel()
            _ = try await eventbase.put("two", ["n": 2])
            try expect(hits.values == ["one"], label, "a cancelled subscription was called: \(hits.values)")

        case .throwingHandlersNeverStopReplication:
            struct Boom: Error {}
            let after = Recorder()
            _ = try await eventbase.subscribe([:]) { _, _, _, _ in throw Boom() }
            _ = try await eventbase.subscribe([:]) { key, _, _, _ in after.append(key) }
            _ = try await eventbase.put("one", ["n": 1])
            _ = try await eventbase.put("two", ["n": 2])
            try expect(after.values == ["one", "two"], label, "a throwing handler disturbed others: \(after.values)")
            try expect(try await eventbase.get("two") != nil, label, "replication stopped after a handler threw")

        case .changeSequencesYieldLiveChanges:
            let changes = eventbase.changes(matching: ["type": "user"])
            _ = try await eventbase.put("x", ["type": "other"])
            _ = try await eventbase.put("u1", ["type": "user"])
            _ = try await eventbase.delete("u1")
            let seen = try await withDeadline(timeout, clock: ContinuousClock(), label) {
                var seen: [String] = []
                for try await change in changes {
                    seen.append("\(change.kind.rawValue):\(change.key)")
                    if seen.count == 2 { break }
                }
                return seen
            }
            try expect(seen == ["entered:u1", "left:u1"], label, "changes(matching:) yielded \(seen)")
            let invalid = eventbase.changes(matching: ["a": ["$nope": 1]])
            do {
                for try await _ in invalid {}
                throw ConformanceFailure(check: label, message: "an invalid query's sequence did not throw")
            } catch let error as EventbaseError {
                try expect(error.code == .invalidQuery, label, "an invalid query's sequence threw \(error.code)")
            }

        case .liveQueriesStartWithExistingRecords:
            _ = try await eventbase.put("a", ["group": 1])
            _ = try await eventbase.put("b", ["group": 2])
            let live = eventbase.liveQuery(["group": 1])
            _ = try await eventbase.put("c", ["group": 1])
            let seen = try await withDeadline(timeout, clock: ContinuousClock(), label) {
                var seen: [String] = []
                for try await event in live {
                    switch event {
                    case .existing(let record): seen.append("existing:\(record.key)")
                    case .caughtUp: seen.append("caughtUp")
                    case .change(let change): seen.append("\(change.kind.rawValue):\(change.key)")
                    }
                    if seen.count == 3 { break }
                }
                return seen
            }
            try expect(seen == ["existing:a", "caughtUp", "entered:c"], label, "liveQuery yielded \(seen)")

        case .queryOperatorsSortLimitOffsetProject:
            let people: [(String, JSONValue)] = [
                ("p1", ["name": "Ann", "age": 31, "city": "Oslo"]),
                ("p2", ["name": "Bob", "age": 25, "city": "Rome"]),
                ("p3", ["name": "Cid", "age": 31, "city": "Bergen"]),
                ("p4", ["name": "Dee", "age": 19]),
                ("p5", ["name": "Eve", "age": 16, "city": "Oslo"]),
            ]
            for (key, data) in people { _ = try await eventbase.put(key, data) }
            let adults = try await eventbase.query(
                ["age": ["$gte": 18]],
                options: QueryOptions(sort: ["age": .descending, "name": .ascending], project: ["name", "age"]))
            let expected: [JSONValue] = [
                ["name": "Ann", "age": 31], ["name": "Cid", "age": 31], ["name": "Bob", "age": 25],
                ["name": "Dee", "age": 19],
            ]
            try expect(adults == expected, label, "sorted query returned \(adults)")
            let page = try await eventbase.query(
                ["age": ["$gte": 18]], options: QueryOptions(sort: ["name": -1], limit: 2, offset: 1, project: ["name"])
            )
            try expect(page == [["name": "Cid"], ["name": "Bob"]], label, "limit/offset returned \(page)")
            let bySortMissingFirst = try await eventbase.query(
                [:], options: QueryOptions(sort: ["city": 1], project: ["name"]))
            try expect(bySortMissingFirst.first == ["name": "Dee"], label, "a missing sort field did not sort first")
            let or = try await eventbase.query(
                ["$or": [["city": "Rome"], ["age": ["$lt": 18]]]], options: QueryOptions(sort: ["name": 1]))
            try expect(or.compactMap { $0["name"]?.stringValue } == ["Bob", "Eve"], label, "$or returned \(or)")
            let records = try await eventbase.records(
                matching: ["city": "Oslo"], options: QueryOptions(sort: ["name": 1]))
            try expect(
                records.map(\.key) == ["p1", "p5"] && records.allSatisfy { $0.meta.changes == 1 }, label,
                "records(matching:) was wrong")

        case .countIsExact:
            for index in 0..<25 { _ = try await eventbase.put("k\(index)", ["even": .bool(index % 2 == 0)]) }
            try expect(try await eventbase.count() == 25, label, "count() was wrong")
            try expect(try await eventbase.count(["even": true]) == 13, label, "count(even) was wrong")
            _ = try await eventbase.delete("k0")
            try expect(try await eventbase.count(["even": true]) == 12, label, "count after delete was wrong")

        case .invalidQueriesAreTypedErrors:
            for query: JSONValue in [["a": ["$bogus": 1]], ["a": ["$regex": "("]], ["a": ["$in": 3]], "text"] {
                do {
                    _ = try await eventbase.query(query)
                    throw ConformanceFailure(check: label, message: "query \(query) was accepted")
                } catch let error as EventbaseError {
                    try expect(error.code == .invalidQuery, label, "query \(query) threw \(error.code)")
                }
            }
            do {
                _ = try await eventbase.subscribe(["a": ["$bogus": 1]]) { _, _, _, _ in }
                throw ConformanceFailure(check: label, message: "an invalid subscription was accepted")
            } catch let error as EventbaseError {
                try expect(error.code == .invalidQuery, label, "an invalid subscription threw \(error.code)")
            }

        case .metaIsIdenticalOnAReplicaReplayingAfterPurges:
            for value in 1...4 { _ = try await eventbase.put("k", ["v": .number(Double(value))]) }
            _ = try await eventbase.put("other", ["v": 0])
            let live = try await eventbase.get("k")
            // Wait until the background purge has removed older puts, then replay from scratch.
            let fresh = try await open(stream, "fresh-\(UUID().uuidString)")
            let replayed = try await fresh.get("k")
            await fresh.close()
            try expect(
                live?.meta.changes == 4, label,
                "the live replica counted \(String(describing: live?.meta.changes)) changes")
            try expect(
                replayed == live, label,
                "a fresh replica computed \(String(describing: replayed?.meta)), live has \(String(describing: live?.meta))"
            )

        case .concurrentWritersEachGetTheirOwnRecord:
            let other = try await open(stream, "other")
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<20 {
                        let target = index.isMultiple(of: 2) ? eventbase : other
                        group.addTask {
                            let key = "w\(index)"
                            let record = try await target.put(key, ["index": .number(Double(index))])
                            try expect(
                                record.key == key && record.data["index"] == .number(Double(index)), label,
                                "a writer got another's record")
                            try expect(try await target.get(key) != nil, label, "a writer could not read its own write")
                        }
                    }
                    try await group.waitForAll()
                }
            } catch {
                await other.close()
                throw error
            }
            await other.close()

        case .optimisticConcurrencyRejectsStaleWrites:
            let created = try await eventbase.put("k", ["v": 1], expectedRevision: nil)
            let updated = try await eventbase.put("k", ["v": 2], expectedRevision: created.meta.revision)
            try expect(updated.meta.changes == 2, label, "a conditional put did not count")
            for attempt in [created.meta.revision, 0] as [UInt64?] {
                do {
                    _ = try await eventbase.put("k", ["v": 3], expectedRevision: attempt == 0 ? nil : attempt)
                    throw ConformanceFailure(check: label, message: "a stale conditional put was accepted")
                } catch let error as EventbaseError {
                    try expect(error.code == .conflict, label, "a stale conditional put threw \(error.code)")
                }
            }

        case .typedCodableRoundTrip:
            struct User: Codable, Sendable, Equatable {
                var name: String
                var age: Int
                var tags: [String]
            }
            let user = User(name: "Ann", age: 31, tags: ["a"])
            _ = try await eventbase.put("u", user)
            let found = try await eventbase.get("u", as: User.self)
            try expect(found?.data == user, label, "a typed get returned \(String(describing: found?.data))")
            let users = try await eventbase.query(["age": ["$gt": 30]], as: User.self)
            try expect(users == [user], label, "a typed query returned \(users)")
            do {
                struct Other: Decodable, Sendable { var missing: Int }
                _ = try await eventbase.get("u", as: Other.self)
                throw ConformanceFailure(check: label, message: "decoding into the wrong type succeeded")
            } catch let error as EventbaseError {
                try expect(error.code == .decodingFailed, label, "a failed typed get threw \(error.code)")
            }

        case .everyOperationAfterCloseThrowsClosed:
            _ = try await eventbase.put("k", ["v": 1])
            await eventbase.close()
            await eventbase.close()
            let operations: [(String, @Sendable () async throws -> Void)] = [
                ("get", { _ = try await eventbase.get("k") }),
                ("put", { _ = try await eventbase.put("k", ["v": 2]) }),
                ("insert", { _ = try await eventbase.insert(["v": 2]) }),
                ("delete", { _ = try await eventbase.delete("k") }),
                ("keys", { _ = try await eventbase.keys() }),
                ("query", { _ = try await eventbase.query([:]) }),
                ("count", { _ = try await eventbase.count() }),
                ("subscribe", { _ = try await eventbase.subscribe([:]) { _, _, _, _ in } }),
                ("changes", { for try await _ in eventbase.changes(matching: [:]) {} }),
                ("deleteStream", { try await eventbase.deleteStream() }),
            ]
            for (name, operation) in operations {
                try await expectError(.closed, label, "\(name) after close", operation)
            }
            let cleanup = try await open(stream, "cleanup")
            try await cleanup.deleteStream()

        case .deleteStreamRemovesTheStreamAndLocalData:
            _ = try await eventbase.put("k", ["v": 1])
            let other = try await open(stream, "other")
            let otherChanges = other.changes(matching: [:])
            try await eventbase.deleteStream()
            try await expectError(.closed, label, "get after deleteStream") { try await eventbase.get("k") }
            do {
                try await withDeadline(timeout, clock: ContinuousClock(), "\(label): the other instance stops") {
                    for try await _ in otherChanges {}
                }
                throw ConformanceFailure(check: label, message: "the other instance's changes ended without an error")
            } catch let error as EventbaseError where error.code == .streamDeleted {
                // The other instance learnt that the stream is gone.
            }
            try await expectError(.streamDeleted, label, "a write on the other instance") {
                try await other.put("k", ["v": 2])
            }
            await other.close()
            let reopened = try await open(stream, "main")
            let found = try await reopened.get("k")
            try? await reopened.deleteStream()
            await reopened.close()
            try expect(found == nil, label, "data survived deleteStream")

        case .idempotentPutsAreStoredOnce, .idempotentInsertsReturnTheSameKey, .idempotentDeletesAreStoredOnce,
            .invalidIdempotencyKeysAreRefused, .deletingAMissingKeyWritesNothing,
            .readsAtLatestSeeOtherInstancesWrites, .readsAtAnUnreachedRevisionTimeOut,
            .liveQueriesAreBoundedByTheChangeBuffer, .conditionsSeeDeletesInEveryRetentionMode,
            .conditionalDeletesAndUpdates:
            try await writeContract(check, eventbase, stream)
        }
    }
}

/// Collects strings from handlers, safely across tasks.
final class Recorder: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ value: String) { storage.withLock { $0.append(value) } }
    var values: [String] { storage.withLock { $0 } }
}
