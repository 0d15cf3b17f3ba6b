import Eventbase
import EventbaseTestKit
import Foundation
import Testing

/// Stream limits that make the server remove events that are not superseded (age, total bytes or
/// count) would split replicas: running ones keep what fresh ones never see. They are refused.
@Suite(.enabled(if: NATSServerFixture.isAvailable), .timeLimit(.minutes(2)))
struct StreamLimitTests {
    private func uniqueName(_ prefix: String) -> String {
        prefix + "_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(10).lowercased()
    }

    @Test(arguments: ["maxAge", "maxBytes"])
    func optionsThatRemoveLiveEventsAreRefusedBeforeAnythingIsCreated(_ limit: String) async throws {
        try await withJetStream { _, transport in
            let stream = uniqueName("limits")
            var options = testStreamOptions()
            if limit == "maxAge" { options.maxAge = .seconds(3600) } else { options.maxBytes = 1 << 20 }
            let log = JetStreamEventLog(streamName: stream, transport: transport, options: options)
            await #expect(throws: EventbaseError.self) { _ = try await log.open() }
            do {
                _ = try await log.open()
            } catch let error as EventbaseError {
                #expect(error.code == .invalidArgument)
                #expect(error.message.contains(limit == "maxAge" ? "max_age" : "max_bytes"))
            }
            let context = JetStreamContext(transport: transport)
            await #expect(throws: EventbaseError.self) { _ = try await context.streamInfo(stream) }
        }
    }

    @Test func anExistingStreamWithSuchLimitsIsRefused() async throws {
        try await withJetStream { _, transport in
            let stream = uniqueName("limited")
            let context = JetStreamContext(transport: transport)
            var config = testStreamOptions().streamConfig(name: stream)
            config.maxAge = .seconds(3600)
            _ = try await context.createStream(config)
            let builder = Eventbase.builder(streamName: stream).stateStore(InMemoryStateStore())
                .eventLog(JetStreamEventLog(streamName: stream, transport: transport, options: testStreamOptions()))
            do {
                _ = try await builder.build()
                Issue.record("a stream with max_age opened")
            } catch let error as EventbaseError {
                #expect(error.code == .invalidArgument && error.message.contains("max_age"), "\(error)")
            }
            try await context.deleteStream(stream)
        }
    }

    @Test func perSubjectLimitsAreRefusedToo() async throws {
        try await withJetStream { _, transport in
            let stream = uniqueName("persubject")
            var options = testStreamOptions()
            options.maxMessagesPerSubject = 1
            let log = JetStreamEventLog(streamName: stream, transport: transport, options: options)
            do {
                _ = try await log.open()
                Issue.record("max_msgs_per_subject was accepted")
            } catch let error as EventbaseError {
                #expect(error.code == .invalidArgument && error.message.contains("max_msgs_per_subject"))
            }
            await #expect(throws: EventbaseError.self) {
                _ = try await JetStreamContext(transport: transport).streamInfo(stream)
            }
        }
    }
}
