import EventbaseCore
import EventbaseTestKit
import Foundation
import PropertyBased
import Testing

/// Random keys round-trip byte-exactly through the wire codec and never alias another key.
@Suite struct KeyPropertyTests {
    static let keys = Gen<UInt32>.value().array(of: 1...24).map { RandomKeys.key(from: $0) }

    /// The subject and the payload give back the key's exact bytes.
    @Test func keysRoundTripThroughTheWireCodec() async {
        await propertyCheck(count: 500, input: Self.keys) { key in
            for kind in Event.Kind.allCases {
                let subject = EventCodec.subject(stream: "shop", key: key, kind: kind)
                let parsed = EventCodec.parseSubject(subject, stream: "shop")
                #expect(parsed.map { Array($0.key.utf8) } == Array(key.utf8))
                #expect(parsed?.kind == kind)
                #expect(subject.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "the subject must be printable ASCII")
                #expect(subject.split(separator: ".", omittingEmptySubsequences: false).count == 2)
                let event = Event(kind: kind, key: key, data: kind == .put ? ["k": .string(key)] : nil, timestamp: 1)
                let decoded = try EventCodec.decode(
                    subject: subject, stream: "shop", payload: EventCodec.encodePayload(event))
                #expect(Array(decoded.key.utf8) == Array(key.utf8))
                #expect(
                    decoded.data?["k"]?.stringValue.map { Array($0.utf8) } == (kind == .put ? Array(key.utf8) : nil))
            }
        }
    }

    /// Two keys share a subject only if they have the same bytes; NFC and NFD forms are two keys.
    @Test func distinctKeysNeverShareASubject() async {
        await propertyCheck(count: 500, input: Self.keys, Self.keys) { first, second in
            for (a, b) in [
                (first, second),
                (first.precomposedStringWithCanonicalMapping, first.decomposedStringWithCanonicalMapping),
            ] {
                let sameBytes = Array(a.utf8) == Array(b.utf8)
                #expect(
                    (EventCodec.subjectToken(key: a, kind: .put) == EventCodec.subjectToken(key: b, kind: .put))
                        == sameBytes)
                #expect((ExactKey(a) == ExactKey(b)) == sameBytes)
                if sameBytes { #expect(ExactKey(a).hashValue == ExactKey(b).hashValue) }
            }
        }
    }

    /// Keys of one length that differ in a single byte, wherever it is, are two keys; copies are one.
    @Test func keysDifferingInOneByteAnywhereAreDistinct() {
        for length in 0...40 {
            let bytes = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
            let key = String(decoding: bytes, as: UTF8.self)
            // A copy in other storage (not the same string object).
            let copy = String(decoding: Array(bytes), as: UTF8.self)
            #expect(ExactKey(key) == ExactKey(copy))
            for position in 0..<length {
                var changed = bytes
                changed[position] = UInt8(ascii: "Z")
                #expect(ExactKey(key) != ExactKey(String(decoding: changed, as: UTF8.self)), "\(length), \(position)")
            }
        }
    }

    /// The key limit is exact: a key of `maxKeyBytes` fits the subject budget, one byte more is rejected.
    @Test func theKeyLimitMatchesTheSubjectBudget() async {
        await propertyCheck(count: 200, input: Gen.int(in: 1...255)) { streamLength in
            let stream = String(repeating: "s", count: streamLength)
            let limit = NameRules.maxKeyBytes(stream: stream)
            let longest = String(repeating: "k", count: limit)
            #expect(throws: Never.self) { try NameRules.validateKey(longest, stream: stream) }
            #expect(
                EventCodec.subject(stream: stream, key: longest, kind: .delete).utf8.count <= NameRules.maxSubjectBytes)
            let error = #expect(throws: EventbaseError.self) {
                try NameRules.validateKey(longest + "k", stream: stream)
            }
            #expect(error?.code == .invalidKey)
        }
        #expect(throws: EventbaseError.self) { try NameRules.validateKey("", stream: "s") }
    }
}
