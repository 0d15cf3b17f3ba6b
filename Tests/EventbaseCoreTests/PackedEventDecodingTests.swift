import EventbaseTestKit
import Foundation
import Logging
import Testing

@testable import EventbaseCore

/// Events read on the fast path (their documents packed without a tree) must be exactly what the
/// general path reads: the same document, key order included, the same record once stored, and the
/// same error for anything malformed.
@Suite struct PackedEventDecodingTests {
    /// The event the general path reads: the payload parsed into a tree, the envelope picked apart.
    static func general(_ payload: [UInt8], limits: JSONLimits = .default) throws -> (data: JSONValue?, key: String) {
        let value = try JSONValue(jsonBytes: payload, limits: limits)
        return (value["data"], try #require(value["id"]?.stringValue))
    }

    static func payload(key: String, data: String, timestamp: String = "1700000000000") -> [UInt8] {
        Array(#"{"type":"PUT","id":"\#(key)","data":\#(data),"timestamp":\#(timestamp)}"#.utf8)
    }

    /// The record a replica stores for `event`, packed from its decoded document (the general fold).
    static func generalRecord(_ data: JSONValue, key: String, meta: Meta) -> PackedRecord {
        var document = data
        if case .object(var object) = document {
            object["id"] = .string(key)
            document = .object(object)
        }
        return PackedRecord(data: document, meta: meta)
    }

    static let meta = Meta(
        dateCreated: Date(millisecondsSince1970: 1), dateModified: Date(millisecondsSince1970: 2), changes: 3,
        revision: 4)

    static func bytes(_ record: PackedRecord) -> [UInt8] { record.withPackedBytes { Array($0) } }

    @Test(arguments: [11, 12, 13, 14] as [UInt64])
    func randomDocumentsDecodeAndPackAsTheGeneralPathDoes(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        var packedCount = 0
        for round in 0..<400 {
            var data = RandomJSON.value(using: &generator)
            if round % 2 == 0, case .object(var object) = data {
                // Objects are what puts mostly hold; drop any top-level id so both folds append one.
                object["id"] = nil
                data = .object(object)
            }
            let payload = Self.payload(key: "k\(round)", data: data.jsonString())
            let event = try EventCodec.decode(subject: nil, stream: "s", payload: payload)
            let expected = try Self.general(payload)
            #expect(event.data?.jsonString() == expected.data?.jsonString(), "\(data.jsonString())")
            #expect(event.key == expected.key)
            #expect(event.timestamp == 1_700_000_000_000)
            guard let document = event.packedData else { continue }
            packedCount += 1
            #expect(document.value.jsonString() == expected.data?.jsonString())
            let hasID = expected.data?.objectValue?["id"] != nil
            #expect(document.hasIDMember == hasID)
            if !hasID {
                let record = PackedRecord(document: document, id: event.key, meta: Self.meta)
                let general = Self.generalRecord(try #require(expected.data), key: event.key, meta: Self.meta)
                #expect(Self.bytes(record) == Self.bytes(general), "\(data.jsonString())")
                #expect(record.meta == Self.meta)
            }
        }
        // Most random documents have ASCII keys without escapes: the fast path must take them.
        #expect(packedCount > 100)
    }

    /// Documents the fast path hands to the general one (or packs with care), each read the same.
    @Test(arguments: [
        #"{"a":1,"a":2}"#,  // a duplicate key: first position, last value
        #"{"a":{"x":1,"y":2,"x":3},"b":[1,{"c":1,"c":2}]}"#,
        #"{"é":1,"e\u0301":2}"#,  // non-ASCII keys (canonically equal in Swift)
        #"{"\u0061":1,"a":2}"#,  // an escaped key
        #"{"id":"mine","b":2}"#,  // a top-level id, replaced in place by the record's
        #"{"b":{"id":1}}"#,  // a nested id is just a member
        #"{"s":"tab\tquote\"slash\\\/ \u00e9 \ud83d\ude00 \ud800"}"#,  // escapes in a value
        #"{"s":"é😀"}"#, #"[1,-0.0,1e300,5e-324,9007199254740993,-9007199254740992,0.1]"#, #""plain""#,
        #"{}"#, #"[]"#, #"{"a":{},"b":[],"c":[[],[{}]]}"#, #"null"#, #"true"#, #"12.5"#,
    ])
    func awkwardDocumentsReadAsTheGeneralPathReadsThem(data: String) throws {
        let payload = Self.payload(key: "k", data: data)
        let event = try EventCodec.decode(subject: "s.aw==-put", stream: "s", payload: payload)
        let expected = try Self.general(payload)
        #expect(event.data?.jsonString() == expected.data?.jsonString())
        #expect(event.data == expected.data)
        if let document = event.packedData, !document.hasIDMember {
            let record = PackedRecord(document: document, id: "k", meta: Self.meta)
            #expect(
                Self.bytes(record)
                    == Self.bytes(Self.generalRecord(try #require(expected.data), key: "k", meta: Self.meta)))
        }
    }

    @Test func largeArraysWidenTheirCounts() throws {
        let elements = (0..<20_000).map(String.init).joined(separator: ",")
        let members = (0..<JSONObject.indexThreshold - 1).map { #""k\#($0)":\#($0)"# }.joined(separator: ",")
        let data = "{\(members),\"list\":[\(elements)]}"
        let payload = Self.payload(key: "big", data: data)
        let event = try EventCodec.decode(subject: nil, stream: "s", payload: payload)
        let document = try #require(event.packedData)
        let expected = try #require(try Self.general(payload).data)
        #expect(document.value.jsonString() == expected.jsonString())
        let record = PackedRecord(document: document, id: "big", meta: Self.meta)
        #expect(Self.bytes(record) == Self.bytes(Self.generalRecord(expected, key: "big", meta: Self.meta)))
    }

    /// Keys are compared with each earlier key of their object on the fast path, so a large object
    /// goes to the general path (which compares them by hash): a hostile payload of 100,000 keys
    /// stays linear, and reads the same.
    @Test func largeObjectsTakeTheGeneralPath() throws {
        let members = (0..<100_000).map { #""k\#($0)":\#($0)"# }.joined(separator: ",")
        let payload = Self.payload(key: "big", data: "{\(members),\"k5\":\"last\"}")
        let event = try EventCodec.decode(subject: nil, stream: "s", payload: payload)
        #expect(event.packedData == nil)
        let data = try #require(event.data?.objectValue)
        #expect(data.count == 100_000)
        #expect(data["k5"] == "last")
        #expect(data.keys.first == "k0")
    }

    /// Envelopes other than exactly the four known fields go the general way, and read the same.
    @Test(arguments: [
        #"{"type":"PUT","id":"k","data":{"a":1},"timestamp":5,"extra":true}"#,
        #"{"id":"k","timestamp":5.9,"data":{"a":1},"type":"PUT"}"#,
        #"{"type":"PUT","id":"k","data":{"a":1}}"#,
        #"{"type":"PUT","id":"k","data":{"a":1},"timestamp":null}"#,
        #"{"type":"PUT","type":"PUT","id":"k","data":{"a":1},"timestamp":5}"#,
        #"{"type":"DELETE","id":"k","timestamp":5,"data":{"a":1}}"#,
        #" { "type" : "PUT" , "id" : "k" , "data" : { "a" : [ 1 , 2 ] } , "timestamp" : 5 } "#,
        #"{"t\u0079pe":"PUT","id":"k","data":{"a":1},"timestamp":5}"#,
    ])
    func envelopesReadAsTheGeneralPathReadsThem(payload text: String) throws {
        let payload = Array(text.utf8)
        let event = try EventCodec.decode(subject: nil, stream: "s", payload: payload)
        let value = try JSONValue(jsonBytes: payload)
        #expect(event.kind.rawValue == value["type"]?.stringValue)
        #expect(event.key == "k")
        #expect(event.data?.jsonString() == (event.kind == .put ? value["data"]?.jsonString() : nil))
        let timestamp = value["timestamp"]?.doubleValue.map { Int64($0.rounded(.down)) } ?? 0
        #expect(event.timestamp == timestamp)
        #expect(event.extraFields["extra"] == value["extra"])
    }

    /// Malformed payloads and payloads past the limits fail as they do on the general path.
    @Test func malformedAndOversizedPayloadsFailTheSameWay() throws {
        let cases: [(String, JSONLimits)] = [
            (#"{"type":"PUT","id":"k","data":{"a":1,},"timestamp":5}"#, .default),
            (#"{"type":"PUT","id":"k","data":{"a":01},"timestamp":5}"#, .default),
            (#"{"type":"PUT","id":"k","data":{"a":"\u12"},"timestamp":5}"#, .default),
            (#"{"type":"PUT","id":"k","data":{"a":1},"timestamp":5} x"#, .default),
            (#"{"type":"PUT","id":"k","data":{"a":1},"timestamp":"5"}"#, .default),
            (#"{"type":"PATCH","id":"k","data":{},"timestamp":5}"#, .default),
            (#"{"type":"PUT","id":7,"data":{},"timestamp":5}"#, .default),
            (#"{"type":"PUT","id":"k","timestamp":5}"#, .default),
            (#"{"type":"PUT","id":"k","data":[[[1]]],"timestamp":5}"#, JSONLimits(maxDepth: 3)),
            (#"{"type":"PUT","id":"k","data":{"a":"abcdef"},"timestamp":5}"#, JSONLimits(maxStringBytes: 5)),
            (#"{"type":"PUT","id":"k","data":{"abcdefg":1},"timestamp":5}"#, JSONLimits(maxStringBytes: 6)),
            (#"{"type":"PUT","id":"k","data":[1,2,3,4,5],"timestamp":5}"#, JSONLimits(maxElements: 4)),
            (#"{"type":"PUT","id":"k","data":{"a":1},"timestamp":5}"#, JSONLimits(maxElements: 3)),
        ]
        for (text, limits) in cases {
            let payload = Array(text.utf8)
            var generalError: EventbaseError?
            do {
                _ = try JSONValue(jsonBytes: payload, limits: limits)
            } catch let error as EventbaseError {
                generalError = error
            }
            let entry = EventCodec.entry(
                sequence: 1, time: Date(), subject: "s.aw==-put", stream: "s", payload: payload, limits: limits)
            guard case .invalid(_, let reason, let kind) = entry.payload else {
                Issue.record("\(text) was read as an event")
                continue
            }
            if let generalError {
                #expect(reason == generalError.message, "\(text)")
                #expect(kind == (generalError.code == .limitExceeded ? .tooLarge : .notJSON), "\(text)")
            }
        }
        // At the depth limit both paths read the document.
        let deep = Array(#"{"type":"PUT","id":"k","data":[[1]],"timestamp":5}"#.utf8)
        let event = try EventCodec.decode(subject: nil, stream: "s", payload: deep, limits: JSONLimits(maxDepth: 3))
        #expect(event.data == [[1]])
        #expect(event.packedData != nil)
    }

    /// Events equal whether their documents are packed or decoded; setting `data` replaces the packed form.
    @Test func packedAndDecodedEventsAreEqual() throws {
        let payload = Self.payload(key: "k", data: #"{"b":1,"a":[true,null]}"#, timestamp: "9")
        let packed = try EventCodec.decode(subject: nil, stream: "s", payload: payload)
        #expect(packed.packedData != nil)
        let decoded = Event(kind: .put, key: "k", data: ["b": 1, "a": [true, .null]], timestamp: 9)
        #expect(packed == decoded)
        #expect(packed.hashValue == decoded.hashValue)
        var changed = packed
        changed.data = ["c": 2]
        #expect(changed.packedData == nil)
        #expect(changed.data == ["c": 2])
        #expect(EventCodec.encodePayload(packed) == EventCodec.encodePayload(decoded))
    }

    /// A replica stores a put read packed as it stores the same put decoded: the same bytes and meta,
    /// through repeated keys in one batch, deletes, a document with its own `id` and carried meta.
    @Test func aReplicaStoresPackedPutsAsItStoresDecodedOnes() throws {
        let payloads: [(subject: String, payload: String, changes: String?)] = [
            ("s.YQ==-put", #"{"type":"PUT","id":"a","data":{"n":1,"s":"x"},"timestamp":10}"#, nil),
            ("s.Yg==-put", #"{"type":"PUT","id":"b","data":{"id":"own","n":2},"timestamp":11}"#, nil),
            ("s.YQ==-put", #"{"type":"PUT","id":"a","data":{"n":3,"list":[1,{"k":"v"}]},"timestamp":12}"#, nil),
            ("s.Yw==-put", #"{"type":"PUT","id":"c","data":[1,2],"timestamp":13}"#, "7"),
            ("s.ZA==-delete", #"{"type":"DELETE","id":"d","timestamp":14}"#, nil),
            ("s.ZA==-put", #"{"type":"PUT","id":"d","data":"text","timestamp":15}"#, nil),
            ("s.YQ==-put", #"{"type":"PUT","id":"a","data":{"n":4},"timestamp":16}"#, nil),
        ]
        let time = Date(timeIntervalSince1970: 1_700_000_000)
        var packedEntries: [LogEntry] = []
        var decodedEntries: [LogEntry] = []
        for (index, message) in payloads.enumerated() {
            let entry = EventCodec.entry(
                sequence: UInt64(index + 1), time: time, subject: message.subject, stream: "s",
                payload: Array(message.payload.utf8), header: { $0 == EventCodec.changesHeader ? message.changes : nil }
            )
            var event = try #require(entry.event)
            #expect(event.kind == .delete || event.packedData != nil)
            packedEntries.append(entry)
            event.data = event.data  // the same document, decoded
            #expect(event.packedData == nil)
            decodedEntries.append(LogEntry(sequence: entry.sequence, time: time, event: event))
        }
        let packedStore = ReplicaIndexTests.RefusingStore()
        let decodedStore = ReplicaIndexTests.RefusingStore()
        let packedReplica = Replica(store: packedStore, streamName: "s", logger: Logger(label: "test"), onMessage: nil)
        let decodedReplica = Replica(
            store: decodedStore, streamName: "s", logger: Logger(label: "test"), onMessage: nil)
        // Two batches, so that a key is written again both within a batch and across them.
        try packedReplica.apply(LogBatch(entries: Array(packedEntries[..<5]), position: 5))
        try packedReplica.apply(LogBatch(entries: Array(packedEntries[5...]), position: 7))
        try decodedReplica.apply(LogBatch(entries: Array(decodedEntries[..<5]), position: 5))
        try decodedReplica.apply(LogBatch(entries: Array(decodedEntries[5...]), position: 7))
        #expect(packedStore.count == 4)
        for key in ["a", "b", "c", "d"] {
            let packed = try #require(packedStore.packedRecord(forKey: key))
            let decoded = try #require(decodedStore.packedRecord(forKey: key))
            #expect(Self.bytes(packed) == Self.bytes(decoded), "\(key)")
            #expect(packed.meta == decoded.meta, "\(key)")
        }
        #expect(packedStore.packedRecord(forKey: "a")?.meta.changes == 3)
        #expect(packedStore.packedRecord(forKey: "c")?.meta.changes == 7)
        #expect(packedStore.record(forKey: "a")?.data == ["n": 4, "id": "a"])
        #expect(packedStore.record(forKey: "b")?.data == ["id": "b", "n": 2])
        #expect(packedStore.record(forKey: "d")?.data == "text")
    }
}
