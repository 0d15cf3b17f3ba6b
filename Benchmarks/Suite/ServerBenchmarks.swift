import Eventbase
import EventbaseCore
import Foundation

/// The benchmarks that run against a nats-server: Eventbase on JetStream against raw JetStream driven by
/// the same NATS client (`NATSTransport`) in the same run.
struct ServerBenchmarks {
    let url: String
    let configuration: BenchmarkConfiguration
    let environment: BenchmarkEnvironment
    let transport: NATSTransport
    let js: JetStreamContext
    /// Where file stores are created (removed by the suite at the end).
    let scratch: String
    let progress: @Sendable (String) -> Void

    static func streamName(_ label: String) -> String { "bench_\(label)_\(UInt32.random(in: 0...UInt32.max))" }

    /// A builder for an instance on `stream` with deadlines long enough for a loaded machine.
    func builder(_ stream: String) -> EventbaseBuilder {
        Eventbase.builder(streamName: stream).nats(NATSOptions(servers: [url])).configure {
            $0.writeTimeout = .seconds(120)
            $0.openTimeout = .seconds(3600)
        }
    }

    func createRawStream(_ label: String) async throws -> String {
        let name = Self.streamName(label)
        _ = try await js.createStream(JetStreamStreamOptions().streamConfig(name: name))
        return name
    }

    /// Times `measured` and `baseline` over `count` operations each, alternating in `rounds` slices so
    /// that both see the same load on a shared machine. Returns the seconds of each.
    func paired(
        _ count: Int, rounds: Int = 2, measured: (Range<Int>) async throws -> Void,
        baseline: (Range<Int>) async throws -> Void
    ) async throws -> (measured: Double, baseline: Double) {
        var measuredSeconds = 0.0
        var baselineSeconds = 0.0
        let slice = (count + rounds - 1) / rounds
        for start in stride(from: 0, to: count, by: slice) {
            let range = start..<min(count, start + slice)
            baselineSeconds += try await Measure.time { try await baseline(range) }
            measuredSeconds += try await Measure.time { try await measured(range) }
        }
        return (measuredSeconds, baselineSeconds)
    }

    // MARK: Puts

    /// put_seq: one writer, one put at a time, vs publish-with-ack one at a time.
    func putSequential() async throws -> BenchmarkResult {
        let count = configuration.sequentialPuts
        let payloads = (0..<count).map(BenchmarkData.payload)
        let raw = try await createRawStream("putseq_raw")
        let eventbase = try await builder(Self.streamName("putseq")).build()
        let clock = ContinuousClock()
        var latencies: [Double] = []
        latencies.reserveCapacity(count)
        let warmUp = 20
        for index in 0..<warmUp {
            _ = try await js.publish(BenchmarkData.subject(stream: raw, count + index), payload: payloads[0])
            _ = try await eventbase.put(BenchmarkData.key(count + index), BenchmarkData.document(index))
        }
        let (seconds, baselineSeconds) = try await paired(count) { range in
            for index in range {
                let start = clock.now
                _ = try await eventbase.put(BenchmarkData.key(index), BenchmarkData.document(index))
                latencies.append(Measure.seconds(start.duration(to: clock.now)))
            }
        } baseline: { range in
            for index in range {
                _ = try await js.publish(BenchmarkData.subject(stream: raw, index), payload: payloads[index])
            }
        }
        try await eventbase.deleteStream()
        try await js.deleteStream(raw)
        let (p50, p99) = Measure.percentilesMicroseconds(latencies)
        return BenchmarkResult(
            name: "put_seq", operations: count, seconds: seconds, opsPerSecond: Double(count) / seconds,
            p50Microseconds: p50, p99Microseconds: p99, unit: "puts/s",
            baseline: "raw publish-with-ack, one at a time", baselineOpsPerSecond: Double(count) / baselineSeconds,
            environment: environment)
    }

