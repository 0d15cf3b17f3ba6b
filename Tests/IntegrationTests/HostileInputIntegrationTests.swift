import Eventbase
import EventbaseTestKit
import Foundation
import PropertyBased
import Testing

/// Hostile input against a real server: poison messages on the stream, documents above max_payload,
/// random keys through JetStream.
@Suite(.enabled(if: NATSServerFixture.isAvailable), .timeLimit(.minutes(2)))
struct HostileInputIntegrationTests {
    private func builder(_ server: NATSServerFixture, _ stream: String) -> EventbaseBuilder {
        Eventbase.builder(streamName: stream).stateStore(InMemoryStateStore()).nats(
            testNATSOptions(server), stream: testStreamOptions())
    }

    private func uniqueName(_ prefix: String) -> String {
        prefix + "_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(10).lowercased()
    }

    /// Raw bytes published with the NATS client to the stream's subjects are skipped the same way by
    /// every replica (live and replaying), counted per kind, logged without contents; writes after
    /// them still apply and the replicas converge.
    @Test func poisonOnTheStreamIsSkippedAlikeByEveryReplica() async throws {
        try await withNATSServer(.init(maxPayload: 2 << 20)) { server in
            let transport = NATSTransport(testNATSOptions(server))
            try await transport.connect()
            let js = JetStreamContext(transport: transport)
            let stream = uniqueName("poison")
            let capture = LogCapture()
            let live = try await builder(server, stream).logger(capture.logger()).build()
            _ = try await live.put("before", ["n": 1])
            let poison = PoisonMessage.all(stream: stream)
            for message in poison {
                let headers = message.headers.isEmpty ? nil : MessageHeaders(fields: message.headers)
                _ = try await js.publish(message.subject, payload: message.payload, headers: headers)
            }
            _ = try await live.put("after", ["n": 2])
            let replaying = try await builder(server, stream).build()
            _ = try await replaying.put("later", ["n": 3])
            _ = try await live.put("last", ["n": 4])

            var expected: [InvalidEntryKind: Int] = [:]
            for message in poison { expected[message.kind, default: 0] += 1 }
            #expect(live.invalidEntryCounts == expected)
            #expect(replaying.invalidEntryCounts == expected)
            #expect(live.invalidEntryCount == poison.count)
            try await eventually(replaying, "the replaying replica applies the last write") {
                try await replaying.get("last") != nil
            }
            #expect(try await live.keys() == ["after", "before", "last", "later"])
            #expect(try await replaying.keys() == ["after", "before", "last", "later"])
            #expect(live.appliedSequence == replaying.appliedSequence)
            let warnings = capture.records.filter { $0.message == "Skipped an entry that is not a valid event" }
            #expect(warnings.count == poison.count)
            for message in poison where !message.secret.isEmpty {
                #expect(!capture.text.contains(message.secret), "the log quotes \(message)")
            }
            #expect(capture.text.utf8.count < 64 * 1024, "the log must not carry the 1 MiB payload")
            try await replaying.deleteStream()
            await live.close()
            await transport.close()
        }
    }

    /// A document whose event is larger than the server's max_payload is a typed error before
    /// anything is sent; the connection stays up and later writes succeed.
    @Test func documentsAboveMaxPayloadAreRejectedBeforeSending() async throws {
        try await withNATSServer(.init(maxPayload: 64 * 1024)) { server in
            let stream = uniqueName("payload")
            let eventbase = try await builder(server, stream).build()
            let before = eventbase.appliedSequence
            let huge: JSONValue = ["blob": .string(String(repeating: "x", count: 100 * 1024))]
            let error = await #expect(throws: EventbaseError.self) { try await eventbase.put("big", huge) }
            #expect(error?.code == .limitExceeded, "got \(String(describing: error))")
            #expect(error.map { !"\($0)".contains("xxxxxxxxxx") } == true, "the error quotes the document")
            // Just under the limit still fits.
            let fits: JSONValue = ["blob": .string(String(repeating: "y", count: 60 * 1024))]
            _ = try await eventbase.put("fits", fits)
            _ = try await eventbase.put("small", ["n": 1])
            #expect(try await eventbase.get("big") == nil)
            #expect(try await eventbase.keys() == ["fits", "small"])
            #expect(eventbase.appliedSequence == before + 2, "the rejected write reached the stream")
            try await eventbase.deleteStream()
        }
    }

    /// Random keys, with their NFC and NFD forms, round-trip byte-exactly through JetStream to a
    /// replaying replica and never alias.
    @Test func randomKeysRoundTripThroughJetStream() async throws {
        let keySets = Gen<UInt32>.value().array(of: 1...16).map { RandomKeys.key(from: $0) }.array(of: 1...10)
        try await withNATSServer { server in
            await propertyCheck(count: 4, input: keySets) { keys in
                var distinct: [[UInt8]: String] = [:]
                for key in keys {
                    for form in [
                        key, key.precomposedStringWithCanonicalMapping, key.decomposedStringWithCanonicalMapping,
                    ] {
                        distinct[Array(form.utf8)] = form
                    }
                }
                let stream = uniqueName("keys")
                let writer = try await builder(server, stream).build()
                for (index, key) in distinct.values.enumerated() {
                    _ = try await writer.put(key, ["n": .number(Double(index))])
                }
                let replica = try await builder(server, stream).build()
                for (index, key) in distinct.values.enumerated() {
                    let found = try await replica.get(key)
                    #expect(found?.data["n"] == .number(Double(index)))
                    #expect(found.map { Array($0.key.utf8) } == Array(key.utf8))
                }
                #expect(Set(try await replica.keys().map { Array($0.utf8) }) == Set(distinct.keys))
                #expect(try await replica.count() == distinct.count)
                await replica.close()
                try await writer.deleteStream()
            }
        }
    }
}
