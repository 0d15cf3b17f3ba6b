import EventbaseCore
import Foundation
import Testing

@Suite struct EventCodecTests {
    @Test(arguments: [
        ("a", "YQ==-put"),
        ("user123", "dXNlcjEyMw==-put"),
        ("!@#$%^&*()_+", "IUAjJCVeJiooKV8r-put"),
        ("a.b*c>d", "YS5iKmM+ZA==-put"),
        ("ü", "w7w=-put"),
        ("with space", "d2l0aCBzcGFjZQ==-put"),
    ])
    func putSubjectTokensAreBase64OfTheKeysUTF8(key: String, token: String) {
        #expect(EventCodec.subjectToken(key: key, kind: .put) == token)
        #expect(EventCodec.subject(stream: "app", key: key, kind: .put) == "app." + token)
    }

    @Test func deleteSubjectsEndInDelete() {
        #expect(EventCodec.subject(stream: "app", key: "a", kind: .delete) == "app.YQ==-delete")
    }

    @Test(arguments: ["a", "!@#$%^&*()_+", ".", "*", ">", "  ", "日本語", "🙂", "a\nb", "\u{0}"])
    func subjectsParseBackToTheirKey(key: String) throws {
        for kind in Event.Kind.allCases {
            let subject = EventCodec.subject(stream: "s", key: key, kind: kind)
            let parsed = try #require(EventCodec.parseSubject(subject, stream: "s"))
            #expect(parsed.key == key)
            #expect(parsed.kind == kind)
        }
    }

