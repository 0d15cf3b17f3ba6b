import EventbaseFileStore
import EventbaseTestKit
import Foundation
import Testing

@Suite struct FileStoreConformanceTests {
    @Test(arguments: StateStoreConformance.Check.allCases)
    func stateStore(_ check: StateStoreConformance.Check) async throws {
        try await withTemporaryDirectory { directory in
            try await StateStoreConformance(durable: true) {
                { FileStateStore(directory: directory) }
            }.run(check)
        }
    }
}
