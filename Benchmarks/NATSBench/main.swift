// The NATS client's performance requirement, on a real nats-server over loopback.
//
//     swift run -c release NATSBench [--messages N] [--round-trips N] [--server URL] [--json FILE]
//
// Without --server it starts a throwaway nats-server (NATS_SERVER_BIN, default the newest installed) on a
// free loopback port with JetStream and a temporary store, and stops it at the end.
//
// - publish: fire-and-forget PUBs of 128-byte payloads on one connection, then one flush; msgs/s against the
//   official C client's figure on this kind of machine (4,900,000/s, nats-server 2.15.1, no subscriber).
//   The target is half of it.
// - ping: sequential PING/PONG round trips (`flush(timeout:)`) on one connection; p50/p99.
// - request: sequential request/reply round trips on the same connection against a responder on a second
//   connection; p50/p99, against the PING/PONG p50 of the same run (target: ratio <= 1.2). The responder
//   runs on its transport's `taskExecutor` (request_reply_rtt), then on the global pool
//   (request_reply_rtt_pool) for comparison.
import EventbaseBenchmarkSuite
import EventbaseCore
import EventbaseNATS
import EventbaseTestKit
import Foundation

enum BenchError: Error { case usage(String) }

func seconds(_ duration: Duration) -> Double { Measure.seconds(duration) }

func percentile(_ sorted: [Double], _ p: Int) -> Double { Measure.percentile(sorted, Double(p) / 100) }