    /// put_seq_idempotent: one writer, one put at a time with an idempotency key, vs the same puts
    /// without one, on the same instance.
    func putSequentialIdempotent() async throws -> BenchmarkResult {
        let count = configuration.sequentialPuts
        let stream = Self.streamName("putseqidem")
        let eventbase = try await builder(stream).build()
        for index in 0..<20 {
            _ = try await eventbase.put("warm-\(index)", BenchmarkData.document(index))
            _ = try await eventbase.put(
                "warm-idem-\(index)", BenchmarkData.document(index), idempotencyKey: "w\(index)")
        }
        let (seconds, baselineSeconds) = try await paired(count, rounds: 4) { range in
            for index in range {
                _ = try await eventbase.put(
                    "idem-" + BenchmarkData.key(index), BenchmarkData.document(index), idempotencyKey: "r\(index)")
            }
        } baseline: { range in
            for index in range {
                _ = try await eventbase.put(BenchmarkData.key(index), BenchmarkData.document(index))
            }
        }
        try await eventbase.deleteStream()
        return BenchmarkResult(
            name: "put_seq_idempotent", operations: count, seconds: seconds, opsPerSecond: Double(count) / seconds,
            unit: "puts/s", baseline: "put without an idempotency key, one at a time",
            baselineOpsPerSecond: Double(count) / baselineSeconds, environment: environment)
    }

    /// get_latest: `get` at `.latest` (the stream's last sequence asked of the server, then the local
    /// read) vs at `.local`, and a direct get's round trip, each one at a time, medians compared.
    func getLatest() async throws -> BenchmarkResult {
        let count = configuration.directGets
        let stream = Self.streamName("getlatest")
        let eventbase = try await builder(stream).build()
        let stored = 100
        for index in 0..<stored { _ = try await eventbase.put(BenchmarkData.key(index), BenchmarkData.document(index)) }
        let clock = ContinuousClock()
        func latencies(_ read: (Int) async throws -> Void) async throws -> [Double] {
            for index in 0..<min(count, 50) { try await read(index) }
            var latencies: [Double] = []
            latencies.reserveCapacity(count)
            for index in 0..<count {
                let start = clock.now
                try await read(index)
                latencies.append(Measure.seconds(start.duration(to: clock.now)))
            }
            return latencies
        }
        let js = self.js
        var local: [Double] = []
        var latest: [Double] = []
        var direct: [Double] = []
        var lastMessage: [Double] = []
        let wildcard = EventCodec.wildcardSubject(stream: stream)
        // Interleaved in slices, so that all three see the same load.
        for _ in 0..<2 {
            local += try await latencies { _ = try await eventbase.get(BenchmarkData.key($0 % stored)) }
            latest += try await latencies {
                _ = try await eventbase.get(BenchmarkData.key($0 % stored), consistency: .latest)
            }
            direct += try await latencies {
                _ = try await js.message(stream: stream, sequence: UInt64($0 % stored + 1), direct: true)
            }
            // What `.latest` asks the server: the newest message on any of the stream's subjects.
            lastMessage += try await latencies { _ in
                _ = try await js.lastMessage(stream: stream, subject: wildcard, direct: true)
            }
        }
        try await eventbase.deleteStream()
        let (latestP50, latestP99) = Measure.percentilesMicroseconds(latest)
        let (localP50, _) = Measure.percentilesMicroseconds(local)
        let (directP50, _) = Measure.percentilesMicroseconds(direct)
        let (lastMessageP50, _) = Measure.percentilesMicroseconds(lastMessage)
        func rate(_ latencies: [Double]) -> Double { Double(latencies.count) / max(latencies.reduce(0, +), 1e-9) }
        return BenchmarkResult(
            name: "get_latest", operations: latest.count, seconds: latest.reduce(0, +), opsPerSecond: rate(latest),
            p50Microseconds: latestP50, p99Microseconds: latestP99, unit: "gets/s",
            baseline: "get at .local (p50 \(String(format: "%.1f", localP50 ?? 0)) us)",
            baselineOpsPerSecond: rate(local),
            reference:
                "direct get by sequence (p50 \(String(format: "%.1f", directP50 ?? 0)) us; of the newest message, as .latest asks: \(String(format: "%.1f", lastMessageP50 ?? 0)) us)",
            referenceOpsPerSecond: rate(direct),
            baselineP50Microseconds: localP50, referenceP50Microseconds: directP50, environment: environment)
    }

