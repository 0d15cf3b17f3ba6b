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
        #expect(Replica.change(for: query, key: "k", old: nil, new: adult, entry: logEntry)?.kind == .entered)
        #expect(Replica.change(for: query, key: "k", old: adult, new: adult, entry: logEntry)?.kind == .updated)
        #expect(Replica.change(for: query, key: "k", old: adult, new: child, entry: logEntry)?.kind == .left)
        #expect(Replica.change(for: query, key: "k", old: adult, new: nil, entry: logEntry)?.kind == .left)
        #expect(Replica.change(for: query, key: "k", old: child, new: child, entry: logEntry) == nil)
        #expect(Replica.change(for: query, key: "k", old: adult, new: nil, entry: logEntry)?.oldData == adult.data)
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
