import EventbaseCore
import EventbaseNATS
import EventbaseTestKit
import Foundation
import Testing

@Suite(.enabled(if: NATSServerFixture.isAvailable), .serialized, .timeLimit(.minutes(1)))
struct NATSReliabilityIntegrationTests {
    private func options(_ server: NATSServerFixture) -> NATSOptions {
        var options = NATSOptions(servers: [server.url])
        options.reconnectBackoffBase = .milliseconds(20)
        options.reconnectBackoffMax = .milliseconds(200)
        options.maxReconnectAttempts = nil
        options.connectTimeout = .seconds(1)
        return options
    }

    private static func isDisconnected(_ event: ConnectionEvent) -> Bool {
        if case .disconnected = event { true } else { false }
    }

    private static func isReconnected(_ event: ConnectionEvent) -> Bool {
        if case .reconnected = event { true } else { false }
    }

    @Test func reconnectsAfterARestartResubscribesAndFlushesBufferedPublishes() async throws {
        try await withNATSServer { server in
            try await withTransport(options(server)) { transport in
                let disconnected = transport.connectionEvents()
                let reconnected = transport.connectionEvents()
                let subscription = try await transport.subscribe("orders.>")
                try await transport.flush(timeout: .seconds(5))

                await server.stop()
                _ = try await first(disconnected, where: Self.isDisconnected)
                #expect(!transport.isConnected)
                for index in 0..<100 {
                    try await transport.publish("orders.\(index)", payload: [UInt8(index)])
                }
                let flushError = await #expect(throws: EventbaseError.self) {
                    try await transport.flush(timeout: .seconds(1))
                }
                #expect(flushError?.code == .unavailable)

                try await server.startAgain()
                _ = try await first(reconnected, where: Self.isReconnected)
                var received = [UInt8]()
                for try await message in subscription {
                    received.append(message.payload[0])
                    if received.count == 100 { break }
                }
                #expect(received == (0..<100).map { UInt8($0) })
                let reply = try await transport.subscribe("after")
                try await transport.publish("after", payload: [1])
                #expect(try await first(reply).payload == [1])
            }
        }
    }

    @Test func publishingBeyondTheReconnectBufferFailsWithUnavailable() async throws {
        try await withNATSServer { server in
            var options = options(server)
            options.reconnectBufferSize = 10_000
            try await withTransport(options) { transport in
                let disconnected = transport.connectionEvents()
                await server.stop()
                _ = try await first(disconnected, where: Self.isDisconnected)
                var failure: EventbaseError?
                var accepted = 0
                for _ in 0..<100 {
                    do {
                        try await transport.publish("x", payload: Array(repeating: 0, count: 500))
                        accepted += 1
                    } catch let error as EventbaseError {
                        failure = error
                        break
                    }
                }
                #expect(failure?.code == .unavailable)
                #expect(accepted > 0 && accepted < 20)
            }
        }
    }

    @Test func aPausedServerIsDetectedByPingsAndTheClientRecovers() async throws {
        try await withNATSServer { server in
            var options = options(server)
            options.pingInterval = .milliseconds(200)
            options.maxOutstandingPings = 2
            try await withTransport(options) { transport in
                let disconnected = transport.connectionEvents()
                let reconnected = transport.connectionEvents()
                let subscription = try await transport.subscribe("alive")
                try await transport.flush(timeout: .seconds(5))

                server.pause()
                let event = try await first(disconnected, timeout: .seconds(10), where: Self.isDisconnected)
                guard case .disconnected(let error) = event else { return }
                #expect(error?.code == .unavailable)

                server.resume()
                _ = try await first(reconnected, timeout: .seconds(15), where: Self.isReconnected)
                try await transport.publish("alive", payload: [7])
                #expect(try await first(subscription).payload == [7])
            }
        }
    }

    @Test func aRequestWaitingWhenTheConnectionIsLostFailsAtOnceWithUnavailable() async throws {
        try await withNATSServer(.init(jetStream: false)) { server in
            try await withTransport(options(server)) { transport in
                // A responder that never answers: only the lost connection can end the request early.
                let silent = try await transport.subscribe("silent")
                try await transport.flush(timeout: .seconds(5))
                let request = Task {
                    try await transport.request("silent", payload: [1], timeout: .seconds(600))
                }
                _ = try await first(silent)
                await server.crash()
                let error = await #expect(throws: EventbaseError.self) { _ = try await request.value }
                #expect(error?.code == .unavailable)
            }
        }
    }

    @Test func givesUpAfterMaxReconnectAttemptsAndCloses() async throws {
        try await withNATSServer { server in
            var options = options(server)
            options.maxReconnectAttempts = 2
            let transport = NATSTransport(options)
            try await transport.connect()
            let events = transport.connectionEvents()
            let subscription = try await transport.subscribe("x")
            await server.stop()
            let closed = try await first(events) { if case .closed = $0 { true } else { false } }
            guard case .closed(let error) = closed else { return }
            #expect(error?.code == .unavailable)
            let subscriptionError = await #expect(throws: EventbaseError.self) { for try await _ in subscription {} }
            #expect(subscriptionError?.code == .unavailable)
            let publishError = await #expect(throws: EventbaseError.self) {
                try await transport.publish("x", payload: [])
            }
            #expect(publishError?.code == .closed)
            await transport.close()
        }
    }

    @Test func aSlowConsumerIsEndedAndCounted() async throws {
        try await withNATSServer { server in
            var options = options(server)
            options.pendingMessageLimit = 10
            try await withTransport(options) { transport in
                let slow = try await transport.subscribe("firehose")
                try await transport.flush(timeout: .seconds(5))
                for _ in 0..<50 {
                    try await transport.publish("firehose", payload: [0])
                }
                try await transport.flush(timeout: .seconds(5))
                var delivered = 0
                let error = await #expect(throws: EventbaseError.self) {
                    for try await _ in slow { delivered += 1 }
                }
                #expect(error?.code == .slowConsumer)
                #expect(delivered == 10)
                #expect(transport.slowConsumerCount == 1)
            }
        }
    }

    @Test func drainDeliversWhatWasBufferedThenCloses() async throws {
        try await withNATSServer { server in
            let transport = NATSTransport(options(server))
            try await transport.connect()
            let subscription = try await transport.subscribe("d")
            for index in 0..<10 { try await transport.publish("d", payload: [UInt8(index)]) }
            try await transport.flush(timeout: .seconds(5))
            try await transport.drain(timeout: .seconds(5))
            var count = 0
            for try await _ in subscription { count += 1 }
            #expect(count == 10)
            #expect(!transport.isConnected)
        }
    }
}
