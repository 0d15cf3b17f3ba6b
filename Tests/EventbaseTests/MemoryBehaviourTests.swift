import Eventbase
import EventbaseTestKit
import Testing

@Suite struct MemoryBehaviourTests {
    @Test(arguments: EventbaseBehaviourSuite.Check.allCases)
    func behaviour(_ check: EventbaseBehaviourSuite.Check) async throws {
        try await EventbaseBehaviourSuite(backend: MemoryBackend()).run(check)
    }
}

@Suite struct MemoryConformanceTests {
    @Test(arguments: EventLogConformance.Check.allCases)
    func eventLog(_ check: EventLogConformance.Check) async throws {
        let server = InMemoryLogServer()
        try await EventLogConformance { name in InMemoryEventLog(streamName: name, server: server) }.run(check)
    }

    @Test(arguments: PollableLogConformance.Check.allCases)
    func pollableLog(_ check: PollableLogConformance.Check) async throws {
        let server = InMemoryLogServer()
        try await PollableLogConformance { name in InMemoryEventLog(streamName: name, server: server) }.run(check)
    }

    @Test(arguments: StateStoreConformance.Check.allCases)
    func stateStore(_ check: StateStoreConformance.Check) async throws {
        try await StateStoreConformance(durable: false) {
            let store = InMemoryStateStore()
            return { store }
        }.run(check)
    }
}
