import Eventbase
import EventbaseTestKit
import Testing

@Suite struct FileBehaviourTests {
    @Test(arguments: EventbaseBehaviourSuite.Check.allCases)
    func behaviour(_ check: EventbaseBehaviourSuite.Check) async throws {
        try await withTemporaryDirectory { root in
            try await EventbaseBehaviourSuite(backend: FileBackend(root: root)).run(check)
        }
    }
}