    /// put_conc: `writers` concurrent writers vs raw publish with as many acks in flight.
    func putConcurrent() async throws -> BenchmarkResult {
        let count = configuration.puts
        let writers = configuration.writers
        let payloads = (0..<count).map(BenchmarkData.payload)
        let raw = try await createRawStream("putconc_raw")
        let eventbase = try await builder(Self.streamName("putconc")).build()
        let js = self.js
        let (seconds, baselineSeconds) = try await paired(count) { range in
            try await Measure.concurrently(range.count, width: writers) { offset in
                let index = range.lowerBound + offset
                _ = try await eventbase.put(BenchmarkData.key(index), BenchmarkData.document(index))
            }
        } baseline: { range in
            try await Measure.concurrently(range.count, width: writers) { offset in
                let index = range.lowerBound + offset
                _ = try await js.publish(BenchmarkData.subject(stream: raw, index), payload: payloads[index])
            }
        }
        try await eventbase.deleteStream()
        try await js.deleteStream(raw)
        return BenchmarkResult(
            name: "put_conc", operations: count, seconds: seconds, opsPerSecond: Double(count) / seconds,
            unit: "puts/s", baseline: "raw publish-with-ack, \(writers) in flight",
            baselineOpsPerSecond: Double(count) / baselineSeconds, environment: environment)
    }

    /// put_pipelined: many writers vs raw publish with `acksInFlight` acks pipelined on one subscription.
    func putPipelined() async throws -> BenchmarkResult {
        let count = configuration.puts
        let writers = configuration.pipelinedWriters
        let window = configuration.acksInFlight
        let payloads = (0..<count).map(BenchmarkData.payload)
        let raw = try await createRawStream("putpipe_raw")
        let eventbase = try await builder(Self.streamName("putpipe")).build()
        let (seconds, baselineSeconds) = try await paired(count) { range in
            try await Measure.concurrently(range.count, width: writers) { offset in
                let index = range.lowerBound + offset
                _ = try await eventbase.put(BenchmarkData.key(index), BenchmarkData.document(index))
            }
        } baseline: { range in
            try await publishPipelined(range, window: window) { index in
                (BenchmarkData.subject(stream: raw, index), payloads[index])
            }
        }
        try await eventbase.deleteStream()
        try await js.deleteStream(raw)
        return BenchmarkResult(
            name: "put_pipelined", operations: count, seconds: seconds, opsPerSecond: Double(count) / seconds,
            unit: "puts/s", baseline: "raw publish, \(window) acks pipelined",
            baselineOpsPerSecond: Double(count) / baselineSeconds,
            reference: "C client, 4096 acks pipelined", referenceOpsPerSecond: BenchmarkTarget.cPipelinedPublish,
            environment: environment)
    }

    /// stats_overhead: put_conc on an instance with a stats stream vs one without.
    func statsOverhead() async throws -> BenchmarkResult {
        let count = configuration.puts
        let writers = configuration.writers
        let plainStream = Self.streamName("stats_off")
        let statsStream = Self.streamName("stats_on")
        let plain = try await builder(plainStream).build()
        let withStats = try await builder(statsStream).statsStreamName(statsStream + "_stats").build()
        func puts(_ eventbase: Eventbase, _ range: Range<Int>) async throws {
            try await Measure.concurrently(range.count, width: writers) { offset in
                let index = range.lowerBound + offset
                _ = try await eventbase.put(BenchmarkData.key(index), BenchmarkData.document(index))
            }
        }
        let (seconds, baselineSeconds) = try await paired(count) { range in
            try await puts(withStats, range)
        } baseline: { range in
            try await puts(plain, range)
        }
        try await plain.deleteStream()
        try await withStats.deleteStream()
        try? await js.deleteStream(statsStream + "_stats")
        return BenchmarkResult(
            name: "stats_overhead", operations: count, seconds: seconds, opsPerSecond: Double(count) / seconds,
            unit: "puts/s", baseline: "put_conc without a stats stream",
            baselineOpsPerSecond: Double(count) / baselineSeconds, environment: environment)
    }

    // MARK: Replay, snapshots, memory