    @Test(arguments: ["", "a", "ab", "abc", "abcd", "abcde", "!@#$%^&*()_+", "日本語", "🙂", "a\nb", "\u{0}"])
    func decodingChecksTheSubjectAgainstThePayloadsKey(key: String) throws {
        for kind in Event.Kind.allCases {
            let event = Event(kind: kind, key: key, data: kind == .put ? ["n": 1] : nil, timestamp: 1)
            let payload = EventCodec.encodePayload(event)
            let subject = EventCodec.subject(stream: "s", key: key, kind: kind)
            #expect(try EventCodec.decode(subject: subject, stream: "s", payload: payload).key == key)
            let other = EventCodec.subject(stream: "s", key: key + "x", kind: kind)
            #expect(throws: EventbaseError.self) {
                try EventCodec.decode(subject: other, stream: "s", payload: payload)
            }
            let otherKind = EventCodec.subject(stream: "s", key: key, kind: kind == .put ? .delete : .put)
            #expect(throws: EventbaseError.self) {
                try EventCodec.decode(subject: otherKind, stream: "s", payload: payload)
            }
            let otherStream = EventCodec.subject(stream: "t", key: key, kind: kind)
            #expect(throws: EventbaseError.self) {
                try EventCodec.decode(subject: otherStream, stream: "s", payload: payload)
            }
        }
    }

    @Test func aNonCanonicalBase64SubjectStillDecodes() throws {
        // "YR==" decodes to "a" like the canonical "YQ==" (unused low bits set): it takes the slow path.
        let payload = EventCodec.encodePayload(Event(kind: .put, key: "a", data: [:], timestamp: 1))
        if EventCodec.parseSubject("s.YR==-put", stream: "s")?.key == "a" {
            #expect(try EventCodec.decode(subject: "s.YR==-put", stream: "s", payload: payload).key == "a")
        }
    }

    @Test func putPayloadIsByteForByteTheOriginalFormat() {
        let event = Event(
            kind: .put, key: "user1", data: ["name": "John Doe", "age": 30], timestamp: 1_700_000_000_123)
        let json = String(decoding: EventCodec.encodePayload(event), as: UTF8.self)
        #expect(json == #"{"type":"PUT","id":"user1","data":{"name":"John Doe","age":30},"timestamp":1700000000123}"#)
    }

    @Test func deletePayloadIsByteForByteTheOriginalFormat() {
        let event = Event(kind: .delete, key: "user1", timestamp: 1_700_000_000_123)
        let json = String(decoding: EventCodec.encodePayload(event), as: UTF8.self)
        #expect(json == #"{"type":"DELETE","id":"user1","timestamp":1700000000123}"#)
    }

    @Test func carriedMetaAndEventIDTravelInHeadersNotThePayload() throws {
        let event = Event(
            kind: .put, key: "k", data: ["x": 1], timestamp: 1, eventID: "e1", changes: 4, dateCreated: 99)
        let headers = EventCodec.headers(for: event)
        #expect(headers.map(\.name) == ["Nats-Msg-Id", "Eventbase-Changes", "Eventbase-Created"])
        #expect(headers.map(\.value) == ["e1", "4", "99"])
        let decoded = try EventCodec.decode(
            subject: "s.aw==-put", stream: "s", payload: EventCodec.encodePayload(event),
            header: { name in headers.first { $0.name == name }?.value })
        #expect(decoded == event)
    }

    @Test func unknownFieldsAreToleratedAndKept() throws {
        let payload = Array(#"{"type":"PUT","id":"k","data":{"a":1},"timestamp":5,"extra":{"v":2}}"#.utf8)
        let event = try EventCodec.decode(subject: "s.aw==-put", stream: "s", payload: payload)
        #expect(event.data == ["a": 1])
        #expect(event.extraFields["extra"] == ["v": 2])
        #expect(event.changes == nil)
        // Extra fields keep their order wherever they stand; a delete's data is not one of them.
        let mixed = Array(#"{"z":1,"type":"DELETE","a":2,"id":"k","data":{"b":3},"m":4,"timestamp":5}"#.utf8)
        let delete = try EventCodec.decode(subject: "s.aw==-delete", stream: "s", payload: mixed)
        #expect(delete.extraFields.keys == ["z", "a", "m"])
        #expect(delete.data == nil)
        let encoded = #"{"type":"DELETE","id":"k","timestamp":5,"z":1,"a":2,"m":4}"#
        #expect(EventCodec.encodePayload(delete) == Array(encoded.utf8))
    }

    @Test(arguments: [
        #"[]"#,
        #"{"type":"PATCH","id":"k","timestamp":1}"#,
        #"{"type":"PUT","timestamp":1,"data":{}}"#,
        #"{"type":"PUT","id":"k","timestamp":1}"#,
        #"{"type":"PUT","id":"k","data":{},"timestamp":"soon"}"#,
        #"{"type":"PUT","id":"other","data":{},"timestamp":1}"#,
        #"not json"#,
    ])
    func malformedPayloadsAreTypedErrors(payload: String) {
        #expect {
            try EventCodec.decode(subject: "s.aw==-put", stream: "s", payload: Array(payload.utf8))
        } throws: { error in
            (error as? EventbaseError)?.code == .invalidJSON
        }
    }

    @Test func subjectsOfOtherStreamsOrShapesDoNotParse() {
        #expect(EventCodec.parseSubject("other.YQ==-put", stream: "s") == nil)
        #expect(EventCodec.parseSubject("s.YQ==-patch", stream: "s") == nil)
        #expect(EventCodec.parseSubject("s.!!!-put", stream: "s") == nil)
        #expect(EventCodec.parseSubject("sx.YQ==-put", stream: "s") == nil)
    }

    @Test func statsEncodeWithTheOriginalFields() {
        let stat = Stat(operation: .query, query: ["a": 1], queryResultCount: 3, timestamp: 10, duration: 0.5)
        #expect(
            stat.jsonValue.jsonString()
                == #"{"operation":"QUERY","query":{"a":1},"queryResultCount":3,"timestamp":10,"duration":0.5}"#)
    }
}

@Suite struct NameRulesTests {
    @Test(arguments: ["myapp", "my_app-1", "ÜNICODE", String(repeating: "a", count: 255)])
    func validStreamNamesPass(name: String) throws {
        try NameRules.validateStreamName(name)
    }

    @Test(arguments: ["", "a.b", "a*", "a>", "a b", "a/b", "a\\b", "tab\t", String(repeating: "a", count: 256)])
    func invalidStreamNamesAreTypedErrors(name: String) {
        #expect {
            try NameRules.validateStreamName(name)
        } throws: { error in
            (error as? EventbaseError)?.code == .invalidStreamName
        }
    }

    @Test func emptyAndOversizedKeysAreRejectedAndTheLimitIsExact() throws {
        let limit = NameRules.maxKeyBytes(stream: "s")
        try NameRules.validateKey(String(repeating: "k", count: limit), stream: "s")
        let subject = EventCodec.subject(stream: "s", key: String(repeating: "k", count: limit), kind: .delete)
        #expect(subject.utf8.count <= NameRules.maxSubjectBytes)
        for key in ["", String(repeating: "k", count: limit + 1)] {
            #expect {
                try NameRules.validateKey(key, stream: "s")
            } throws: { error in
                (error as? EventbaseError)?.code == .invalidKey
            }
        }
    }
}
