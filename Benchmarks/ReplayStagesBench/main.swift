// ReplayStagesBench: what a replay costs the client in each of its stages, on one thread and
// without a server, so that a change to one stage can be measured apart from the machine's noise.
//
//   swift build -c release --product ReplayStagesBench
//   .build/release/ReplayStagesBench [events] [rounds] [all|nats|decode|apply|none]
//
// Stages (microseconds an event, the best of the rounds):
//   nats    NATSDecoder turning a push consumer's MSG frames (with JetStream reply subjects) into
//           messages
//   decode  EventCodec.entry turning each message's subject and payload into a LogEntry
//   free    releasing those entries
//   apply   a replica replaying the events from an in-memory log (decoded once, when stored)
//
// Timings on a shared machine swing by a third; instruction counts do not. For those, run one stage
// under valgrind (on a stripped binary: valgrind cannot read Swift's debug information) and subtract
// a run of `none`, which builds the same inputs and measures nothing:
//
//   strip -o /tmp/stages .build/release/ReplayStagesBench
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null /tmp/stages 20000 1 decode
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null /tmp/stages 20000 1 none
//
// (`apply` runs tasks on several threads and does not run under valgrind.) Figures are in
// docs/benchmarks.md ("The client's stages of a replay").

import Eventbase
import EventbaseBenchmarkSuite
import EventbaseCore
import EventbaseMemory
import EventbaseNATS
import Foundation
import NIOCore

let arguments = CommandLine.arguments
let count = arguments.count > 1 ? Int(arguments[1])! : 300_000
let rounds = arguments.count > 2 ? Int(arguments[2])! : 3
let only = arguments.count > 3 ? arguments[3] : "all"
let stream = "replay"
let clock = ContinuousClock()

func microseconds(_ duration: Duration, per events: Int) -> Double {
    (Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12) / Double(events)
}

// The inputs: the bench suite's put events, and the frames a push consumer receives for them.
let payloads = (0..<count).map(BenchmarkData.payload)
let subjects = (0..<count).map { BenchmarkData.subject(stream: stream, $0) }
var frames = ByteBuffer()
for index in 0..<count {
    let sequence = index + 1
    let reply =
        "$JS.ACK.\(stream).ABCDEFGHIJKLMNOPQRSTUV.1.\(sequence).\(sequence).1700000000000000000.\(count - sequence)"
    frames.writeString("MSG \(subjects[index]) 1 \(reply) \(payloads[index].count)\r\n")
    frames.writeBytes(payloads[index])
    frames.writeString("\r\n")
}

var best: [String: Double] = [:]
@MainActor func record(_ stage: String, _ value: Double) { best[stage] = min(best[stage] ?? .infinity, value) }

for _ in 0..<rounds {
    if only == "nats" || only == "all" {
        var decoder = NATSDecoder()
        var buffer = frames
        var messages = 0
        let start = clock.now
        while let op = try decoder.decode(buffer: &buffer) {
            if case .message = op { messages += 1 }
        }
        record("nats", microseconds(start.duration(to: clock.now), per: count))
        precondition(messages == count, "decoded \(messages) of \(count) frames")
    }
    if only == "decode" || only == "all" {
        var entries: [LogEntry] = []
        entries.reserveCapacity(count)
        let time = Date()
        let start = clock.now
        for index in 0..<count {
            entries.append(
                EventCodec.entry(
                    sequence: UInt64(index + 1), time: time, subject: subjects[index], stream: stream,
                    payload: payloads[index]))
        }
        record("decode", microseconds(start.duration(to: clock.now), per: count))
        let freeing = clock.now
        entries = []
        record("free", microseconds(freeing.duration(to: clock.now), per: count))
    }
    if only == "apply" || only == "all" {
        let server = InMemoryLogServer()
        let writer = try await Eventbase.builder(streamName: stream).inMemory(server: server).build()
        await writer.close()
        for index in 0..<count {
            _ = try server.publishRaw(stream: stream, subject: subjects[index], payload: payloads[index])
        }
        let start = clock.now
        let replica = try await Eventbase.builder(streamName: stream).inMemory(server: server).build()
        record("apply", microseconds(start.duration(to: clock.now), per: count))
        let applied = try await replica.count()
        await replica.close()
        precondition(applied == count, "the replica holds \(applied) of \(count) records")
    }
}

let stages = ["nats", "decode", "free", "apply"].compactMap { stage in
    best[stage].map { stage + " " + String(format: "%.3f", $0) }
}
print(
    "\(count) events of ~\(BenchmarkData.messageSize) bytes, best of \(rounds): "
        + "\(stages.joined(separator: "  ")) µs/event")