    /// replay, open_snapshot and memory, over one stream of `records` put events.
    func replayGroup(_ names: Set<String>) async throws -> [BenchmarkResult] {
        let count = configuration.records
        let stream = try await createRawStream("replay")
        let fillSeconds = try await Measure.time {
            try await publishPipelined(0..<count, window: configuration.acksInFlight) { index in
                (BenchmarkData.subject(stream: stream, index), BenchmarkData.payload(index))
            }
        }
        progress(String(format: "filled %d events of ~%d bytes in %.1f s", count, environment.messageSize, fillSeconds))
        var results: [BenchmarkResult] = []
        var firstDrain: Double?
        if names.contains("replay") { firstDrain = try await rawDrain(stream, count: count) }
        if names.contains("replay") || names.contains("memory") {
            Measure.releaseFreeMemory()
            let before = Measure.residentBytes()
            var replica: Eventbase?
            let seconds = try await Measure.time { replica = try await builder(stream).build() }
            Measure.releaseFreeMemory()
            let after = Measure.residentBytes()
            if let replica {
                try await expectCount(replica, count)
                await replica.close()
            }
            if let firstDrain {
                let drain = min(firstDrain, try await rawDrain(stream, count: count))
                results.append(
                    BenchmarkResult(
                        name: "replay", operations: count, seconds: seconds, opsPerSecond: Double(count) / seconds,
                        unit: "events/s", baseline: "raw drain, push consumer (best of 2)",
                        baselineOpsPerSecond: Double(count) / drain, reference: "C client drain",
                        referenceOpsPerSecond: BenchmarkTarget.cDrain, environment: environment))
            }
            if names.contains("memory"), let before, let after {
                let step = max(1, count / 10_000)
                let sample = stride(from: 0, to: count, by: step).map(BenchmarkData.documentJSONBytes)
                let jsonBytes = Double(sample.reduce(0, +)) / Double(sample.count)
                results.append(
                    BenchmarkResult(
                        name: "memory", operations: count, seconds: seconds,
                        opsPerSecond: Double(max(0, after - before)) / Double(count), unit: "bytes/record",
                        baseline: "the records' document JSON", baselineOpsPerSecond: jsonBytes,
                        environment: environment))
            }
        }
        if names.contains("open_snapshot") { results.append(try await openSnapshot(stream, count: count)) }
        try await js.deleteStream(stream)
        return results
    }

    /// open_snapshot: open-to-ready of a file store from its snapshot vs the full replay into it.
    func openSnapshot(_ stream: String, count: Int) async throws -> BenchmarkResult {
        let directory = scratch + "/snapshot-" + UUID().uuidString
        let options = FileStateStore.Options(snapshotEveryEvents: nil, snapshotInterval: nil)
        func open() async throws -> Eventbase {
            try await builder(stream).fileStore(path: directory, options: options).build()
        }
        var first: Eventbase?
        let replaySeconds = try await Measure.time { first = try await open() }
        let closeSeconds = await Measure.time { await first?.close() }
        progress(
            String(
                format: "full replay into the file store %.2f s; snapshot on close %.2f s", replaySeconds, closeSeconds)
        )
        var second: Eventbase?
        let seconds = try await Measure.time { second = try await open() }
        if let second {
            try await expectCount(second, count)
            await second.close()
        }
        try? FileManager.default.removeItem(atPath: directory)
        return BenchmarkResult(
            name: "open_snapshot", operations: count, seconds: seconds, opsPerSecond: Double(count) / seconds,
            unit: "records/s", baseline: "full replay into the file store",
            baselineOpsPerSecond: Double(count) / replaySeconds, environment: environment)
    }

    func expectCount(_ eventbase: Eventbase, _ count: Int) async throws {
        let actual = try await eventbase.count()
        guard actual == count else {
            throw EventbaseError(.internalError, "The replica holds \(actual) records; \(count) were written.")
        }
    }

    // MARK: Raw client operations

