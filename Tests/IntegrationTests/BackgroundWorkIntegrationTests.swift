import Eventbase
import EventbaseTestKit
import Foundation
import Testing

/// Instances whose background work the caller runs, on a real server: opening catches up through a
/// consumer of its own, and run() follows the stream with another.
@Suite(.enabled(if: NATSServerFixture.isAvailable), .timeLimit(.minutes(2)))
struct BackgroundWorkIntegrationTests {
    @Test func anUnstartedInstanceCatchesUpAtOpenAndFollowsOnceRun() async throws {
        try await withNATSServer { server in
            let stream =
                "unstarted_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(10).lowercased()
            func builder() -> EventbaseBuilder {
                Eventbase.builder(streamName: stream).nats(testNATSOptions(server), stream: testStreamOptions())
            }
            let writer = try await builder().build()
            for index in 0..<50 { _ = try await writer.put("before-\(index)", ["n": .number(Double(index))]) }
            let eventbase = try await builder().buildUnstarted()
            #expect(try await eventbase.count() == 50)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await eventbase.run() }
                let theirs = try await writer.put("theirs", ["v": 1])
                #expect(try await eventbase.get("theirs", consistency: .atLeast(theirs.meta.revision)) != nil)
                _ = try await eventbase.put("mine", ["v": 2])
                #expect(try await writer.get("mine", consistency: .latest) != nil)
                await eventbase.closeGracefully()
                try await group.waitForAll()
            }
            #expect(eventbase.isClosed)
            // Scoped: the same, closed when the closure returns.
            let count = try await builder().withEventbase { scoped in try await scoped.count(consistency: .latest) }
            #expect(count == 52)
            try await writer.deleteStream()
            await writer.close()
        }
    }
}
