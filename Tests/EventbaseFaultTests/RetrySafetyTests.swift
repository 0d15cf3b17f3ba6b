import Eventbase
import EventbaseCore
import EventbaseTestKit
import Foundation
import Testing

/// Retries of writes whose outcome was unknown: the acknowledgement lost on the wire, and a copy
/// answered "still in process" by the server. With an idempotency key, the retry stores nothing new
/// and returns the first write's revision.
@Suite(.enabled(if: NATSServerFixture.isAvailable), .serialized, .timeLimit(.minutes(2)))
struct RetrySafetyTests {
    @Test func aRetryAfterALostAcknowledgementStoresTheWriteOnce() async throws {
        let stream = "retry_lost_ack"
        try await withNATSServer { server in
            try await withTCPFaultProxy(to: server.port) { proxy in
                let instance = try await Instance.open(url: proxy.url, stream: stream)
                do {
                    let warm = try await instance.eventbase.put("warm", ["v": 0])
                    let events = instance.transport!.connectionEvents()
                    // The publish reaches the server, which stores it; its acknowledgement never comes back.
                    proxy.mode = .blackholeToClient
                    do {
                        _ = try await instance.eventbase.put("k", ["v": 1], idempotencyKey: "charge-7")
                        Issue.record("a write whose acknowledgement was lost succeeded")
                    } catch let error as EventbaseError {
                        #expect(error.code == .timeout || error.code == .unavailable, "the lost ack gave \(error)")
                    }
                    proxy.mode = .pass
                    // The lost connection is given up and made again; the caller then retries the unknown
                    // outcome with the same idempotency key (after each reconnection, until it is answered).
                    let record = try await withDeadline(.seconds(30), clock: ContinuousClock(), "the retry") {
                        var reconnections = events.makeAsyncIterator()
                        while true {
                            guard let event = await reconnections.next() else {
                                throw ScenarioFailure("the connection events ended")
                            }
                            guard case .reconnected = event else { continue }
                            do {
                                return try await instance.eventbase.put("k", ["v": 1], idempotencyKey: "charge-7")
                            } catch let error as EventbaseError
                                where error.code == .timeout || error.code == .unavailable
                            {
                                continue
                            }
                        }
                    }
                    let messages = try await rawMessages(stream, url: server.url)
                    let writes = messages.filter { $0.subject != messages.first?.subject }
                    #expect(
                        messages.count == 2, "the stream holds \(messages.count) messages: \(messages.map(\.subject))")
                    #expect(writes.count == 1 && writes.first?.sequence == record.meta.revision)
                    #expect(record.meta.revision == warm.meta.revision + 1)
                    #expect(record.meta.changes == 1)
                    #expect(try await instance.eventbase.get("k") == record)
                } catch {
                    await instance.close()
                    throw error
                }
                await instance.close()
            }
        }
    }

    /// Reads the stream's messages over a connection of its own.
    private func rawMessages(_ stream: String, url: String) async throws -> [RawStreamMessage] {
        let reader = NATSTransport(faultNATSOptions(url))
        do {
            try await reader.connect()
            let messages = try await RawStreamReader.read(stream, over: reader)
            await reader.close()
            return messages
        } catch {
            await reader.close()
            throw error
        }
    }
}

/// The simulated server answering every stored publish with 10158, as a replicated stream does
/// when a resent copy arrives while the first is still being committed.
struct InProcessDuplicateTests {
    @Test func writesAnsweredInProcessAreAcknowledgedOnceStored() async throws {
        var faults = SimulatedJetStream.Faults()
        faults.duplicateInProcess = 1
        let server = SimulatedJetStream(seed: 7, faults: faults)
        let options = JetStreamStreamOptions(requestTimeout: .seconds(2), idleHeartbeat: .milliseconds(50))
        let eventbase = try await Eventbase.builder(streamName: "sim")
            .eventLog(JetStreamEventLog(streamName: "sim", transport: server, options: options))
            .stateStore(InMemoryStateStore())
            .configure { $0.retention = .everything }
            .build()
        do {
            var revisions: [UInt64] = []
            for index in 0..<10 {
                let record = try await eventbase.put("k\(index)", ["n": .number(Double(index))])
                revisions.append(record.meta.revision)
            }
            #expect(revisions == Array(1...10))
            #expect(server.storedMessages.count == 10)
            #expect(server.injected["duplicate-in-process"] == 10)
        } catch {
            await eventbase.close()
            await server.close()
            throw error
        }
        await eventbase.close()
        await server.close()
    }
}
