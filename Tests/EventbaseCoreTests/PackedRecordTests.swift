import EventbaseTestKit
import Foundation
import Testing

@testable import EventbaseCore

@Suite struct PackedRecordTests {
    let meta = Meta(
        dateCreated: Date(timeIntervalSince1970: 1_700_000_000.123),
        dateModified: Date(timeIntervalSince1970: 1_700_000_100.5),
        changes: 7, revision: 42)

    func roundTrip(_ value: JSONValue) -> JSONValue {
        PackedRecord(data: value, meta: meta).data
    }

    @Test func scalarsRoundTrip() {
        for value: JSONValue in [.null, true, false, "", "a", "fifteen bytes!!", "sixteen bytes!!!", "é😀\u{0}\n"] {
            #expect(roundTrip(value) == value)
        }
    }

    @Test func numbersRoundTripBitForBit() {
        let numbers: [Double] = [
            0, -0.0, 1, -1, 63, 64, -64, -65, 127, 128, 1e15, 9_007_199_254_740_992, -9_007_199_254_740_992,
            9_007_199_254_740_994, 0.1, -2.5, 1e308, -1e-308, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
            Double(Int64.max), Double(Int64.min),
        ]
        for number in numbers {
            guard case .number(let back) = roundTrip(.number(number)) else {
                Issue.record("\(number) did not come back as a number")
                continue
            }
            #expect(back.bitPattern == number.bitPattern, "\(number)")
        }
    }

    @Test func smallIntegersTakeTwoBytes() {
        #expect(PackedRecord(data: 42, meta: meta).packedByteCount == 2)
        #expect(PackedRecord(data: 0.5, meta: meta).packedByteCount == 9)
    }

    @Test func keyOrderAndStringBytesAreKept() {
        let nfd = "e\u{301}"
        let nfc = "\u{e9}"
        let value: JSONValue = ["z": 1, "a": [.string(nfd), .string(nfc)], "m": ["y": nil, "b": [[], [:]]]]
        let back = roundTrip(value)
        #expect(back == value)
        #expect(back.jsonBytes() == value.jsonBytes())
        guard case .array(let strings) = back["a"] else {
            Issue.record("no array")
            return
        }
        #expect(strings.map { Array($0.stringValue!.utf8) } == [Array(nfd.utf8), Array(nfc.utf8)])
    }

    @Test func largeObjectsKeepFastLookups() {
        var object = JSONObject()
        for index in 0..<100 { object["key\(index)"] = .number(Double(index)) }
        guard case .object(let back) = roundTrip(.object(object)) else {
            Issue.record("no object")
            return
        }
        #expect(back.index != nil)
        #expect(back["key73"] == 73)
        #expect(back == object)
    }

    @Test func metaAndKeyComeBack() {
        let record = Record<JSONValue>(key: "k1", data: ["a": 1, "id": "k1"], meta: meta)
        let packed = PackedRecord(record)
        #expect(packed.meta == meta)
        #expect(packed.record(key: "k1") == record)
    }

    @Test func aTypicalDocumentPacksSmallerThanItsJSON() {
        let document: JSONValue = [
            "name": "user 123456", "age": 36, "city": "Oslo", "email": "user123456@example.com", "active": true,
            "id": "k123456",
        ]
        let packed = PackedRecord(data: document, meta: meta)
        #expect(packed.packedByteCount < document.jsonBytes().count)
    }

    @Test func matchingOnTheQueriedFieldsAgreesWithMatchingTheWholeDocument() throws {
        let queries: [JSONValue] = [
            [:], ["a": 1], ["a": ["$gt": 0, "$lt": 3]], ["b.c": "x"], ["b.c": ["$exists": false]],
            ["missing": ["$exists": false]], ["missing": nil], ["a": ["$ne": 2]], ["tags": "t1"],
            ["tags": ["$all": ["t1", "t2"]]], ["$or": [["a": 1], ["b.c": "y"]]], ["$nor": [["a": 1]]],
            ["$and": [["a": ["$in": [1, 2]]], ["tags": ["$nin": ["t3"]]]]], ["name": ["$regex": "^n[0-9]"]],
            ["name": ["$sw": "n1"]], ["a": ["$not": ["$gte": 2]]], ["b": ["c": "x"]], ["id": "k"],
        ]
        let parsed = try queries.map { try Query($0) }
        var generator = SeededGenerator(seed: 21)
        for index in 0..<300 {
            var object = JSONObject()
            object["id"] = "k"
            if Bool.random(using: &generator) {
                object["a"] = .number(Double(Int.random(in: 0..<4, using: &generator)))
            }
            if Bool.random(using: &generator) {
                object["b"] = Bool.random(using: &generator) ? ["c": Bool.random(using: &generator) ? "x" : "y"] : "c"
            }
            if Bool.random(using: &generator) {
                object["tags"] = .array(
                    (0..<Int.random(in: 0..<4, using: &generator)).map { _ in
                        .string("t\(Int.random(in: 1...3, using: &generator))")
                    })
            }
            object["name"] = .string("n\(index)")
            object["noise"] = RandomJSON.value(using: &generator)
            let document = JSONValue.object(object)
            let packed = PackedRecord(data: document, meta: meta)
            for query in parsed {
                #expect(packed.matches(query) == query.matches(document), "\(query) on \(document.jsonString())")
            }
        }
    }

