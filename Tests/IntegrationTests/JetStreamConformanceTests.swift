import Eventbase
import EventbaseTestKit
import Testing

@Suite(.enabled(if: NATSServerFixture.isAvailable), .timeLimit(.minutes(2)))
struct JetStreamConformanceTests {
    @Test(arguments: EventLogConformance.Check.allCases)
    func eventLog(_ check: EventLogConformance.Check) async throws {
        try await withJetStream { _, transport in
            try await EventLogConformance { name in
                JetStreamEventLog(streamName: name, transport: transport, options: testStreamOptions())
            }.run(check)
        }
    }
}

@Suite(.enabled(if: NATSServerFixture.isAvailable), .timeLimit(.minutes(2)))
struct JetStreamBehaviourTests {
    @Test(arguments: EventbaseBehaviourSuite.Check.allCases)
    func behaviour(_ check: EventbaseBehaviourSuite.Check) async throws {
        try await withNATSServer { server in
            try await EventbaseBehaviourSuite(backend: JetStreamBackend(server: server)).run(check)
        }
    }
}
