import Eventbase
import EventbaseCore
import EventbaseTestKit
import Foundation
import Testing

/// The deterministic simulation tier: the real JetStream adapter and Eventbase over a
/// ``SimulatedJetStream`` that loses publishes and acks, delivers twice, skips deliveries, deletes
/// consumers, drops the connection and never sends heartbeats, each from a seed. Many seeds run in
/// seconds; a failing seed is replayed with `SIM_SEED=<seed>` and then belongs in
/// ``regressionSeeds``.
@Suite struct SimulationTests {
    /// Seeds that once failed (none yet), replayed on every run.
    static let regressionSeeds: [UInt64] = [0]

    /// How many seeds the sweep runs: `SIM_SEEDS` if set, else 500.
    static var seedCount: Int { ProcessInfo.processInfo.environment["SIM_SEEDS"].flatMap(Int.init) ?? 500 }

    /// One seeded run: two writers, 12 writes each, faults at `probability` per event.
    static func simulate(seed: UInt64, probability: Double = 0.05) async throws -> (FaultReport, [String: Int]) {
        let server = SimulatedJetStream(seed: seed, faults: .all(probability))
        let options = JetStreamStreamOptions(requestTimeout: .milliseconds(200), idleHeartbeat: .milliseconds(10))
        func open() async throws -> Eventbase {
            try await Eventbase.builder(streamName: "sim")
                .eventLog(JetStreamEventLog(streamName: "sim", transport: server, options: options))
                .stateStore(InMemoryStateStore())
                .configure {
                    $0.writeTimeout = .seconds(2)
                    $0.retention = .everything
                    $0.retryDelay = .milliseconds(5)
                }
                .build()
        }
        let eventbase = try await open()
        let load = WriteLoad(history: FaultHistory())
        await load.run(on: eventbase, writers: 2, keysPerWriter: 3, seed: seed, operations: 12, backoff: nil)
        let messages = server.storedMessages
        let instance = Instance(eventbase: eventbase, transport: nil)
        var replicas: [String: [String: JSONValue]] = [:]
        do {
            try await instance.waitUntilApplied(messages.last?.sequence ?? 0, timeout: .seconds(10))
            replicas["instance"] = try await instance.documents()
            let fresh = Instance(eventbase: try await open(), transport: nil)
            replicas["fresh"] = try await fresh.documents()
            await fresh.close()
        } catch {
            await instance.close()
            await server.close()
            throw ScenarioFailure("seed \(seed): \(error)")
        }
        await instance.close()
        await server.close()
        let report = FaultReport(
            scenario: "simulation", seed: seed, history: load.history, stream: "sim", messages: messages,
            replicas: replicas, deadline: .seconds(5))
        return (report, server.injected)
    }

    @Test func seededFaultsNeverLoseDuplicateOrDiverge() async throws {
        var failures: [String] = []
        var faults: [String: Int] = [:]
        var acknowledged = 0
        var unknown = 0
        // Seeds are independent (each has its own server): run 16 at a time, since a run mostly
        // waits for the readers to notice silence.
        try await withThrowingTaskGroup(of: (FaultReport, [String: Int]).self) { group in
            var next: UInt64 = 1
            func add() {
                guard next <= UInt64(Self.seedCount) else { return }
                let seed = next
                next += 1
                group.addTask { try await Self.simulate(seed: seed) }
            }
            for _ in 0..<16 { add() }
            while let (report, injected) = try await group.next() {
                faults.merge(injected, uniquingKeysWith: +)
                acknowledged += report.acknowledged
                unknown += report.unknown
                if !report.passed { failures.append(report.description) }
                add()
            }
        }
        let faultText = faults.keys.sorted().map { "\($0):\(faults[$0]!)" }.joined(separator: ",")
        print(
            "FAULT-FIGURES scenario=simulation seeds=\(Self.seedCount) faults=\(faultText) acked=\(acknowledged) unknown=\(unknown) failedSeeds=\(failures.count)"
        )
        #expect(failures.isEmpty, "\(failures.prefix(5).joined(separator: "\n"))")
    }

    @Test(
        arguments: regressionSeeds
            + (ProcessInfo.processInfo.environment["SIM_SEED"].flatMap(UInt64.init).map { [$0] } ?? []))
    func aRecordedSeedStillPasses(seed: UInt64) async throws {
        let (report, _) = try await Self.simulate(seed: seed)
        #expect(report.passed, "\(report)")
    }

    @Test func withoutFaultsEveryWriteIsAcknowledged() async throws {
        let (report, injected) = try await Self.simulate(seed: 7, probability: 0)
        #expect(injected.isEmpty)
        #expect(report.acknowledged == 24 && report.unknown == 0 && report.passed)
    }
}
