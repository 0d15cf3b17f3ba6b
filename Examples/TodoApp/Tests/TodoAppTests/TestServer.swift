import Eventbase
import EventbaseServiceLifecycle
import EventbaseTestKit
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization
import TodoServer

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One to-do server, as the executable runs it (its own NATS connection, a service group with the
/// instance and the HTTP server), on a free port.
final class TestServer: Sendable {
    let eventbase: Eventbase
    let port: Int
    private let group: ServiceGroup
    private let running: Task<Void, any Error>

    var url: String { "http://127.0.0.1:\(port)" }

    private init(eventbase: Eventbase, port: Int, group: ServiceGroup, running: Task<Void, any Error>) {
        self.eventbase = eventbase
        self.port = port
        self.group = group
        self.running = running
    }

    static func start(nats: NATSServerFixture, stream: String) async throws -> TestServer {
        let quiet = Logger(label: "todo.test", factory: { _ in SwiftLogNoOpLogHandler() })
        var options = NATSOptions(servers: [nats.url])
        options.reconnectBackoffBase = .milliseconds(20)
        let eventbase = try await Eventbase.builder(streamName: stream).nats(options).build()
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = TodoApplication.make(eventbase: eventbase, port: 0, logger: quiet) { port in
            portContinuation.yield(port)
            portContinuation.finish()
        }
        let group = ServiceGroup(services: [EventbaseService(eventbase), app], logger: quiet)
        let running = Task { try await group.run() }
        guard
            let port = try await withTimeout(.seconds(10), "the server to listen", { await ports.first { _ in true } })
        else {
            running.cancel()
            throw TestFailure("The server did not start.")
        }
        return TestServer(eventbase: eventbase, port: port, group: group, running: running)
    }

    /// Shuts down gracefully, as SIGTERM would.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await withTimeout(.seconds(20), "the server to stop") { [running] in try await running.value }
    }

    /// Sends a request and returns the status and the JSON body (if any).
    func request(_ method: String, _ path: String, _ body: JSONValue? = nil) async throws -> (Int, JSONValue?) {
        let (status, json, _) = try await exchange(method, path, body)
        return (status, json)
    }

    /// Sends a request with `headers`; returns the status, the JSON body (if any) and the response's
    /// `Eventbase-Revision`.
    func exchange(
        _ method: String, _ path: String, _ body: JSONValue? = nil, headers: [String: String] = [:]
    ) async throws -> (Int, JSONValue?, String?) {
        var request = URLRequest(url: URL(string: url + path)!)
        request.httpMethod = method
        request.timeoutInterval = 10
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let body {
            request.httpBody = Data(body.jsonBytes())
            request.setValue("application/json", forHTTPHeaderField: "content-type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let json = data.isEmpty ? nil : try JSONValue(jsonBytes: Array(data))
        let revision = (response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Eventbase-Revision")
        return (status, json, revision)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body`, failing after `timeout`.
func withTimeout<T: Sendable>(
    _ timeout: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TestFailure("Timed out after \(timeout) waiting for \(what).")
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
