import EventbaseCore
import EventbaseNATS
import EventbaseTestKit
import Foundation
import Testing

/// Waits for the first element of `sequence` that matches, failing with `.timeout` after `timeout`.
func first<S: AsyncSequence & Sendable>(
    _ sequence: S,
    timeout: Duration = .seconds(10),
    where predicate: @escaping @Sendable (S.Element) -> Bool = { _ in true }
) async throws -> S.Element where S.Element: Sendable {
    try await withDeadline(timeout, clock: ContinuousClock(), "Waiting for a matching element") {
        for try await element in sequence where predicate(element) { return element }
        throw EventbaseError(.closed, "The sequence ended before a matching element.")
    }
}

/// Runs `body` with a connected transport and closes it afterwards, even when `body` throws.
func withTransport<T: Sendable>(
    _ options: NATSOptions,
    _ body: (NATSTransport) async throws -> T
) async throws -> T {
    let transport = NATSTransport(options)
    do {
        try await transport.connect()
        let result = try await body(transport)
        await transport.close()
        return result
    } catch {
        await transport.close()
        throw error
    }
}

@Suite(.enabled(if: NATSServerFixture.isAvailable), .serialized, .timeLimit(.minutes(1)))
struct NATSTransportIntegrationTests {
    @Test func publishAndSubscribeRoundTripWithHeaders() async throws {
        try await withNATSServer { server in
            try await withTransport(NATSOptions(servers: [server.url])) { transport in
                #expect(transport.maxPayload == 1024 * 1024)
                let subscription = try await transport.subscribe("greetings.*")
                try await transport.flush(timeout: .seconds(5))
                var headers = MessageHeaders(fields: [])
                headers.append("1", for: "X-Id")
                headers.append("2", for: "X-Id")
                try await transport.publish(
                    "greetings.en", payload: Array("hello".utf8), headers: headers, replyTo: "reply.here")
                try await transport.publish("greetings.fr", payload: Array("bonjour".utf8))
                var iterator = subscription.makeAsyncIterator()
                let firstMessage = try await iterator.next()
                #expect(firstMessage?.subject == "greetings.en")
                #expect(firstMessage?.payload == Array("hello".utf8))
                #expect(firstMessage?.replyTo == "reply.here")
                #expect(firstMessage?.headers?.values(for: "X-Id") == ["1", "2"])
                let second = try await iterator.next()
                #expect(second?.payload == Array("bonjour".utf8))
                #expect(second?.headers == nil)
                await subscription.unsubscribe()
            }
        }
    }

