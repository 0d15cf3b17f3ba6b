import Eventbase
import EventbaseCore
import EventbaseTestKit
import Foundation
import Logging
import Synchronization
import Testing

/// The seed of a scenario: `FAULT_SEED` if set (to replay a failure or vary a soak run), else `fallback`.
func scenarioSeed(_ fallback: UInt64) -> UInt64 {
    ProcessInfo.processInfo.environment["FAULT_SEED"].flatMap { UInt64($0) } ?? fallback
}

/// How many acknowledged writes a scenario waits for between phases: `FAULT_LOAD` if set (the soak
/// script raises it), else `fallback`.
func scenarioLoad(_ fallback: Int) -> Int {
    ProcessInfo.processInfo.environment["FAULT_LOAD"].flatMap { Int($0) } ?? fallback
}

/// A failed expectation inside helpers.
struct ScenarioFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// NATS options for fault scenarios: 1-second pings (a hung server is noticed in a few seconds),
/// fast unlimited reconnects.
func faultNATSOptions(_ url: String) -> NATSOptions {
    faultNATSOptions(servers: [url])
}

/// ``faultNATSOptions(_:)`` with several servers (a cluster).
func faultNATSOptions(servers: [String]) -> NATSOptions {
    var options = NATSOptions(servers: servers)
    options.pingInterval = .seconds(1)
    options.maxOutstandingPings = 2
    options.reconnectBackoffBase = .milliseconds(20)
    options.reconnectBackoffMax = .milliseconds(250)
    options.maxReconnectAttempts = nil
    options.connectTimeout = .seconds(1)
    options.requestTimeout = .seconds(2)
    return options
}

/// Stream options for fault scenarios: 2-second requests and half-second heartbeats.
func faultStreamOptions(replicas: Int = 1) -> JetStreamStreamOptions {
    JetStreamStreamOptions(replicas: replicas, requestTimeout: .seconds(2), idleHeartbeat: .milliseconds(500))
}

/// The deadline every write must end within: the write timeout plus one request timeout (the
/// append's own deadline runs before the wait for the replica) and some slack for a loaded machine.
let writeTimeout: Duration = .seconds(4)
let operationDeadline: Duration = .seconds(10)

/// One Eventbase instance with its own NATS connection and in-memory replica.
struct Instance {
    let eventbase: Eventbase
    /// The instance's own NATS connection (`nil` over a simulated server).
    let transport: NATSTransport?

    static func open(
        url: String, stream: String, nats: NATSOptions? = nil, store: any StateStore = InMemoryStateStore(),
        replicas: Int = 1, shippedDefaults: Bool = false, logger: Logger? = nil
    ) async throws -> Instance {
        let transport = NATSTransport(nats ?? (shippedDefaults ? NATSOptions(servers: [url]) : faultNATSOptions(url)))
        let streamOptions =
            shippedDefaults ? JetStreamStreamOptions(replicas: replicas) : faultStreamOptions(replicas: replicas)
        let eventbase = try await Eventbase.builder(streamName: stream)
            .transport(transport)
            .eventLog(
                JetStreamEventLog(
                    streamName: stream, transport: transport, options: streamOptions,
                    logger: logger ?? Logger(label: "faults", factory: { _ in SwiftLogNoOpLogHandler() }))
            )
            .stateStore(store)
            .configure {
                if !shippedDefaults { $0.writeTimeout = writeTimeout }
                // Keep every event, so the checkers can find each acknowledged write in the stream.
                $0.retention = .everything
            }
            .build()
        return Instance(eventbase: eventbase, transport: transport)
    }

    /// Every document the replica holds, by key.
    func documents() async throws -> [String: JSONValue] {
        var documents: [String: JSONValue] = [:]
        for key in try await eventbase.keys() {
            documents[key] = try await eventbase.get(key)?.data
        }
        return documents
    }

    /// Waits until the replica has applied `sequence`.
    func waitUntilApplied(_ sequence: UInt64, timeout: Duration = .seconds(20)) async throws {
        let changes = eventbase.changes(matching: [:])
        if eventbase.appliedSequence >= sequence { return }
        let eventbase = self.eventbase
        try await withDeadline(timeout, clock: ContinuousClock(), "replica applying \(sequence)") {
            for try await _ in changes where eventbase.appliedSequence >= sequence { return }
            if eventbase.appliedSequence < sequence {
                throw ScenarioFailure("the replica stopped at \(eventbase.appliedSequence) before \(sequence)")
            }
        }
    }

    func close() async {
        await eventbase.close()
        await transport?.close()
    }
}

/// Writers that put to their own keys as fast as the instance acknowledges, recording each
/// operation in a ``FaultHistory``. Writer `w` owns keys `w<w>-k<j>` and writes increasing `n` to each.
final class WriteLoad: Sendable {
    let history: FaultHistory
    private let stopped = Atomic<Bool>(false)
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(history: FaultHistory) {
        self.history = history
    }

    /// Starts `writers` writers on `eventbase`, choosing keys from `seed`; they run until ``stop()``.
    /// A write whose outcome is unknown is retried with its idempotency key up to `maxRetries` times.
    func start(on eventbase: Eventbase, writers: Int = 4, keysPerWriter: Int = 8, seed: UInt64, maxRetries: Int = 3) {
        let task = Task { [self] in
            await run(
                on: eventbase, writers: writers, keysPerWriter: keysPerWriter, seed: seed, backoff: .milliseconds(20),
                maxRetries: maxRetries)
        }
        self.task.withLock { $0 = task }
    }

