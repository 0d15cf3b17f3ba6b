// Eventbase on JetStream against raw JetStream with the same NATS client, in the same run.
//
//     swift run -c release JetStreamBench [--puts N] [--events N] [--writers N] [--keep-everything] [--skip-puts]
//                                         [--pipeline N]
//
// Needs a nats-server with JetStream: NATS_URL (default: starts `nats-server` from PATH or
// NATS_SERVER_BIN on a free port with a temporary store, and stops it afterwards).
import Eventbase
import EventbaseTestKit
import Foundation
import Synchronization

func seconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) + Double(attoseconds) / 1e18
}

func timed(_ body: () async throws -> Void) async rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try await body()
    return seconds(start.duration(to: clock.now))
}

/// Runs `count` operations with at most `width` in flight.
func concurrently(_ count: Int, width: Int, _ operation: @escaping @Sendable (Int) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var next = 0
        for _ in 0..<min(width, count) {
            let index = next
            next += 1
            group.addTask { try await operation(index) }
        }
        while try await group.next() != nil {
            if next < count {
                let index = next
                next += 1
                group.addTask { try await operation(index) }
            }
        }
    }
}

func document(_ index: Int) -> JSONValue {
    let id = String(format: "%06d", index)
    return [
        "name": .string("user \(id)"), "email": .string("user\(id)@example.com"), "age": .number(Double(index % 90)),
        "tags": ["a", "b"],
    ]
}

var arguments = CommandLine.arguments.dropFirst()
var putCount = 20_000
var eventCount = 100_000
var writers = 64
var retention = EventbaseOptions.Retention.latestPut
var skipPuts = false
/// Acks in flight while the catch-up stream is filled: the raw pipelined publish.
var pipelineWidth = 4096
while let argument = arguments.popFirst() {
    switch argument {
    case "--puts": putCount = Int(arguments.popFirst() ?? "") ?? putCount
    case "--events": eventCount = Int(arguments.popFirst() ?? "") ?? eventCount
    case "--writers": writers = Int(arguments.popFirst() ?? "") ?? writers
    case "--keep-everything": retention = .everything
    case "--skip-puts": skipPuts = true
    case "--pipeline": pipelineWidth = Int(arguments.popFirst() ?? "") ?? pipelineWidth
    default: break
    }
}

var fixture: NATSServerFixture?
let url: String
if let external = ProcessInfo.processInfo.environment["NATS_URL"] {
    url = external
} else {
    let server = try await NATSServerFixture.start()
    fixture = server
    url = server.url
}
let binary = fixture.map {
    "\($0.binary) \(NATSServerFixture.binaryVersion()?.map(String.init).joined(separator: ".") ?? "?")"
}
print("server: \(url) \(binary ?? "(external)")")

let options = NATSOptions(servers: [url])
let transport = NATSTransport(options)
try await transport.connect()
let js = JetStreamContext(transport: transport, requestTimeout: .seconds(10))

// MARK: Put throughput

if !skipPuts {
    let rawStream = "bench_raw_\(UInt32.random(in: 0...UInt32.max))"
    _ = try await js.createStream(JetStreamStreamOptions().streamConfig(name: rawStream))
    let payloads = (0..<putCount).map { index in
        EventCodec.encodePayload(
            Event(kind: .put, key: "key-\(index)", data: document(index), timestamp: 1_700_000_000_000))
    }
    let rawPutSeconds = try await timed {
        try await concurrently(putCount, width: writers) { index in
            let subject = EventCodec.subject(stream: rawStream, key: "key-\(index)", kind: .put)
            _ = try await js.publish(
                subject, payload: payloads[index], options: JetStreamPublishOptions(messageID: UUID().uuidString))
        }
    }
    try await js.deleteStream(rawStream)

    let putStream = "bench_put_\(UInt32.random(in: 0...UInt32.max))"
    let writer = try await Eventbase.builder(streamName: putStream).nats(options).configure { $0.retention = retention }
        .build()
    let putSeconds = try await timed {
        try await concurrently(putCount, width: writers) { index in
            _ = try await writer.put("key-\(index)", document(index))
        }
    }
    try await writer.deleteStream()
    let rawPutRate = Double(putCount) / rawPutSeconds
    let putRate = Double(putCount) / putSeconds
    print(
        String(
            format: "put, %d writers: %.0f puts/s; raw publish with ack, %d in flight: %.0f msgs/s; ratio %.2f",
            writers, putRate, writers, rawPutRate, putRate / rawPutRate))
}

