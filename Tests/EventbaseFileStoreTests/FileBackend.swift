import Eventbase
import EventbaseTestKit
import Foundation
import Synchronization

/// The in-memory log with a ``FileStateStore`` per replica: `replicaName` maps to a directory
/// under `root`, so reopening a replica reads the snapshots the previous instance wrote. Snapshots
/// are taken every two changes, so background writes happen during the checks.
final class FileBackend: EventbaseBehaviourSuite.Backend {
    let root: String
    let server: InMemoryLogServer
    let now: @Sendable () -> Date

    init(root: String) {
        self.root = root
        let ticks = Mutex<Int64>(0)
        let now: @Sendable () -> Date = {
            let tick = ticks.withLock { value -> Int64 in
                value += 1
                return value
            }
            return Date(timeIntervalSince1970: 1_700_000_000 + Double(tick) / 1000)
        }
        self.now = now
        self.server = InMemoryLogServer(now: now)
    }

    func builder(streamName: String, replicaName: String) async throws -> EventbaseBuilder {
        Eventbase.builder(streamName: streamName)
            .eventLog(InMemoryEventLog(streamName: streamName, server: server))
            .stateStore(
                FileStateStore(
                    directory: root + "/" + replicaName,
                    options: FileStateStore.Options(snapshotEveryEvents: 2, snapshotInterval: nil))
            )
            .clock(ContinuousClock(), now: now)
    }
}
