import Eventbase
import EventbaseCore
import EventbaseTestKit
import Foundation
import Testing

/// Scenarios with a ``TCPFaultProxy`` between the instance and nats-server: connections cut in the
/// middle of a frame, and half-open connections that stay up while nothing arrives.
@Suite(.enabled(if: NATSServerFixture.isAvailable), .serialized, .timeLimit(.minutes(2)))
struct NetworkFaultTests {
    /// Runs `body` with a server, a proxy to it, an instance connected through the proxy, and a
    /// running write load.
    func withProxiedInstance(
        stream: String, seed: UInt64,
        _ body: (NATSServerFixture, TCPFaultProxy, Instance, WriteLoad) async throws -> Void
    ) async throws {
        try await withNATSServer { server in
            try await withTCPFaultProxy(to: server.port) { proxy in
                let instance = try await Instance.open(url: proxy.url, stream: stream)
                let load = WriteLoad(history: FaultHistory())
                load.start(on: instance.eventbase, seed: seed)
                do {
                    try await body(server, proxy, instance, load)
                } catch {
                    await load.stop()
                    await instance.close()
                    throw error
                }
                await load.stop()
                await instance.close()
            }
        }
    }

    /// Waits for the instance's connection to drop.
    func disconnected(_ events: AsyncStream<ConnectionEvent>, within timeout: Duration, _ what: String) async throws {
        try await withDeadline(timeout, clock: ContinuousClock(), what) {
            for await event in events {
                if case .disconnected = event { return }
            }
        }
    }

    @Test func connectionsCutMidFrameReconnectWithoutLosingOrDuplicatingWrites() async throws {
        let seed = scenarioSeed(31)
        let batch = scenarioLoad(100)
        let stream = "faults_reset"
        try await withProxiedInstance(stream: stream, seed: seed) { server, proxy, instance, load in
            let history = load.history
            var random = SeededGenerator(seed: seed)
            try await history.waitUntilAcknowledged(batch, timeout: .seconds(30), "writes before the first cut")
            for round in 0..<3 {
                let events = instance.transport!.connectionEvents()
                let bytes = Int.random(in: 1...400, using: &random)
                let fault = history.fault("reset-mid-frame")
                proxy.mode = .dropAfter(bytes: bytes)
                try await disconnected(events, within: .seconds(15), "cut \(round) after \(bytes) bytes")
                proxy.mode = .pass
                history.lift(fault)
                try await history.waitUntilAcknowledged(
                    history.acknowledged + batch, timeout: .seconds(30), "writes after cut \(round)")
            }
            #expect(proxy.statistics.resets >= 3)
            let report = try await finish(
                "proxy-reset-mid-frame", seed: seed, load: load, url: server.url, stream: stream,
                instances: [instance])
            #expect(report.unavailability < .seconds(10))
        }
    }

    @Test func aHalfOpenConnectionIsDetectedAndReplaced() async throws {
        let seed = scenarioSeed(41)
        let batch = scenarioLoad(100)
        let stream = "faults_blackhole"
        try await withProxiedInstance(stream: stream, seed: seed) { server, proxy, instance, load in
            let history = load.history
            try await history.waitUntilAcknowledged(batch, timeout: .seconds(30), "writes before the blackhole")
            let events = instance.transport!.connectionEvents()
            let fault = history.fault("blackhole")
            proxy.mode = .blackhole
            try await disconnected(events, within: .seconds(15), "detecting the half-open connection")
            let detected = history.now - history.faults[fault].at
            proxy.mode = .pass
            history.lift(fault)
            try await history.waitUntilAcknowledged(
                history.acknowledged + batch, timeout: .seconds(30), "writes after the blackhole")
            let report = try await finish(
                "proxy-blackhole", seed: seed, load: load, url: server.url, stream: stream, instances: [instance])
            print("FAULT-FIGURES scenario=proxy-blackhole detectedSeconds=\(seconds(detected))")
            #expect(detected < .seconds(10))
            #expect(report.unavailability < .seconds(20))
        }
    }

    /// Heartbeats, acks and pongs silenced while the client's publishes still reach the server: the
    /// server stores writes whose acks never arrive (unknown outcomes, not losses), the ordered
    /// consumer hears no heartbeat, and the missed pongs end the connection.
    @Test func silenceFromTheServerIsDetectedAndTheInstanceRecovers() async throws {
        let seed = scenarioSeed(45)
        let batch = scenarioLoad(100)
        let stream = "faults_silence"
        try await withProxiedInstance(stream: stream, seed: seed) { server, proxy, instance, load in
            let history = load.history
            try await history.waitUntilAcknowledged(batch, timeout: .seconds(30), "writes before the silence")
            let events = instance.transport!.connectionEvents()
            let fault = history.fault("silence-server-to-client")
            proxy.mode = .blackholeToClient
            try await disconnected(events, within: .seconds(15), "detecting the silence")
            let detected = history.now - history.faults[fault].at
            proxy.mode = .pass
            history.lift(fault)
            try await history.waitUntilAcknowledged(
                history.acknowledged + batch, timeout: .seconds(30), "writes after the silence")
            let report = try await finish(
                "proxy-silence-to-client", seed: seed, load: load, url: server.url, stream: stream,
                instances: [instance])
            print("FAULT-FIGURES scenario=proxy-silence-to-client detectedSeconds=\(seconds(detected))")
            #expect(proxy.statistics.discardedBytes > 0)
            #expect(detected < .seconds(10))
            #expect(report.unavailability < .seconds(20))
        }
    }

    @Test func aSlowLinkDelaysButLosesNothing() async throws {
        let seed = scenarioSeed(51)
        let batch = scenarioLoad(40)
        let stream = "faults_delay"
        try await withProxiedInstance(stream: stream, seed: seed) { server, proxy, instance, load in
            let history = load.history
            try await history.waitUntilAcknowledged(batch, timeout: .seconds(30), "writes before the delay")
            let fault = history.fault("delay-50ms")
            proxy.mode = .delay(.milliseconds(50))
            try await history.waitUntilAcknowledged(
                history.acknowledged + batch, timeout: .seconds(30), "writes over the slow link")
            proxy.mode = .pass
            history.lift(fault)
            _ = try await finish(
                "proxy-delay", seed: seed, load: load, url: server.url, stream: stream, instances: [instance])
        }
    }
}
