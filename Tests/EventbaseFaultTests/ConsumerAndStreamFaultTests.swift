import Eventbase
import EventbaseCore
import EventbaseTestKit
import Foundation
import Testing

/// Scenarios where the server loses what the instance relies on: its ordered consumer, or the
/// whole stream while the instance is offline.
@Suite(.enabled(if: NATSServerFixture.isAvailable), .serialized, .timeLimit(.minutes(2)))
struct ConsumerAndStreamFaultTests {
    @Test func theOrderedConsumerDeletedOnTheServerIsRecreatedAndWritesKeepApplying() async throws {
        let seed = scenarioSeed(61)
        let batch = scenarioLoad(100)
        let stream = "faults_consumer"
        try await withNATSServer { server in
            let instance = try await Instance.open(url: server.url, stream: stream)
            let admin = NATSTransport(faultNATSOptions(server.url))
            try await admin.connect()
            let load = WriteLoad(history: FaultHistory())
            load.start(on: instance.eventbase, seed: seed)
            do {
                let history = load.history
                var deleted = 0
                for round in 0..<3 {
                    try await history.waitUntilAcknowledged(
                        history.acknowledged + batch, timeout: .seconds(30), "writes before deletion \(round)")
                    let names = try await jetStreamAPI(admin, "CONSUMER.NAMES.\(stream)")["consumers"]?.arrayValue ?? []
                    let fault = history.fault("consumer-deleted")
                    for name in names.compactMap(\.stringValue) {
                        let reply = try await jetStreamAPI(admin, "CONSUMER.DELETE.\(stream).\(name)")
                        if reply["success"] == true { deleted += 1 }
                    }
                    history.lift(fault)
                }
                // Each write waits for the replica to apply it, so acknowledged writes after the
                // deletion show that the reader recreated its consumer.
                try await history.waitUntilAcknowledged(
                    history.acknowledged + batch, timeout: .seconds(30), "writes after the last deletion")
                #expect(deleted >= 3)
                let report = try await finish(
                    "consumer-deleted", seed: seed, load: load, url: server.url, stream: stream,
                    instances: [instance])
                #expect(report.unavailability < .seconds(10))
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

    /// Deliveries lost in the middle of an intact connection (the proxy drops single JetStream
    /// messages on their way to the instance): the reader sees the gap in consumer sequences,
    /// recreates its consumer from the next stream sequence, and nothing is skipped.
    @Test func aDeliveryGapIsDetectedAndTheMissingEventsAreReadAgain() async throws {
        let seed = scenarioSeed(63)
        let batch = scenarioLoad(100)
        let stream = "faults_gap"
        try await withNATSServer { server in
            try await withTCPFaultProxy(to: server.port) { proxy in
                let capture = LogCapture()
                let instance = try await Instance.open(
                    url: proxy.url, stream: stream, logger: capture.logger(label: "jetstream"))
                let load = WriteLoad(history: FaultHistory())
                load.start(on: instance.eventbase, seed: seed)
                do {
                    let history = load.history
                    let rounds = 3
                    for round in 0..<rounds {
                        try await history.waitUntilAcknowledged(
                            history.acknowledged + batch, timeout: .seconds(30), "writes before gap \(round)")
                        let fault = history.fault("delivery-gap")
                        proxy.mode = .dropMessages(replyPrefix: "$JS.ACK.\(stream).", count: 1)
                        // A write is acknowledged only once the replica applied it, and the next
                        // delivery after the mode switch is dropped: these acks need the recovery.
                        try await history.waitUntilAcknowledged(
                            history.acknowledged + batch, timeout: .seconds(30), "writes after gap \(round)")
                        #expect(proxy.statistics.droppedMessages == round + 1)
                        history.lift(fault)
                    }
                    // Found by the next delivery's consumer sequence, or by a heartbeat's.
                    let gaps = capture.records.filter {
                        guard let reason = $0.metadata["reason"] else { return false }
                        return reason.hasPrefix("gap") || reason.hasPrefix("heartbeat")
                    }
                    #expect(gaps.count >= rounds, "gaps logged: \(capture.text)")
                    #expect(proxy.statistics.resets == 0, "the connection itself was never cut")
                    let report = try await finish(
                        "delivery-gap", seed: seed, load: load, url: server.url, stream: stream,
                        instances: [instance])
                    #expect(report.unavailability < .seconds(10))
                } catch {
                    await load.stop()
                    await instance.close()
                    throw error
                }
                await instance.close()
            }
        }
    }

    @Test func aStreamDeletedAndRecreatedWhileAnInstanceIsOfflineIsRebuiltOnReopen() async throws {
        let seed = scenarioSeed(71)
        let stream = "faults_recreated"
        try await withNATSServer { server in
            let store = InMemoryStateStore()
            let first = try await Instance.open(url: server.url, stream: stream, store: store)
            let load = WriteLoad(history: FaultHistory())
            load.start(on: first.eventbase, seed: seed)
            try await load.history.waitUntilAcknowledged(scenarioLoad(100), timeout: .seconds(30), "first writes")
            await load.stop()
            await first.close()

            // Offline: someone deletes the stream and another instance recreates it with other data.
            let admin = NATSTransport(faultNATSOptions(server.url))
            try await admin.connect()
            let deleted = try await jetStreamAPI(admin, "STREAM.DELETE.\(stream)")
            #expect(deleted["success"] == true)
            let other = try await Instance.open(url: server.url, stream: stream)
            for index in 0..<20 {
                try await other.eventbase.put("after-\(index)", ["n": .number(Double(index))])
            }
            await other.close()

            let reopened = try await Instance.open(url: server.url, stream: stream, store: store)
            let documents = try await reopened.documents()
            let messages = try await RawStreamReader.read(stream, over: admin)
            let fold = IndependentFold(stream: stream, messages: messages)
            await reopened.close()
            await admin.close()
            print(
                "FAULT-FIGURES scenario=stream-recreated-offline seed=\(seed) faults=stream-deleted:1 acked=\(load.history.acknowledged) streamMessages=\(messages.count) divergent=\(IndependentFold.hash(documents) == fold.stateHash ? 0 : 1)"
            )
            #expect(documents.count == 20)
            #expect(documents.keys.allSatisfy { $0.hasPrefix("after-") })
            #expect(IndependentFold.hash(documents) == fold.stateHash)
        }
    }
}