    /// Runs `writers` writers on `eventbase` until ``stop()`` or until each has made `operations`
    /// writes. After a failed write a writer waits `backoff`, as an application would: some failures
    /// (no stream leader yet) come at once, and retrying in a tight loop only burns the CPU the
    /// server needs to recover. That paces the load; no test waits on it.
    func run(
        on eventbase: Eventbase, writers: Int, keysPerWriter: Int, seed: UInt64, operations: Int = .max,
        backoff: Duration?, maxRetries: Int = .max
    ) async {
        let history = self.history
        await withTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask { [self] in
                    var random = SeededGenerator(seed: seed &+ UInt64(writer))
                    var counters = [Int](repeating: 0, count: keysPerWriter)
                    var op = 0
                    while !stopped.load(ordering: .relaxed), op < operations {
                        let slot = Int.random(in: 0..<keysPerWriter, using: &random)
                        counters[slot] += 1
                        op += 1
                        let key = "w\(writer)-k\(slot)"
                        let opID = "w\(writer)-\(op)"
                        let value: JSONValue = [
                            "op": .string(opID), "n": .number(Double(counters[slot])),
                            "writer": .number(Double(writer)),
                        ]
                        let index = history.invoke(key: key, value: value, opID: opID)
                        // A write whose outcome is unknown is retried with its idempotency key (the
                        // op id) until it is acknowledged or refused, or `maxRetries` times, as the
                        // write contract advises: the check then finds no op stored twice.
                        var retries = 0
                        while true {
                            do {
                                let record = try await eventbase.put(key, value, idempotencyKey: opID)
                                history.complete(index, outcome: .ok, sequence: record.meta.revision)
                                break
                            } catch {
                                if let backoff { try? await Task.sleep(for: backoff) }
                                let code = (error as? EventbaseError)?.code
                                let unknown = code == .timeout || code == .unavailable
                                if unknown, retries < maxRetries, !stopped.load(ordering: .relaxed) {
                                    retries += 1
                                    history.retried(index)
                                    continue
                                }
                                history.complete(index, error: error)
                                break
                            }
                        }
                    }
                }
            }
        }
    }

    /// Stops the writers and waits for their last operations to end.
    func stop() async {
        stopped.store(true, ordering: .relaxed)
        await task.withLock { $0 }?.value
    }
}

/// Stops the load, waits for quiescence, reads the stream raw, opens a fresh replica, and checks
/// everything. Publishes the figures and records an issue for each failed criterion.
func finish(
    _ scenario: String, seed: UInt64, load: WriteLoad, url: String, stream: String, instances: [Instance],
    deadline: Duration = operationDeadline
) async throws -> FaultReport {
    await load.stop()
    let reader = NATSTransport(faultNATSOptions(url))
    let messages: [RawStreamMessage]
    do {
        try await reader.connect()
        messages = try await RawStreamReader.read(stream, over: reader)
        await reader.close()
    } catch {
        await reader.close()
        throw error
    }
    let last = messages.last?.sequence ?? 0
    var replicas: [String: [String: JSONValue]] = [:]
    for (index, instance) in instances.enumerated() {
        try await instance.waitUntilApplied(last)
        replicas["instance\(index)"] = try await instance.documents()
    }
    let fresh = try await Instance.open(url: url, stream: stream)
    replicas["fresh"] = try await fresh.documents()
    let freshApplied = fresh.eventbase.appliedSequence
    await fresh.close()
    let report = FaultReport(
        scenario: scenario, seed: seed, history: load.history, stream: stream, messages: messages,
        replicas: replicas, deadline: deadline)
    report.publish()
    if !report.divergent.isEmpty {
        // What differs, for the failure's message: each divergent replica's keys against the fold.
        let fold = IndependentFold(stream: stream, messages: messages).documents
        for name in report.divergent {
            let documents = replicas[name] ?? [:]
            let keys = Set(fold.keys).union(documents.keys).filter { fold[$0] != documents[$0] }.sorted()
            print(
                "DIVERGENT \(name) (stream read up to \(last), fresh replica applied \(freshApplied)): "
                    + keys.prefix(5).map {
                        "\($0): fold \(fold[$0].map { "\($0)" } ?? "-") replica \(documents[$0].map { "\($0)" } ?? "-")"
                    }
                    .joined(separator: "; "))
        }
    }
    #expect(report.lost.isEmpty, "lost acknowledged writes: \(report.lost.prefix(10))")
    #expect(report.duplicated.isEmpty, "writes stored twice: \(report.duplicated.prefix(10))")
    #expect(report.phantom.isEmpty, "rejected writes stored: \(report.phantom.prefix(10))")
    #expect(report.unfinished.isEmpty, "operations past their deadline: \(report.unfinished.prefix(10))")
    #expect(report.divergent.isEmpty, "replicas differing from the stream: \(report.divergent)")
    #expect(report.acknowledged > 0)
    return report
}

/// Sends a JetStream API request over `transport` and returns the JSON reply (raw, not through the
/// JetStream adapter).
func jetStreamAPI(_ transport: any Transport, _ subject: String, _ body: JSONValue = [:]) async throws -> JSONValue {
    let reply = try await transport.request("$JS.API." + subject, payload: body.jsonBytes(), timeout: .seconds(5))
    return try JSONValue(jsonBytes: reply.payload)
}
