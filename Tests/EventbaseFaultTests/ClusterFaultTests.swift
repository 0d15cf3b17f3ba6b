import Eventbase
import EventbaseCore
import EventbaseTestKit
import Foundation
import Testing

/// Scenarios on a 3-node cluster with a replicas-3 stream: the stream leader crashes or hangs
/// under write load; a new leader takes over and nothing acknowledged is lost.
@Suite(.enabled(if: NATSServerFixture.isAvailable), .serialized, .timeLimit(.minutes(3)))
struct ClusterFaultTests {
    @Test(arguments: ["leader-sigkill", "leader-sigstop"])
    func theStreamLeaderFailingUnderLoadLosesNoAcknowledgedWrite(fault kind: String) async throws {
        let seed = scenarioSeed(81)
        let batch = scenarioLoad(100)
        let stream = "faults_cluster"
        try await withNATSCluster { cluster in
            let nats = faultNATSOptions(servers: cluster.urls)
            let instance = try await Instance.open(url: cluster.urls[0], stream: stream, nats: nats, replicas: 3)
            let admin = NATSTransport(nats)
            try await admin.connect()
            let load = WriteLoad(history: FaultHistory())
            load.start(on: instance.eventbase, seed: seed)
            do {
                let history = load.history
                try await history.waitUntilAcknowledged(batch, timeout: .seconds(60), "writes before the fault")
                let leader = try await cluster.waitForStreamLeader(stream, over: admin)
                let fault = history.fault(kind)
                if kind == "leader-sigkill" {
                    await cluster.nodes[leader].crash()
                } else {
                    cluster.nodes[leader].pause()
                }
                let successor = try await cluster.waitForStreamLeader(stream, over: admin, excluding: leader)
                try await history.waitUntilAcknowledged(
                    history.acknowledged + batch, timeout: .seconds(60), "writes under the new leader")
                if kind == "leader-sigkill" {
                    try await cluster.nodes[leader].startAgain()
                } else {
                    cluster.nodes[leader].resume()
                }
                history.lift(fault)
                try await cluster.waitForMetaLeader()
                try await history.waitUntilAcknowledged(
                    history.acknowledged + batch, timeout: .seconds(60), "writes after the old leader returned")
                let report = try await finish(
                    "cluster-\(kind)", seed: seed, load: load, url: cluster.urls[successor], stream: stream,
                    instances: [instance])
                // Measured 4-8 s here (election, then the in-flight writes' 2-second deadlines); the
                // bound leaves room for a loaded CI machine while still catching a hang.
                #expect(report.unavailability < .seconds(15))
            } catch {
                await load.stop()
                await admin.close()
                await instance.close()
                throw error
            }
            await admin.close()
            await instance.close()
        }
    }

    /// Each node in turn stopped cleanly (SIGTERM) and restarted on its store, the next one only once
    /// the cluster has a meta leader again and writes went on: a rolling upgrade under load.
    @Test func rollingRestartsUnderLoadLoseAndDuplicateNothing() async throws {
        let seed = scenarioSeed(85)
        let batch = scenarioLoad(100)
        let stream = "faults_rolling"
        try await withNATSCluster { cluster in
            let nats = faultNATSOptions(servers: cluster.urls)
            let instance = try await Instance.open(url: cluster.urls[0], stream: stream, nats: nats, replicas: 3)
            let load = WriteLoad(history: FaultHistory())
            load.start(on: instance.eventbase, seed: seed)
            do {
                let history = load.history
                try await history.waitUntilAcknowledged(batch, timeout: .seconds(60), "writes before the restarts")
                for node in cluster.nodes.indices {
                    let fault = history.fault("rolling-restart")
                    #expect(await cluster.nodes[node].terminate(), "node \(node) did not stop on SIGTERM")
                    try await cluster.nodes[node].startAgain()
                    try await cluster.waitForMetaLeader()
                    history.lift(fault)
                    try await history.waitUntilAcknowledged(
                        history.acknowledged + batch, timeout: .seconds(60), "writes after restarting node \(node)")
                }
                let report = try await finish(
                    "cluster-rolling-restart", seed: seed, load: load, url: cluster.urls[0], stream: stream,
                    instances: [instance])
                #expect(report.unavailability < .seconds(15))
            } catch {
                await load.stop()
                await instance.close()
                throw error
            }
            await instance.close()
        }
    }

    @Test func losingQuorumFailsWritesWithTypedErrorsAndTheyResumeWhenItReturns() async throws {
        let seed = scenarioSeed(91)
        let batch = scenarioLoad(100)
        let stream = "faults_quorum"
        try await withNATSCluster { cluster in
            let nats = faultNATSOptions(servers: cluster.urls)
            let instance = try await Instance.open(url: cluster.urls[0], stream: stream, nats: nats, replicas: 3)
            let load = WriteLoad(history: FaultHistory())
            load.start(on: instance.eventbase, seed: seed)
            do {
                let history = load.history
                try await history.waitUntilAcknowledged(batch, timeout: .seconds(60), "writes before the quorum loss")
                let fault = history.fault("quorum-lost")
                await cluster.nodes[1].crash()
                await cluster.nodes[2].crash()
                let lostAt = history.now
                // Every writer's next writes must end (typed), not hang: wait for a few rounds of them.
                try await history.waitUntilCompleted(
                    history.completed + 12, timeout: .seconds(60), "writes failing without a quorum")
                let restartedAt = history.now
                try await cluster.nodes[1].startAgain()
                try await cluster.nodes[2].startAgain()
                history.lift(fault)
                try await cluster.waitForMetaLeader()
                try await history.waitUntilAcknowledged(
                    history.acknowledged + batch, timeout: .seconds(60), "writes after the quorum returned")
                // No write started after the quorum was lost and finished before it returned was acknowledged.
                let acknowledgedWithoutQuorum = history.operations.filter {
                    $0.invoked > lostAt && ($0.completed ?? .zero) < restartedAt && $0.outcome == .ok
                }
                #expect(acknowledgedWithoutQuorum.isEmpty, "\(acknowledgedWithoutQuorum.prefix(5))")
                let report = try await finish(
                    "cluster-quorum-lost", seed: seed, load: load, url: cluster.urls[0], stream: stream,
                    instances: [instance])
                #expect(report.unknown > 0)
            } catch {
                await load.stop()
                await instance.close()
                throw error
            }
            await instance.close()
        }
    }
}
