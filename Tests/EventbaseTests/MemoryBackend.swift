import Eventbase
import EventbaseTestKit
import Foundation
import Synchronization

/// The in-memory backend for the shared behaviour suite: one log server per suite run, one
/// in-memory store per replica name (reused on reopen, as a durable store would be), and a wall
/// clock that ticks a millisecond per reading so successive writes get distinct times.
final class MemoryBackend: EventbaseBehaviourSuite.Backend {
    let server: InMemoryLogServer
    private let stores = Mutex<[String: InMemoryStateStore]>([:])
    let ticks = Mutex<Int64>(0)
    let now: @Sendable () -> Date

    init() {
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

    func store(_ name: String) -> InMemoryStateStore {
        stores.withLock { stores in
            if let store = stores[name] { return store }
            let store = InMemoryStateStore()
            stores[name] = store
            return store
        }
    }

    func builder(streamName: String, replicaName: String) async throws -> EventbaseBuilder {
        Eventbase.builder(streamName: streamName)
            .eventLog(InMemoryEventLog(streamName: streamName, server: server))
            .stateStore(store("\(streamName)/\(replicaName)"))
            .clock(ContinuousClock(), now: now)
    }
}