    /// Publishes `range` with at most `window` acks outstanding, all acks arriving on one subscription;
    /// `headers` gives each message's headers (none by default).
    func publishPipelined(
        _ range: Range<Int>, window: Int, headers: ((Int) -> MessageHeaders)? = nil,
        message: (Int) -> (subject: String, payload: [UInt8])
    ) async throws {
        let inbox = "_INBOX.bench_" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        let acks = try await transport.subscribe(inbox)
        var iterator = acks.makeAsyncIterator()
        var next = range.lowerBound
        func send() async throws {
            let (subject, payload) = message(next)
            try await transport.publish(subject, payload: payload, headers: headers?(next), replyTo: inbox)
            next += 1
        }
        do {
            while next < range.upperBound, next - range.lowerBound < window { try await send() }
            for _ in range {
                guard let ack = try await iterator.next() else {
                    throw EventbaseError(.unavailable, "The ack subscription ended before every ack arrived.")
                }
                if ack.status != nil || Self.isError(ack.payload) {
                    throw EventbaseError(
                        .unavailable, "Publishing failed: \(String(decoding: ack.payload, as: UTF8.self))")
                }
                if next < range.upperBound { try await send() }
            }
        } catch {
            await acks.unsubscribe()
            throw error
        }
        await acks.unsubscribe()
    }

    /// Whether a PubAck payload is an API error (`{"error":...}`), without decoding it.
    static func isError(_ payload: [UInt8]) -> Bool {
        let marker = Array("\"error\"".utf8)
        guard payload.count >= marker.count else { return true }
        for start in 0...(payload.count - marker.count) where payload[start] == marker[0] {
            if payload[start..<(start + marker.count)].elementsEqual(marker) { return true }
        }
        return false
    }

    /// Drains `count` messages of `stream` with the client's fastest consumer: an ephemeral push
    /// consumer without acks and with flow control, whose messages are only counted. Returns seconds.
    func rawDrain(_ stream: String, count: Int) async throws -> Double {
        let transport = self.transport
        return try await Measure.time {
            try await withDeadline(.seconds(max(120, count / 5_000)), clock: ContinuousClock(), "Draining \(stream)") {
                try await Self.drain(stream, count: count, transport: transport)
            }
        }
    }

    /// Subscribes to a new inbox and creates an ephemeral push consumer of `stream` delivering to it
    /// (no acks, flow control, heartbeats), from its first message (`policy` "all") or its next ("new").
    static func pushConsumer(_ stream: String, policy: String, transport: NATSTransport) async throws
        -> TransportSubscription
    {
        let deliver = "_INBOX.bench_" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        let subscription = try await transport.subscribe(deliver)
        let config: JSONValue = [
            "stream_name": .string(stream),
            "config": [
                "deliver_subject": .string(deliver), "deliver_policy": .string(policy), "ack_policy": "none",
                "flow_control": true, "idle_heartbeat": 5_000_000_000, "mem_storage": true,
            ],
        ]
        do {
            _ = try await transport.request(
                "$JS.API.CONSUMER.CREATE." + stream, payload: config.jsonBytes(), timeout: .seconds(10))
        } catch {
            await subscription.unsubscribe()
            throw error
        }
        return subscription
    }

    private static func drain(_ stream: String, count: Int, transport: NATSTransport) async throws {
        let subscription = try await pushConsumer(stream, policy: "all", transport: transport)
        var received = 0
        for try await message in subscription {
            if message.status == 100 {
                if let reply = message.replyTo { try await transport.publish(reply, payload: []) }
                continue
            }
            received += 1
            if received == count { break }
        }
        await subscription.unsubscribe()
        guard received == count else {
            throw EventbaseError(.unavailable, "The drain of \(stream) ended after \(received) of \(count) messages.")
        }
    }

    /// Direct gets per second, one round trip at a time (the reference `get` is compared with).
    func directGetRate() async throws -> Double {
        let stream = try await createRawStream("directget")
        let stored = 100
        try await publishPipelined(0..<stored, window: stored) { index in
            (BenchmarkData.subject(stream: stream, index), BenchmarkData.payload(index))
        }
        let count = configuration.directGets
        for index in 0..<min(count, 50) {
            _ = try await js.message(stream: stream, sequence: UInt64(index % stored + 1), direct: true)
        }
        let seconds = try await Measure.time {
            for index in 0..<count {
                _ = try await js.message(stream: stream, sequence: UInt64(index % stored + 1), direct: true)
            }
        }
        try await js.deleteStream(stream)
        return Double(count) / seconds
    }
}