// MARK: Catch-up

let catchUpStream = "bench_catchup_\(UInt32.random(in: 0...UInt32.max))"
_ = try await js.createStream(JetStreamStreamOptions().streamConfig(name: catchUpStream))
var bytes = 0
// Subjects and payloads are made before the clock starts: the fill measures publishing alone.
let fillMessages = (0..<eventCount).map { index in
    let event = Event(kind: .put, key: "key-\(index)", data: document(index), timestamp: 1_700_000_000_000)
    return (EventCodec.subject(stream: catchUpStream, key: event.key, kind: .put), EventCodec.encodePayload(event))
}
let fillSeconds = try await timed {
    try await concurrently(eventCount, width: pipelineWidth) { index in
        _ = try await js.publish(fillMessages[index].0, payload: fillMessages[index].1)
    }
}
bytes =
    EventCodec.encodePayload(
        Event(kind: .put, key: "key-\(eventCount / 2)", data: document(eventCount / 2), timestamp: 1_700_000_000_000)
    ).count
print(
    String(
        format: "filled %d events of ~%d bytes in %.1f s: raw publish with ack, %d in flight: %.0f msgs/s", eventCount,
        bytes, fillSeconds, pipelineWidth, Double(eventCount) / fillSeconds))

// Raw: the same client's push consumer without acks and with flow control, counting messages.
@Sendable func rawDrain(_ eventCount: Int) async throws -> Double {
    try await timed {
        let deliver = "_INBOX.bench_\(UUID().uuidString.replacingOccurrences(of: "-", with: ""))"
        let subscription = try await transport.subscribe(deliver)
        let config: JSONValue = [
            "stream_name": .string(catchUpStream),
            "config": [
                "deliver_subject": .string(deliver), "deliver_policy": "all", "ack_policy": "none",
                "flow_control": true, "idle_heartbeat": 5_000_000_000, "mem_storage": true,
            ],
        ]
        _ = try await transport.request(
            "$JS.API.CONSUMER.CREATE." + catchUpStream, payload: config.jsonBytes(), timeout: .seconds(10))
        var received = 0
        for try await message in subscription {
            if message.status == 100 {
                if let reply = message.replyTo { try await transport.publish(reply, payload: []) }
                continue
            }
            received += 1
            if received == eventCount { break }
        }
        await subscription.unsubscribe()
    }
}
let firstRawDrain = try await rawDrain(eventCount)

let replicaBox = Mutex<Eventbase?>(nil)
let catchUpSeconds = try await timed {
    let replica = try await Eventbase.builder(streamName: catchUpStream).nats(options).build()
    replicaBox.withLock { $0 = replica }
}
if let replica = replicaBox.withLock({ $0 }) {
    let count = try await replica.count()
    precondition(count == eventCount, "the replica holds \(count) records, expected \(eventCount)")
    await replica.close()
}
// The adapter alone: JetStreamEventLog's reader, decoding every event, without a replica.
let logOnly = JetStreamEventLog(streamName: catchUpStream, transport: transport)
let logDrainSeconds = try await timed {
    var read = 0
    for try await batch in logOnly.entries(from: 1) {
        read += batch.entries.count
        if read >= eventCount { break }
    }
}
await logOnly.close()
let rawDrainSeconds = min(firstRawDrain, try await rawDrain(eventCount))
try await js.deleteStream(catchUpStream)
print(
    String(
        format:
            "catch-up of %d events: %.0f events/s (%.2f s); raw drain (best of 2): %.0f msgs/s (%.2f s); ratio %.2f",
        eventCount, Double(eventCount) / catchUpSeconds, catchUpSeconds, Double(eventCount) / rawDrainSeconds,
        rawDrainSeconds, rawDrainSeconds / catchUpSeconds))
print(
    String(
        format: "JetStreamEventLog.entries alone (decoded, no replica): %.0f events/s (%.2f s); ratio to raw %.2f",
        Double(eventCount) / logDrainSeconds, logDrainSeconds, rawDrainSeconds / logDrainSeconds))

await transport.close()
await fixture?.stopAndRemove()