    @Test func packedBytesReadBackThroughTheValidator() throws {
        var generator = SeededGenerator(seed: 31)
        for _ in 0..<300 {
            let value = RandomJSON.value(using: &generator)
            let packed = PackedRecord(data: value, meta: meta)
            let copy = try packed.withPackedBytes {
                try PackedRecord(meta: meta, validatingPackedBytes: $0, maxDepth: 128)
            }
            #expect(copy.data == value)
            #expect(copy.meta == meta)
        }
    }

    @Test func mutatedPackedBytesAreRejectedOrReadBackNeverACrash() {
        var generator = SeededGenerator(seed: 32)
        var rejected = 0
        for _ in 0..<5_000 {
            let value: JSONValue = ["a": RandomJSON.value(using: &generator), "b": [1, "two", nil, 4.5]]
            var bytes = PackedRecord(data: value, meta: meta).withPackedBytes { Array($0) }
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let position = Int.random(in: 0..<bytes.count, using: &generator)
                bytes[position] = UInt8.random(in: 0...255, using: &generator)
            }
            do {
                let record = try bytes.withUnsafeBytes {
                    try PackedRecord(meta: meta, validatingPackedBytes: $0, maxDepth: 16)
                }
                // Whatever was accepted decodes, re-encodes to the same bytes and skips cleanly.
                let data = record.data
                #expect(PackedRecord(data: data, meta: meta).data == data)
                _ = record.matches(try Query(["a": 1]))
            } catch let error as EventbaseError {
                #expect(error.code == .corruptData)
                rejected += 1
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        #expect(rejected > 1_000)
    }

    /// The ASCII check reads eight bytes at a time: a byte that is not ASCII is found at every position
    /// of every length (in the words and in the tail), and then the bytes are validated as UTF-8.
    @Test func utf8ValidationFindsNonASCIIAtEveryPosition() {
        func isValid(_ bytes: [UInt8]) -> Bool {
            bytes.withUnsafeBufferPointer { UTF8Validation.isValid($0) }
        }
        #expect(isValid([]))
        for length in 1...33 {
            let ascii = [UInt8](repeating: UInt8(ascii: "a"), count: length)
            #expect(isValid(ascii))
            for position in 0..<length {
                var lone = ascii
                lone[position] = 0x80  // a continuation byte alone
                #expect(!isValid(lone), "length \(length), position \(position)")
                var highest = ascii
                highest[position] = 0xFF  // never in UTF-8
                #expect(!isValid(highest), "length \(length), position \(position)")
                guard position + 1 < length else { continue }
                var accented = ascii
                accented[position] = 0xC3  // é
                accented[position + 1] = 0xA9
                #expect(isValid(accented), "length \(length), position \(position)")
            }
        }
    }

    @Test func tooDeepPackedBytesAreRejected() throws {
        var value: JSONValue = 1
        for _ in 0..<20 { value = [value] }
        let packed = PackedRecord(data: value, meta: meta)
        #expect(throws: EventbaseError.self) {
            try packed.withPackedBytes { try PackedRecord(meta: meta, validatingPackedBytes: $0, maxDepth: 10) }
        }
        let accepted = try packed.withPackedBytes {
            try PackedRecord(meta: meta, validatingPackedBytes: $0, maxDepth: 20)
        }
        #expect(accepted.data == value)
    }

    @Test(arguments: [11, 12, 13] as [UInt64])
    func randomValuesRoundTrip(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<500 {
            let value = RandomJSON.value(using: &generator)
            let back = roundTrip(value)
            #expect(back == value)
            #expect(back.jsonBytes() == value.jsonBytes())
        }
    }
}
