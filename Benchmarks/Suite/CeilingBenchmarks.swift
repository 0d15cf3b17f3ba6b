import Eventbase
import EventbaseCore
import Foundation
import Synchronization

/// The ceilings of the put benchmarks: what the server and this client allow a put at best, whatever
/// Eventbase's own work costs.
///
/// A put is a publish carrying headers (a `Nats-Msg-Id` the server de-duplicates on, the change
/// count) on a stream that the instance's consumer follows, and it returns once the instance has
/// applied its own copy, because the record's dates are the stored message's time, which the PubAck
/// does not carry. Each ceiling does exactly that server-side work with raw client calls and
/// nothing else: the same headers, a push consumer of this client receiving every message (only
/// counted: no JSON is decoded, nothing is applied), the same publishing as the put benchmark's
/// baseline. Its ratio against that baseline is the highest ratio the put benchmark could reach on
/// this machine and server; the throughput ceilings are generous, as their publishers do not wait
/// for their own copies the way a put does.
extension ServerBenchmarks {
    /// put_seq_ceiling: one publish at a time with a put's headers, each done when its ack and its
    /// consumer copy have arrived, vs put_seq's baseline.
    func putSequentialCeiling() async throws -> BenchmarkResult {
        let count = configuration.sequentialPuts
        let payloads = (0..<count).map(BenchmarkData.payload)
        let js = self.js
        return try await ceiling(
            "put_seq_ceiling", streams: "seqceil", count: count,
            baseline: "raw publish-with-ack, one at a time (put_seq's)",
            warmUp: { raw, shaped, copies in
                for index in 0..<20 {
                    _ = try await js.publish(
                        BenchmarkData.subject(stream: raw, count + index), payload: payloads[0])
                    _ = try await js.publish(
                        BenchmarkData.subject(stream: shaped, count + index), payload: payloads[0],
                        headers: Self.putHeaders())
                    try await copies.receive(1)
                }
            },
            shaped: { range, shaped, copies in
                for index in range {
                    _ = try await js.publish(
                        BenchmarkData.subject(stream: shaped, index), payload: payloads[index],
                        headers: Self.putHeaders())
                    try await copies.receive(1)
                }
            },
            raw: { range, raw in
                for index in range {
                    _ = try await js.publish(BenchmarkData.subject(stream: raw, index), payload: payloads[index])
                }
            })
    }

    /// put_conc_ceiling: `writers` concurrent publishes with a put's headers while the consumer receives
    /// every copy, vs put_conc's baseline.
    func putConcurrentCeiling() async throws -> BenchmarkResult {
        let count = configuration.puts
        let writers = configuration.writers
        let payloads = (0..<count).map(BenchmarkData.payload)
        let js = self.js
        /// Publishes `range` to `stream` from `writers` tasks, with a put's headers or none.
        @Sendable func publish(_ range: Range<Int>, to stream: String, shaped: Bool) async throws {
            try await Measure.concurrently(range.count, width: writers) { offset in
                let index = range.lowerBound + offset
                _ = try await js.publish(
                    BenchmarkData.subject(stream: stream, index), payload: payloads[index],
                    headers: shaped ? Self.putHeaders() : nil)
            }
        }
        return try await ceiling(
            "put_conc_ceiling", streams: "concceil", count: count,
            baseline: "raw publish-with-ack, \(writers) in flight (put_conc's)",
            shaped: { range, shaped, copies in
                async let received: Void = copies.receive(range.count)
                try await publish(range, to: shaped, shaped: true)
                try await received
            },
            raw: { range, raw in try await publish(range, to: raw, shaped: false) })
    }

    /// put_pipelined_ceiling: publishes with a put's headers and `acksInFlight` acks pipelined while
    /// the consumer receives every copy, vs put_pipelined's baseline.
    func putPipelinedCeiling() async throws -> BenchmarkResult {
        let count = configuration.puts
        let window = configuration.acksInFlight
        let payloads = (0..<count).map(BenchmarkData.payload)
        return try await ceiling(
            "put_pipelined_ceiling", streams: "pipeceil", count: count,
            baseline: "raw publish, \(window) acks pipelined (put_pipelined's)",
            shaped: { range, shaped, copies in
                async let received: Void = copies.receive(range.count)
                try await publishPipelined(range, window: window, headers: { _ in Self.putHeaders() }) { index in
                    (BenchmarkData.subject(stream: shaped, index), payloads[index])
                }
                try await received
            },
            raw: { range, raw in
                try await publishPipelined(range, window: window) { index in
                    (BenchmarkData.subject(stream: raw, index), payloads[index])
                }
            })
    }

