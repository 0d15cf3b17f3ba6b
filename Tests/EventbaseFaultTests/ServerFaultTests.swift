import Eventbase
import EventbaseCore
import EventbaseTestKit
import Foundation
import Testing

/// Scenarios on a single nats-server under write load: crashes, clean stops, hangs. Each checks
/// the fault tests' criteria with ``FaultReport`` and prints its figures (`FAULT-FIGURES ...`).
@Suite(.enabled(if: NATSServerFixture.isAvailable), .serialized, .timeLimit(.minutes(2)))
struct ServerFaultTests {
    /// Runs `body` with a server, an instance on it (through `url(server)`), a history and a running
    /// write load; stops the load and closes the instance afterwards.
    func withLoadedInstance(
        stream: String, seed: UInt64, via url: (NATSServerFixture) throws -> String = { $0.url },
        nats: ((String) -> NATSOptions)? = nil,
        _ body: (NATSServerFixture, Instance, WriteLoad) async throws -> Void
    ) async throws {
        try await withNATSServer { server in
            let target = try url(server)
            let instance = try await Instance.open(url: target, stream: stream, nats: nats?(target))
            let load = WriteLoad(history: FaultHistory())
            load.start(on: instance.eventbase, seed: seed)
            do {
                try await body(server, instance, load)
            } catch {
                await load.stop()
                await instance.close()
                throw error
            }
            await load.stop()
            await instance.close()
        }
    }

    @Test(arguments: ["sigkill", "sigterm"])
    func aServerStoppedMidWriteLoadAndRestartedLosesNoAcknowledgedWrite(signal: String) async throws {
        let seed = scenarioSeed(11)
        let batch = scenarioLoad(150)
        let stream = "faults_\(signal)"
        try await withLoadedInstance(stream: stream, seed: seed) { server, instance, load in
            let history = load.history
            try await history.waitUntilAcknowledged(batch, timeout: .seconds(30), "writes before the stop")
            let fault = history.fault(signal)
            if signal == "sigkill" {
                await server.crash()
            } else {
                #expect(await server.terminate())
            }
            try await server.startAgain()
            history.lift(fault)
            try await history.waitUntilAcknowledged(
                history.acknowledged + batch, timeout: .seconds(30), "writes after the restart")
            let report = try await finish(
                "server-\(signal)", seed: seed, load: load, url: server.url, stream: stream, instances: [instance])
            #expect(report.unavailability < .seconds(10))
        }
    }

    /// With the fault options (1-second pings) and with the options Eventbase ships (2-second pings,
    /// 5-second request and write timeouts).
    @Test(arguments: [false, true])
    func aHungServerIsDetectedAndWritesResumeAfterItContinues(shippedDefaults: Bool) async throws {
        let seed = scenarioSeed(21)
        let batch = scenarioLoad(150)
        let name = shippedDefaults ? "server-sigstop-defaults" : "server-sigstop"
        let stream = shippedDefaults ? "faults_sigstop_defaults" : "faults_sigstop"
        try await withNATSServer { server in
            let instance = try await Instance.open(url: server.url, stream: stream, shippedDefaults: shippedDefaults)
            let load = WriteLoad(history: FaultHistory())
            load.start(on: instance.eventbase, seed: seed)
            do {
                let history = load.history
                let events = instance.transport!.connectionEvents()
                try await history.waitUntilAcknowledged(batch, timeout: .seconds(30), "writes before the pause")
                let fault = history.fault("sigstop")
                server.pause()
                // Two outstanding pings: the client gives the connection up within a few intervals.
                try await withDeadline(.seconds(15), clock: ContinuousClock(), "detecting the hung server") {
                    for await event in events {
                        if case .disconnected = event { return }
                    }
                }
                let detected = history.now - history.faults[fault].at
                server.resume()
                history.lift(fault)
                try await history.waitUntilAcknowledged(
                    history.acknowledged + batch, timeout: .seconds(30), "writes after the resume")
                // The shipped deadline is a 5-second append plus the rest of the 5-second write timeout.
                let report = try await finish(
                    name, seed: seed, load: load, url: server.url, stream: stream, instances: [instance],
                    deadline: shippedDefaults ? .seconds(15) : operationDeadline)
                print("FAULT-FIGURES scenario=\(name) detectedSeconds=\(seconds(detected))")
                #expect(detected < .seconds(10))
                #expect(report.unavailability < .seconds(20))
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

/// A duration in seconds with two decimals, for figures.
func seconds(_ duration: Duration) -> String {
    let (whole, fraction) = duration.components
    return String(format: "%.2f", Double(whole) + Double(fraction) / 1e18)
}
