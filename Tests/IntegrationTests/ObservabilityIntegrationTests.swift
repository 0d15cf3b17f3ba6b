import Eventbase
import EventbaseTestKit
import Foundation
import Logging
import Testing

@Suite struct ObservabilityIntegrationTests {
    @Test func aLostConnectionIsAWarningTheReconnectIsCountedAndNoSecretIsLogged() async throws {
        let password = "pa55-never-logged"
        try await withNATSServer(.init(users: [.init(user: "alice", password: password)])) { server in
            let recording = RecordingLogHandler()
            var options = testNATSOptions(server)
            options.user = "alice"
            options.password = password
            let eventbase = try await Eventbase.builder(streamName: "observed")
                .nats(options, stream: testStreamOptions())
                .logger(recording.logger)
                .build()
            _ = try await eventbase.put("k", ["secret": "document-value-never-logged"])
            let healthy = await eventbase.health()
            #expect(healthy.connection?.state == .connected)
            #expect(healthy.connection?.reconnectCount == 0)
            #expect(healthy.streamLastSequence == 1)
            #expect(healthy.lag == 0)
            #expect(healthy.isHealthy)
            #expect(recording.entries.allSatisfy { $0.level < .info })

            await server.stop()
            await recording.waitFor { $0.level == .warning && $0.message.contains("connection to NATS was lost") }
            let down = await eventbase.health(timeout: .milliseconds(200))
            #expect(down.connection?.state == .reconnecting)
            #expect(!down.isHealthy)

            try await server.startAgain()
            await recording.waitFor { $0.level == .notice && $0.message == "Reconnected to NATS" }
            _ = try await eventbase.put("k2", ["n": 2])
            let back = await eventbase.health()
            #expect(back.connection?.state == .connected)
            #expect(back.connection?.reconnectCount == 1)
            await eventbase.close()

            for entry in recording.entries {
                #expect(entry.metadata["eventbase.stream"] == "observed")
                #expect(entry.metadata["eventbase.instance"] == "\(eventbase.instanceID)")
                #expect(!entry.text.contains(password))
                #expect(!entry.text.contains("document-value-never-logged"))
            }
        }
    }
}
