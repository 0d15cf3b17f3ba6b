import Eventbase
import EventbaseCore
import EventbaseTestKit
import Foundation
import Synchronization

/// NATS options for tests: fast reconnects, no limit on attempts.
func testNATSOptions(_ server: NATSServerFixture) -> NATSOptions {
    var options = NATSOptions(servers: [server.url])
    options.reconnectBackoffBase = .milliseconds(20)
    options.reconnectBackoffMax = .milliseconds(200)
    options.maxReconnectAttempts = nil
    options.connectTimeout = .seconds(1)
    return options
}

/// Stream options for tests: short deadlines and heartbeats, so failures show quickly.
func testStreamOptions() -> JetStreamStreamOptions {
    JetStreamStreamOptions(requestTimeout: .seconds(2), idleHeartbeat: .milliseconds(500))
}

/// Runs `body` with a server and a connected transport, closing both afterwards.
func withJetStream<T: Sendable>(
    _ body: (NATSServerFixture, NATSTransport) async throws -> T
) async throws -> T {
    try await withNATSServer { server in
        let transport = NATSTransport(testNATSOptions(server))
        try await transport.connect()
        do {
            let result = try await body(server, transport)
            await transport.close()
            return result
        } catch {
            await transport.close()
            throw error
        }
    }
}

/// The JetStream backend of the behaviour suite: every instance has its own NATS connection to one
/// server; local replicas live in memory, one store per replica name (reused on reopen).
final class JetStreamBackend: EventbaseBehaviourSuite.Backend {
    let url: String
    private let stores = Mutex<[String: InMemoryStateStore]>([:])

    init(server: NATSServerFixture) {
        self.url = server.url
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
        var options = NATSOptions(servers: [url])
        options.reconnectBackoffBase = .milliseconds(20)
        options.maxReconnectAttempts = nil
        return Eventbase.builder(streamName: streamName)
            .stateStore(store("\(streamName)/\(replicaName)"))
            .nats(options, stream: testStreamOptions())
    }
}

/// Waits for `condition`, re-checking after each change `eventbase` applies, failing after `timeout`.
func eventually(
    _ eventbase: Eventbase, timeout: Duration = .seconds(10), _ what: String,
    _ condition: @escaping @Sendable () async throws -> Bool
) async throws {
    let changes = eventbase.changes(matching: [:])
    if try await condition() { return }
    try await withTimeout(timeout, what) {
        for try await _ in changes where try await condition() { return }
        throw TestFailure("\(what): the instance stopped first")
    }
}

/// A failed expectation inside helpers.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body`, failing with a `TestFailure` after `timeout`.
func withTimeout<T: Sendable>(
    _ timeout: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    do {
        return try await withDeadline(timeout, clock: ContinuousClock(), what, operation: body)
    } catch let error as EventbaseError where error.code == .timeout {
        throw TestFailure("timed out after \(timeout): \(what)")
    }
}