func main() async throws {
    var arguments = CommandLine.arguments.dropFirst()
    var messages = 5_000_000
    var roundTrips = 20_000
    var serverURL: String?
    var jsonPath: String?
    let messageSize = 128
    let cBaseline = 4_900_000.0
    while let argument = arguments.popFirst() {
        switch argument {
        case "--messages": messages = Int(arguments.popFirst() ?? "") ?? messages
        case "--round-trips": roundTrips = Int(arguments.popFirst() ?? "") ?? roundTrips
        case "--server": serverURL = arguments.popFirst()
        case "--json": jsonPath = arguments.popFirst()
        default:
            FileHandle.standardError.write(
                Data(
                    "usage: NATSBench [--messages N] [--round-trips N] [--server URL] [--json FILE]\n".utf8))
            exit(2)
        }
    }

    let newest = "/root/.pyenv/versions/3.11.7/bin/nats-server"
    if ProcessInfo.processInfo.environment["NATS_SERVER_BIN"] == nil, FileManager.default.fileExists(atPath: newest) {
        setenv("NATS_SERVER_BIN", newest, 1)
    }
    var fixture: NATSServerFixture?
    if serverURL == nil {
        let server = try await NATSServerFixture.start()
        fixture = server
        serverURL = server.url
    }
    let url = serverURL ?? ""
    let cores = ProcessInfo.processInfo.activeProcessorCount

    let client = NATSTransport(NATSOptions(servers: [url]))
    let responder = NATSTransport(NATSOptions(servers: [url]))
    var results: [BenchmarkResult] = []
    do {
        try await client.connect()
        try await responder.connect()
        let serverVersion: String
        if let version = NATSServerFixture.binaryVersion(), fixture != nil {
            serverVersion = version.map(String.init).joined(separator: ".")
        } else {
            serverVersion = "external"
        }
        print(
            "nats-server \(serverVersion) at \(url), \(cores) cores, \(BenchmarkEnvironment.currentBuildConfiguration) build"
        )

        let environment = BenchmarkEnvironment(
            serverVersion: serverVersion, cores: cores,
            buildConfiguration: BenchmarkEnvironment.currentBuildConfiguration, messageSize: messageSize)
        func record(
            _ name: String, operations: Int, seconds: Double, latencies: [Double]?, baseline: String,
            baselineOps: Double, ratio: Double? = nil
        ) {
            let (p50, p99) = Measure.percentilesMicroseconds(latencies ?? [])
            var result = BenchmarkResult(
                name: name, operations: operations, seconds: seconds, opsPerSecond: Double(operations) / seconds,
                p50Microseconds: p50, p99Microseconds: p99, unit: "ops/s", baseline: baseline,
                baselineOpsPerSecond: baselineOps, environment: environment)
            if let ratio { result.ratio = ratio }
            results.append(result)
        }

        // (a) Fire-and-forget publish, then one flush.
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: messageSize)
        let clock = ContinuousClock()
        // Warm up the connection and the allocator.
        for _ in 0..<10_000 { try await client.publish("bench.publish", payload: payload, headers: nil, replyTo: nil) }
        try await client.flush(timeout: .seconds(30))
        let publishStart = clock.now
        for _ in 0..<messages {
            try await client.publish("bench.publish", payload: payload, headers: nil, replyTo: nil)
        }
        try await client.flush(timeout: .seconds(60))
        let publishSeconds = seconds(publishStart.duration(to: clock.now))
        let publishRate = Double(messages) / publishSeconds
        record(
            "publish_128B", operations: messages, seconds: publishSeconds, latencies: nil,
            baseline: "C client 4.9M/s", baselineOps: cBaseline)
        record(
            "publish_128B_vs_target", operations: messages, seconds: publishSeconds, latencies: nil,
            baseline: "half of C client", baselineOps: cBaseline / 2)
        _ = publishRate

        // (b) PING/PONG round trips.
        for _ in 0..<1_000 { try await client.flush(timeout: .seconds(5)) }
        var pingLatencies = [Double]()
        pingLatencies.reserveCapacity(roundTrips)
        let pingStart = clock.now
        for _ in 0..<roundTrips {
            let start = clock.now
            try await client.flush(timeout: .seconds(5))
            pingLatencies.append(seconds(start.duration(to: clock.now)))
        }
        let pingSeconds = seconds(pingStart.duration(to: clock.now))

        // (c) Request/reply against a responder on a second connection, the responder running on its
        // transport's task executor (the connection's event loop); then, for comparison, on the global pool.
        func requestRoundTrips(
            _ name: String, responderOnEventLoop: Bool, responder: NATSTransport = responder
        ) async throws -> (seconds: Double, requests: [Double], pings: [Double]) {
            let subject = "bench.request.\(name)"
            let subscription = try await responder.subscribe(subject, queue: nil)
            try await responder.flush(timeout: .seconds(5))
            let answer: @Sendable () async throws -> Void = {
                for try await message in subscription {
                    guard let replyTo = message.replyTo else { continue }
                    try await responder.publish(replyTo, payload: message.payload, headers: nil, replyTo: nil)
                }
            }
            let executor = responder.taskExecutor
            let responderTask =
                responderOnEventLoop
                ? Task(executorPreference: executor) { try await answer() } : Task { try await answer() }
            let requestPayload = [UInt8](repeating: UInt8(ascii: "r"), count: messageSize)
            for _ in 0..<1_000 {
                _ = try await client.request(subject, payload: requestPayload, headers: nil, timeout: .seconds(5))
            }
            // Each request follows a PING/PONG on the same connection, so that both see the same load on
            // this shared machine; the ratio compares their medians.
            var latencies = [Double]()
            var pings = [Double]()
            latencies.reserveCapacity(roundTrips)
            pings.reserveCapacity(roundTrips)
            var total = 0.0
            for _ in 0..<roundTrips {
                let pingStart = clock.now
                try await client.flush(timeout: .seconds(5))
                let requestStart = clock.now
                _ = try await client.request(subject, payload: requestPayload, headers: nil, timeout: .seconds(5))
                let requestEnd = clock.now
                pings.append(seconds(pingStart.duration(to: requestStart)))
                latencies.append(seconds(requestStart.duration(to: requestEnd)))
                total += latencies[latencies.count - 1]
            }
            await subscription.unsubscribe()
            responderTask.cancel()
            return (total, latencies, pings)
        }
        let loop = try await requestRoundTrips("loop", responderOnEventLoop: true)
        let pool = try await requestRoundTrips("pool", responderOnEventLoop: false)
        let same = try await requestRoundTrips("same", responderOnEventLoop: true, responder: client)

        let pingP50 = percentile(pingLatencies.sorted(), 50)
        record(
            "ping_pong_rtt", operations: roundTrips, seconds: pingSeconds, latencies: pingLatencies,
            baseline: "C client PING/PONG 65us", baselineOps: 1 / 65e-6, ratio: pingP50 / 65e-6)
        for (name, run) in [
            ("request_reply_rtt", loop), ("request_reply_rtt_pool", pool), ("request_reply_rtt_same_conn", same),
        ] {
            let interleavedPing = percentile(run.pings.sorted(), 50)
            record(
                name, operations: roundTrips, seconds: run.seconds, latencies: run.requests,
                baseline: String(format: "interleaved PING p50 %.1fus", interleavedPing * 1e6),
                baselineOps: 1 / interleavedPing, ratio: percentile(run.requests.sorted(), 50) / interleavedPing)
        }
    } catch {
        await client.close()
        await responder.close()
        await fixture?.stopAndRemove()
        throw error
    }
    await client.close()
    await responder.close()
    await fixture?.stopAndRemove()

    print("")
    print(BenchmarkReport.table(results))
    let publish = results[0]
    let request = results[3]
    print("")
    print(
        String(
            format: "publish: %.2fx of the C client, target >= 0.50x: %@", publish.ratio,
            publish.ratio >= 0.5 ? "met" : "NOT met"))
    print(
        String(
            format: "request/reply p50 / PING/PONG p50 = %.2f, target <= 1.20: %@", request.ratio,
            request.ratio <= 1.2 ? "met" : "NOT met"))

    if let jsonPath {
        try BenchmarkReport.jsonLines(results).write(toFile: jsonPath, atomically: true, encoding: .utf8)
        print("wrote \(jsonPath)")
    }
}

try await main()
