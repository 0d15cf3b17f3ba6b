import EventbaseTestKit
import Foundation
import Testing

@testable import EventbaseCore

@Suite struct ReplicaFoldTests {
    let t1 = Date(timeIntervalSince1970: 1_700_000_000)
    let t2 = Date(timeIntervalSince1970: 1_700_000_100)

    func entry(_ sequence: UInt64, _ time: Date, _ event: Event) -> LogEntry {
        LogEntry(sequence: sequence, time: time, event: event)
    }

    @Test func aFirstPutCreatesTheRecordWithItsKeyAsID() throws {
        let event = Event(kind: .put, key: "k", data: ["name": "Ann"], timestamp: 0)
        let record = try #require(Replica.fold(old: nil, event: event, entry: entry(5, t1, event)))
        #expect(record.data == ["name": "Ann", "id": "k"])
        #expect(record.meta == Meta(dateCreated: t1, dateModified: t1, changes: 1, revision: 5))
    }

    @Test func aPutReplacesTheDocumentInsteadOfMergingIt() throws {
        let first = Event(kind: .put, key: "k", data: ["a": 1, "b": 2], timestamp: 0)
        let old = Replica.fold(old: nil, event: first, entry: entry(1, t1, first))
        let second = Event(kind: .put, key: "k", data: ["a": 3], timestamp: 0)
        let record = try #require(Replica.fold(old: old, event: second, entry: entry(2, t2, second)))
        #expect(record.data == ["a": 3, "id": "k"])
        #expect(record.meta == Meta(dateCreated: t1, dateModified: t2, changes: 2, revision: 2))
    }

    @Test func carriedMetaWinsSoReplicasThatMissedPurgedEventsAgree() throws {
        let event = Event(
            kind: .put, key: "k", data: ["a": 1], timestamp: 0, changes: 7, dateCreated: t1.millisecondsSince1970)
        let fresh = try #require(Replica.fold(old: nil, event: event, entry: entry(9, t2, event)))
        let stale = Record<JSONValue>(
            key: "k", data: ["a": 0], meta: Meta(dateCreated: t1, dateModified: t1, changes: 3, revision: 4))
        let live = try #require(Replica.fold(old: stale, event: event, entry: entry(9, t2, event)))
        #expect(fresh.meta == live.meta)
        #expect(fresh.meta == Meta(dateCreated: t1, dateModified: t2, changes: 7, revision: 9))
    }

    @Test func aDeleteRemovesTheRecord() {
        let event = Event(kind: .delete, key: "k", timestamp: 0)
        #expect(Replica.fold(old: nil, event: event, entry: entry(1, t1, event)) == nil)
    }

    @Test func liveQueryChangeKindsFollowMatchingBeforeAndAfter() throws {
        let query = try Query(["age": ["$gte": 18]])
        let put = Event(kind: .put, key: "k", data: ["age": 20], timestamp: 0)
        let adult = Record<JSONValue>(
            key: "k", data: ["age": 20], meta: Meta(dateCreated: t1, dateModified: t1, changes: 1, revision: 1))
        let child = Record<JSONValue>(key: "k", data: ["age": 10], meta: adult.meta)
        let logEntry = entry(2, t2, put)
        #expect(Replica.changeKind(for: query, known: nil, old: nil, new: adult) == .entered)
        #expect(Replica.changeKind(for: query, known: nil, old: adult, new: adult) == .updated)
        #expect(Replica.changeKind(for: query, known: nil, old: adult, new: child) == .left)
        #expect(Replica.changeKind(for: query, known: nil, old: adult, new: nil) == .left)
        #expect(Replica.changeKind(for: query, known: nil, old: child, new: child) == nil)
        // What the subscription table knows is taken as it is.
        #expect(Replica.changeKind(for: query, known: (true, false), old: child, new: child) == .left)

        // Subscribers that an event moves alike share one change; each kind is made once.
        let younger = try Query(["age": ["$lt": 18]])
        let sink = Replica.Sink.handler { _, _, _, _ in }
        let candidates =
            (0..<3).map { SubscriberTable.Candidate(id: $0, subscriber: .init(query: query, sink: sink), known: nil) }
            + [SubscriberTable.Candidate(id: 3, subscriber: .init(query: younger, sink: sink), known: nil)]
        var deliveries = Replica.Deliveries()
        deliveries.add(candidates, key: "k", old: child, new: adult, entry: logEntry)
        #expect(deliveries.changes.map(\.kind) == [.entered, .left])
        #expect(deliveries.changes.allSatisfy { $0.oldData == child.data && $0.data == adult.data && $0.key == "k" })
        #expect(deliveries.items.map(\.slot) == [0, 0, 0, 1])
        #expect(deliveries.items.map(\.id) == [0, 1, 2, 3])
        #expect(deliveries.items.allSatisfy { $0.subscriber != nil })
    }

    /// The batch overlay answers as a plain dictionary of the batch's writes would, whatever mix of
    /// new and repeated keys (and filter collisions) the batch has, and whether it searches the
    /// writes (a batch announced as large) or builds its table (searches past their budget).
    @Test(arguments: [2, 40, 5_000] as [Int], [1, 3_000] as [Int])
    func batchOverlayAnswersAsADictionaryOfTheBatchsWrites(distinctKeys: Int, capacity: Int) {
        var generator = SeededGenerator(seed: UInt64(distinctKeys))
        var overlay = Replica.BatchOverlay(capacity: capacity)
        var expected: [ExactKey: Record<JSONValue>?] = [:]
        var changes: [StateBatch.Write] = []
        let meta = Meta(dateCreated: t1, dateModified: t1, changes: 1, revision: 1)
        for step in 0..<3_000 {
            // Keys that are canonically equivalent but not byte-equal stay apart.
            let key =
                Bool.random(using: &generator) && step % 7 == 0
                ? "e\u{301}" : "k\(Int.random(in: 0..<distinctKeys, using: &generator))"
            let pending = overlay.pending(key, written: changes)
            #expect(
                pending.map { changes[$0].record?.data } == expected[ExactKey(key)].map { $0?.data },
                "step \(step), key \(key)")
            let record: Record<JSONValue>? =
                step % 5 == 0 ? nil : Record(key: key, data: ["step": .number(Double(step))], meta: meta)
            overlay.wrote(key, at: changes.count)
            expected[ExactKey(key)] = .some(record)
            changes.append(StateBatch.Write(key: key, record: record))
        }
        #expect(
            overlay.pending("é", written: changes).map { changes[$0].record?.data }
                == expected[ExactKey("é")].map { $0?.data })
    }

    @Test func metaEncodesDatesAsISO8601WithMilliseconds() throws {
        let meta = Meta(
            dateCreated: Date(timeIntervalSince1970: 1_700_000_000.123),
            dateModified: Date(timeIntervalSince1970: 1_700_000_001),
            changes: 2, revision: 8)
        #expect(meta.jsonValue["dateCreated"] == "2023-11-14T22:13:20.123Z")
        #expect(meta.jsonValue["dateModified"] == "2023-11-14T22:13:21.000Z")
        let decoded = try JSONValueDecoder().decode(Meta.self, from: try JSONValueEncoder().encode(meta))
        #expect(decoded.changes == 2 && decoded.revision == 8)
        #expect(decoded.dateCreated.millisecondsSince1970 == 1_700_000_000_123)
    }
}