    @Test func requestReplyAndNoResponders() async throws {
        try await withNATSServer { server in
            try await withTransport(NATSOptions(servers: [server.url])) { transport in
                let service = try await transport.subscribe("echo", queue: "workers")
                let responder = Task {
                    for try await message in service {
                        guard let replyTo = message.replyTo else { continue }
                        try await transport.publish(
                            replyTo, payload: message.payload.reversed(), headers: nil, replyTo: nil)
                    }
                }
                defer { responder.cancel() }
                try await transport.flush(timeout: .seconds(5))
                let replies = try await withThrowingTaskGroup(of: [UInt8].self) { group in
                    for index in 0..<50 {
                        group.addTask {
                            try await transport.request("echo", payload: [UInt8(index), 0], timeout: .seconds(5))
                                .payload
                        }
                    }
                    return try await group.reduce(into: [[UInt8]]()) { $0.append($1) }
                }
                #expect(Set(replies) == Set((0..<50).map { [0, UInt8($0)] }))

                let clock = ContinuousClock()
                let start = clock.now
                let error = await #expect(throws: EventbaseError.self) {
                    _ = try await transport.request("nobody.home", payload: [], timeout: .seconds(10))
                }
                #expect(error?.code == .noResponders)
                #expect(clock.now - start < .seconds(5))
            }
        }
    }

    @Test func requestTimesOutWhenTheResponderIsSilent() async throws {
        try await withNATSServer { server in
            try await withTransport(NATSOptions(servers: [server.url])) { transport in
                let silent = try await transport.subscribe("silent")
                try await transport.flush(timeout: .seconds(5))
                let error = await #expect(throws: EventbaseError.self) {
                    _ = try await transport.request("silent", payload: [], timeout: .milliseconds(200))
                }
                #expect(error?.code == .timeout)
                await silent.unsubscribe()
            }
        }
    }

    /// A responder that ignores the first two copies of each request (as a stream leader that just
    /// failed would): a resent request is answered through its third copy, sent to the same reply
    /// subject; the same request sent once times out.
    @Test func aResentRequestIsAnsweredThroughALaterCopy() async throws {
        try await withNATSServer { server in
            try await withTransport(NATSOptions(servers: [server.url])) { transport in
                let requests = try await transport.subscribe("lossy")
                try await transport.flush(timeout: .seconds(5))
                let responder = Task {
                    var copies: [String: Int] = [:]
                    for try await request in requests {
                        guard let reply = request.replyTo else { continue }
                        copies[reply, default: 0] += 1
                        if copies[reply] == 3 { try await transport.publish(reply, payload: Array("ok".utf8)) }
                    }
                }
                let answer = try await transport.request(
                    "lossy", payload: Array("q".utf8), headers: nil, timeout: .seconds(20),
                    resendInterval: .milliseconds(50))
                #expect(answer.payload == Array("ok".utf8))
                #expect(transport.requestsResent >= 2)
                let error = await #expect(throws: EventbaseError.self) {
                    _ = try await transport.request(
                        "lossy", payload: Array("q".utf8), headers: nil, timeout: .milliseconds(300),
                        resendInterval: nil)
                }
                #expect(error?.code == .timeout)
                await requests.unsubscribe()
                _ = try? await responder.value
            }
        }
    }

    @Test func oversizedPayloadIsRefusedBeforeSending() async throws {
        try await withNATSServer(.init(maxPayload: 1024)) { server in
            try await withTransport(NATSOptions(servers: [server.url])) { transport in
                #expect(transport.maxPayload == 1024)
                let error = await #expect(throws: EventbaseError.self) {
                    try await transport.publish("big", payload: Array(repeating: 1, count: 2000))
                }
                #expect(error?.code == .limitExceeded)
                try await transport.flush(timeout: .seconds(5))
                #expect(transport.isConnected)
            }
        }
    }

    @Test func aBurstOfPublishesArrivesInOrder() async throws {
        try await withNATSServer { server in
            try await withTransport(NATSOptions(servers: [server.url])) { transport in
                let subscription = try await transport.subscribe("burst")
                try await transport.flush(timeout: .seconds(5))
                let count = 20_000
                for index in 0..<count {
                    try await transport.publish("burst", payload: Array(String(index).utf8))
                }
                try await transport.flush(timeout: .seconds(10))
                var received = 0
                for try await message in subscription {
                    #expect(message.payload == Array(String(received).utf8))
                    received += 1
                    if received == count { break }
                }
                #expect(received == count)
            }
        }
    }

    @Test func closeFinishesSubscriptionsAndRefusesFurtherUse() async throws {
        try await withNATSServer { server in
            let transport = NATSTransport(NATSOptions(servers: [server.url]))
            try await transport.connect()
            let events = transport.connectionEvents()
            let subscription = try await transport.subscribe("x")
            await transport.close()
            await transport.close()
            var count = 0
            for try await _ in subscription { count += 1 }
            #expect(count == 0)
            let closed = try await first(events) { if case .closed = $0 { true } else { false } }
            guard case .closed(let error) = closed else { return }
            #expect(error == nil)
            let publishError = await #expect(throws: EventbaseError.self) {
                try await transport.publish("x", payload: [])
            }
            #expect(publishError?.code == .closed)
            let connectError = await #expect(throws: EventbaseError.self) { try await transport.connect() }
            #expect(connectError?.code == .closed)
        }
    }

    @Test func connectingToNothingFailsWithUnavailable() async throws {
        let transport = NATSTransport(NATSOptions(servers: ["nats://127.0.0.1:1"]))
        let error = await #expect(throws: EventbaseError.self) { try await transport.connect() }
        #expect(error?.code == .unavailable)
        await transport.close()
    }
}

@Suite(.enabled(if: NATSServerFixture.isAvailable), .serialized, .timeLimit(.minutes(1)))
struct NATSRequestCancellationTests {
    @Test func cancellingARequestEndsItWithCancelled() async throws {
        try await withNATSServer { server in
            try await withTransport(NATSOptions(servers: [server.url])) { transport in
                let silent = try await transport.subscribe("slow.service")
                let request = Task {
                    try await transport.request("slow.service", payload: [], timeout: .seconds(30))
                }
                // The responder sees the request arrive, so it is in flight when we cancel.
                _ = try await first(silent)
                request.cancel()
                let error = await #expect(throws: EventbaseError.self) { _ = try await request.value }
                #expect(error?.code == .cancelled)
            }
        }
    }
}
