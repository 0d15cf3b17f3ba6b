// The NATS client's performance requirement (issue 3), on a real nats-server over loopback.
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
import EventbaseCore
import EventbaseNATS
import EventbaseTestKit
import Foundation

struct Result: Codable {
    var name: String
    var operations: Int
    var seconds: Double
    var opsPerSecond: Double
    var p50Microseconds: Double?
    var p99Microseconds: Double?
    var baseline: String
    var baselineOpsPerSecond: Double
    var ratio: Double
    var serverVersion: String
    var cores: Int
    var buildConfiguration: String
    var messageSize: Int

    enum CodingKeys: String, CodingKey {
        case name, operations, seconds, ratio, baseline, cores
        case opsPerSecond = "ops_per_s"
        case p50Microseconds = "p50_us"
        case p99Microseconds = "p99_us"
        case baselineOpsPerSecond = "baseline_ops_per_s"
        case serverVersion = "server_version"
        case buildConfiguration = "build_configuration"
        case messageSize = "message_size"
    }
}

enum BenchError: Error { case usage(String) }

func seconds(_ duration: Duration) -> Double {
    let (s, atto) = duration.components
    return Double(s) + Double(atto) / 1e18
}

func pad(_ text: String, _ width: Int) -> NSString {
    text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0) as NSString
}

func percentile(_ sorted: [Double], _ p: Int) -> Double {
    sorted[min(sorted.count - 1, sorted.count * p / 100)]
}

#if DEBUG
    let buildConfiguration = "debug"
#else
    let buildConfiguration = "release"
#endif

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
    var results: [Result] = []
    do {
        try await client.connect()
        try await responder.connect()
        let serverVersion: String
        if let version = NATSServerFixture.binaryVersion(), fixture != nil {
            serverVersion = version.map(String.init).joined(separator: ".")
        } else {
            serverVersion = "external"
        }
        print("nats-server \(serverVersion) at \(url), \(cores) cores, \(buildConfiguration) build")

        func record(
            _ name: String, operations: Int, seconds: Double, latencies: [Double]?, baseline: String,
            baselineOps: Double, ratio: Double? = nil
        ) {
            var p50: Double?
            var p99: Double?
            if var latencies, !latencies.isEmpty {
                latencies.sort()
                p50 = percentile(latencies, 50) * 1e6
                p99 = percentile(latencies, 99) * 1e6
            }
            let ops = Double(operations) / seconds
            results.append(
                Result(
                    name: name, operations: operations, seconds: seconds, opsPerSecond: ops, p50Microseconds: p50,
                    p99Microseconds: p99, baseline: baseline, baselineOpsPerSecond: baselineOps,
                    ratio: ratio ?? ops / baselineOps, serverVersion: serverVersion, cores: cores,
                    buildConfiguration: buildConfiguration, messageSize: messageSize))
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
    print(
        "benchmark                      ops        seconds       ops/s    p50 us    p99 us   baseline                    baseline ops/s   ratio"
    )
    for r in results {
        let p50 = r.p50Microseconds.map { String(format: "%9.1f", $0) } ?? "        -"
        let p99 = r.p99Microseconds.map { String(format: "%9.1f", $0) } ?? "        -"
        print(
            String(
                format: "%@ %9d %10.3f %12.0f %@ %@   %@ %14.0f   %.3f", pad(r.name, 24), r.operations,
                r.seconds, r.opsPerSecond, p50 as NSString, p99 as NSString, pad(r.baseline, 27),
                r.baselineOpsPerSecond, r.ratio))
    }
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
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let lines = try results.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: jsonPath, atomically: true, encoding: .utf8)
        print("wrote \(jsonPath)")
    }
}

try await main()