    /// Runs one ceiling on two new streams, a raw one and a put-shaped one that a ``CopyReader``
    /// follows: `shaped` timed against `raw` in alternating halves (after `warmUp`), both streams
    /// deleted after.
    private func ceiling(
        _ name: String, streams label: String, count: Int, baseline: String,
        warmUp: (@Sendable (_ raw: String, _ shaped: String, _ copies: CopyReader) async throws -> Void)? = nil,
        shaped: @escaping @Sendable (_ range: Range<Int>, _ stream: String, _ copies: CopyReader) async throws -> Void,
        raw: @escaping @Sendable (_ range: Range<Int>, _ stream: String) async throws -> Void
    ) async throws -> BenchmarkResult {
        let rawStream = try await createRawStream(label + "_raw")
        let shapedStream = try await createRawStream(label)
        let copies = try await CopyReader.start(stream: shapedStream, transport: transport)
        if let warmUp {
            try await withDeadline(.seconds(30), clock: ContinuousClock(), "Warming up") {
                try await warmUp(rawStream, shapedStream, copies)
            }
        }
        let (seconds, baselineSeconds) = try await bounded(count) { range in
            try await shaped(range, shapedStream, copies)
        } baseline: { range in
            try await raw(range, rawStream)
        }
        await copies.stop()
        try await js.deleteStream(shapedStream)
        try await js.deleteStream(rawStream)
        return BenchmarkResult(
            name: name, operations: count, seconds: seconds, opsPerSecond: Double(count) / seconds, unit: "msgs/s",
            baseline: baseline, baselineOpsPerSecond: Double(count) / baselineSeconds, environment: environment)
    }

    /// ``paired(_:rounds:measured:baseline:)`` within a deadline (two minutes and a millisecond an
    /// operation), so that a consumer that stops delivering fails the run instead of hanging it.
    private func bounded(
        _ count: Int, measured: @escaping @Sendable (Range<Int>) async throws -> Void,
        baseline: @escaping @Sendable (Range<Int>) async throws -> Void
    ) async throws -> (measured: Double, baseline: Double) {
        try await withDeadline(.seconds(120) + .milliseconds(count), clock: ContinuousClock(), "A ceiling's run") {
            try await paired(count, measured: measured, baseline: baseline)
        }
    }

    /// The headers of a put of a new key: a fresh message id as long as Eventbase's (36 characters) and
    /// the change count.
    static func putHeaders() -> MessageHeaders {
        let serial = String(messageSerial.add(1, ordering: .relaxed).newValue, radix: 16)
        let id = messageIDPrefix + String(repeating: "0", count: max(0, 12 - serial.count)) + serial
        return MessageHeaders(fields: [(EventCodec.messageIDHeader, id), (EventCodec.changesHeader, "1")])
    }
}

/// Message ids of the ceilings: a random prefix per process and a serial number (no system call each,
/// like Eventbase's own ids).
private let messageIDPrefix = String(UUID().uuidString.prefix(24))
private let messageSerial = Atomic<UInt64>(0)

/// A push consumer of new messages on a stream (no acks, flow control, heartbeats) whose copies are
/// counted by whoever waits for them.
final class CopyReader: Sendable {
    private let subscription: TransportSubscription
    private let transport: NATSTransport
    private let iterator: IteratorBox

    /// The subscription's iterator, used by one waiter at a time.
    private final class IteratorBox: @unchecked Sendable {
        var iterator: TransportSubscription.AsyncIterator
        init(_ iterator: TransportSubscription.AsyncIterator) { self.iterator = iterator }
    }

    private init(subscription: TransportSubscription, transport: NATSTransport) {
        self.subscription = subscription
        self.transport = transport
        self.iterator = IteratorBox(subscription.makeAsyncIterator())
    }

    /// Subscribes to a new inbox and creates the consumer delivering to it.
    static func start(stream: String, transport: NATSTransport) async throws -> CopyReader {
        let subscription = try await ServerBenchmarks.pushConsumer(stream, policy: "new", transport: transport)
        return CopyReader(subscription: subscription, transport: transport)
    }

    /// Returns once `count` more messages were delivered, answering flow control on the way. (The
    /// ceilings bound each run with ``ServerBenchmarks/bounded(_:measured:baseline:)``: a deadline
    /// here would cost a task a message.)
    func receive(_ count: Int) async throws {
        var received = 0
        while received < count {
            guard let message = try await iterator.iterator.next() else {
                throw EventbaseError(.unavailable, "The consumer's subscription ended after \(received) of \(count).")
            }
            if message.status == 100 {
                if let reply = message.replyTo { try await transport.publish(reply, payload: []) }
            } else if message.status == nil {
                received += 1
            }
        }
    }

    func stop() async { await subscription.unsubscribe() }
}
