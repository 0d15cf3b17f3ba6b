import EventbaseCore
import Foundation
import Synchronization
import Testing

@testable import EventbaseJetStream

@Suite struct JetStreamContextTests {
    private func context(_ script: @escaping ScriptedTransport.Script) -> (JetStreamContext, ScriptedTransport) {
        let transport = ScriptedTransport(script: script)
        return (JetStreamContext(transport: transport, requestTimeout: .seconds(1)), transport)
    }

    @Test func wrongLastSequenceIsAConflictWithTheServersCodeAndDescription() async throws {
        let (js, _) = context { _, _ in
            ScriptedJetStream.error(code: 400, errorCode: 10071, "wrong last sequence: 5")
        }
        let error = await #expect(throws: EventbaseError.self) {
            _ = try await js.publish(
                "s.a", payload: [], options: JetStreamPublishOptions(expectedLastSubjectSequence: 3))
        }
        #expect(error?.code == .conflict)
        #expect(error?.message.contains("wrong last sequence: 5") == true)
        #expect((error?.cause as? JetStreamAPIError)?.errorCode == 10071)
    }

    @Test(arguments: [
        (10059, EventbaseError.Code.streamNotFound), (10076, .unavailable), (10039, .unavailable),
        (10164, .conflict), (10047, .limitExceeded), (10003, .serverError),
    ])
    func apiErrorsMapToCodes(_ errorCode: Int, _ expected: EventbaseError.Code) async throws {
        let (js, _) = context { _, _ in ScriptedJetStream.error(code: 400, errorCode: errorCode, "described") }
        let error = await #expect(throws: EventbaseError.self) { _ = try await js.streamInfo("s") }
        #expect(error?.code == expected)
        #expect(error?.message.contains("described") == true)
    }

    @Test func noRespondersMeanJetStreamIsOffOrTheStreamIsMissing() async throws {
        let (js, _) = context { subject, _ in throw EventbaseError(.noResponders, "no responders for \(subject)") }
        let api = await #expect(throws: EventbaseError.self) { _ = try await js.accountInfo() }
        #expect(api?.code == .unavailable)
        #expect(api?.message.contains("Enable JetStream") == true)
        let publish = await #expect(throws: EventbaseError.self) { _ = try await js.publish("s.a", payload: []) }
        #expect(publish?.code == .streamNotFound)
    }

    @Test func timeoutsSayWhatTimedOut() async throws {
        let (js, _) = context { _, _ in throw EventbaseError(.timeout, "request timed out") }
        let error = await #expect(throws: EventbaseError.self) { _ = try await js.streamInfo("orders") }
        #expect(error?.code == .timeout)
        #expect(error?.message.contains("Reading stream orders") == true)
    }

    @Test func pubAcksSurfaceDuplicates() throws {
        let ack = try JetStreamContext.parsePubAck(
            Array(#"{"stream":"s","seq":7,"duplicate":true}"#.utf8), subject: "s.a")
        #expect(ack == JetStreamPubAck(stream: "s", sequence: 7, duplicate: true))
        #expect(throws: EventbaseError.self) { try JetStreamContext.parsePubAck(Array("{}".utf8), subject: "s.a") }
    }

    @Test(arguments: [
        #"{"stream":"orders","seq":1}"#,
        #"{"stream":"orders","seq":1234567890123}"#,
        #"{"stream":"s","seq":7,"duplicate":true}"#,
    ])
    func commonPubAcksReadAsTheJSONPathReadsThem(text: String) throws {
        let fast = try #require(JetStreamContext.commonPubAck(Array(text.utf8)))
        let json = try JSONValue(jsonString: text)
        #expect(fast.stream == json["stream"]?.stringValue)
        #expect(Double(fast.sequence) == json["seq"]?.doubleValue)
        #expect(fast.duplicate == (json["duplicate"]?.boolValue ?? false))
        #expect(fast.domain == nil)
    }

    @Test(arguments: [
        #"{"stream":"orders","domain":"hub","seq":1}"#,
        #"{"stream":"orders","seq":1,"domain":"hub"}"#,
        #"{"stream":"or\"ders","seq":1}"#,
        #"{"stream":"orders","seq":01}"#,
        #"{"stream":"orders","seq":0}"#,
        #"{"stream":"orders","seq":1e3}"#,
        #"{"stream":"orders","seq":-1}"#,
        #"{"stream":"orders","seq":99999999999999999999}"#,
        #"{"stream":"","seq":1}"#,
        #"{"stream":"orders","seq":1,"duplicate":false}"#,
        #"{"stream":"orders","seq":1} "#,
        #"{"error":{"code":503,"err_code":10077,"description":"x"}}"#,
        #"{"stream":"orders""#,
    ])
    func otherPubAcksTakeTheJSONPath(text: String) {
        #expect(JetStreamContext.commonPubAck(Array(text.utf8)) == nil)
    }

    /// Found by FuzzJetStreamResponse: numbers past Int64 in a reply trapped in the conversion.
    @Test(arguments: ["1e30", "-1", "0", "2e19", "-1e300"])
    func hostileNumbersInRepliesAreTypedErrorsOrIgnored(_ number: String) throws {
        let ack = #"{"stream":"s","seq":\#(number)}"#
        #expect(throws: EventbaseError.self) { try JetStreamContext.parsePubAck(Array(ack.utf8), subject: "s.a") }
        let info =
            #"{"config":{"name":"s","subjects":["s.*"],"max_age":\#(number),"max_bytes":\#(number),"#
            + #""max_msgs_per_subject":\#(number),"duplicate_window":\#(number)},"#
            + #""state":{"messages":\#(number),"last_seq":\#(number)}}"#
        let parsed = JetStreamStreamInfo(json: try JSONValue(jsonBytes: Array(info.utf8)))
        #expect(parsed.config.name == "s")
    }

    @Test func streamInfoGivesTheLogStateAndIdentity() async throws {
        let (js, _) = context { _, _ in ScriptedJetStream.streamInfo("s", lastSequence: 12, messages: 3) }
        let state = try await js.streamInfo("s").logState
        #expect(state.lastSequence == 12 && state.messageCount == 3)
        #expect(state.identity == StreamIdentity(name: "s", created: Date(millisecondsSince1970: 1_714_564_800_123)))
    }

    @Test func appendsCarryTheMessageIDTheEventHeadersAndConditions() async throws {
        let transport = ScriptedTransport { _, _ in ScriptedJetStream.reply(["stream": "s", "seq": 4]) }
        let log = JetStreamEventLog(streamName: "s", transport: transport)
        let event = Event(kind: .put, key: "a", data: ["n": 1], timestamp: 5, eventID: "e1", changes: 2, dateCreated: 3)
        let ack = try await log.append(event, condition: .keyRevision(3))
        #expect(ack == AppendAck(sequence: 4))
        _ = try await log.append(event, condition: .keyAbsent)
        let sent = transport.sent("s.")
        #expect(sent.map(\.subject) == ["s.YQ==-put", "s.YQ==-put"])
        #expect(
            String(decoding: sent[0].payload, as: UTF8.self) == #"{"type":"PUT","id":"a","data":{"n":1},"timestamp":5}"#
        )
        #expect(sent[0].headers?["Nats-Msg-Id"] == "e1")
        #expect(sent[0].headers?["Eventbase-Changes"] == "2")
        #expect(sent[0].headers?["Eventbase-Created"] == "3")
        #expect(sent[0].headers?["Nats-Expected-Last-Subject-Sequence"] == "3")
        #expect(sent[1].headers?["Nats-Expected-Last-Subject-Sequence"] == "0")
        let delete = await #expect(throws: EventbaseError.self) {
            _ = try await log.append(Event(kind: .delete, key: "a", timestamp: 1), condition: .keyAbsent)
        }
        #expect(delete?.code == .invalidArgument)
        // Without an id or carried meta (as eventbase v3 writes) no headers are sent.
        _ = try await log.append(Event(kind: .delete, key: "a", timestamp: 1), condition: nil)
        #expect(transport.sent("s.YQ==-delete").first?.headers == nil)
    }

    @Test func anUnansweredPublishToAnExistingStreamIsUnavailableNotDeleted() async throws {
        // A replicated stream without a leader (during an election) answers no publish, but its
        // info still exists: the write must be retried, not reported as a deleted stream.
        let transport = ScriptedTransport { subject, _ in
            if subject.hasPrefix("$JS.API.STREAM.INFO") { return ScriptedJetStream.streamInfo("s", lastSequence: 3) }
            if subject.hasPrefix("$JS.API.STREAM.CREATE") { return ScriptedJetStream.streamInfo("s", lastSequence: 3) }
            throw EventbaseError(.noResponders, "no responders for \(subject)")
        }
        let log = JetStreamEventLog(streamName: "s", transport: transport)
        _ = try await log.open()
        let error = await #expect(throws: EventbaseError.self) {
            _ = try await log.append(Event(kind: .put, key: "a", data: [:], timestamp: 1, eventID: "e"), condition: nil)
        }
        #expect(error?.code == .unavailable)
    }

    @Test func anUnansweredPublishToAStreamThatIsGoneIsStreamDeleted() async throws {
        let opened = Mutex(false)
        let transport = ScriptedTransport { subject, _ in
            if subject.hasPrefix("$JS.API.STREAM.INFO") {
                if opened.withLock({ $0 }) {
                    return ScriptedJetStream.error(code: 404, errorCode: 10059, "stream not found")
                }
                return ScriptedJetStream.streamInfo("s", lastSequence: 3)
            }
            throw EventbaseError(.noResponders, "no responders for \(subject)")
        }
        let log = JetStreamEventLog(streamName: "s", transport: transport)
        _ = try await log.open()
        opened.withLock { $0 = true }
        let error = await #expect(throws: EventbaseError.self) {
            _ = try await log.append(Event(kind: .put, key: "a", data: [:], timestamp: 1, eventID: "e"), condition: nil)
        }
        #expect(error?.code == .streamDeleted)
    }

    @Test func purgesAreExclusiveAndNeverUnbounded() async throws {
        let transport = ScriptedTransport { _, _ in ScriptedJetStream.reply(["success": true, "purged": 2]) }
        let log = JetStreamEventLog(streamName: "s", transport: transport)
        #expect(try await log.purgePuts(of: "a", before: 1) == 0)
        #expect(transport.sent("$JS.API.STREAM.PURGE").isEmpty)
        #expect(try await log.purgePuts(of: "a", before: 9) == 2)
        let body = try #require(transport.sent("$JS.API.STREAM.PURGE.s").first?.json)
        #expect(body == ["filter": "s.YQ==-put", "seq": 9])
    }

    @Test func closedLogsRejectCalls() async throws {
        let transport = ScriptedTransport { _, _ in ScriptedJetStream.reply([:]) }
        let log = JetStreamEventLog(streamName: "s", transport: transport)
        await log.close()
        let error = await #expect(throws: EventbaseError.self) {
            _ = try await log.append(Event(kind: .delete, key: "a", timestamp: 1), condition: nil)
        }
        #expect(error?.code == .closed)
        #expect(transport.sent("").isEmpty)
    }
}
