import Eventbase
import EventbaseTestKit
import Foundation
import Testing

/// Delete markers on a real server: a later put of the key purges the older markers, and the last
/// marker is removed once its retention has passed.
@Suite(.enabled(if: NATSServerFixture.isAvailable), .timeLimit(.minutes(2)))
struct DeleteMarkerIntegrationTests {
    @Test func markersArePurgedByLaterWritesAndCompactedAfterTheirRetention() async throws {
        try await withJetStream { server, transport in
            let stream = "markers_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(10).lowercased()
            let log = FaultyEventLog(
                wrapping: JetStreamEventLog(streamName: stream, transport: transport, options: testStreamOptions()))
            let eventbase = try await Eventbase.builder(streamName: stream).stateStore(InMemoryStateStore())
                .eventLog(log).configure { $0.deleteMarkerRetention = .milliseconds(300) }.build()
            let js = JetStreamContext(transport: transport)
            @Sendable func subject(_ key: String, _ kind: Event.Kind) -> String {
                EventCodec.subject(stream: stream, key: key, kind: kind)
            }
            // "a" is deleted and written again: its marker goes with the put's purge.
            _ = try await eventbase.put("a", ["v": 1])
            _ = try await eventbase.delete("a")
            let again = try await eventbase.put("a", ["v": 2])
            // "k" is deleted for good: its marker stays until the retention has passed.
            _ = try await eventbase.put("k", ["v": 1])
            let deleted = try await eventbase.delete("k")
            // The put of "a" purged its marker; the marker of "k" is compacted once due (that of "a"
            // is left: the key was written again).
            try await withTimeout(.seconds(20), "the markers removed") {
                await log.waitForMarkerCalls(including: [.purgeDeletes("a"), .compactDeleted("k")])
            }
            #expect(try await js.lastMessage(stream: stream, subject: subject("a", .delete)) == nil)
            #expect(try await js.lastMessage(stream: stream, subject: subject("k", .delete)) == nil)
            #expect(deleted.revision != nil)
            let info = try await js.streamInfo(stream)
            #expect(info.messages == 1, "the stream holds \(info.messages) messages")
            #expect(
                try await js.lastMessage(stream: stream, subject: subject("a", .put))?.sequence == again.meta.revision)
            // A replica that starts now agrees.
            let fresh = try await Eventbase.builder(streamName: stream).stateStore(InMemoryStateStore())
                .nats(testNATSOptions(server), stream: testStreamOptions()).build()
            #expect(try await fresh.keys() == ["a"])
            await fresh.close()
            try await eventbase.deleteStream()
            await eventbase.close()
        }
    }
}
