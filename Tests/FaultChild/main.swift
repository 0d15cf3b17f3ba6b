// eventbase-fault-child: an application process for the fault tests to SIGKILL or SIGSTOP.
//
// Opens Eventbase on a real nats-server with a FileStateStore, then runs writers that put to their
// own keys and print each acknowledged write on standard output as one line:
//
//     ack <key> <op> <n> <revision>
//
// Other lines: `ready <appliedSequence> <recordCount>` once the instance is open, and
// `snapshot <generation> <lastAppliedSequence>` after each durable snapshot. Every line is flushed
// at once, so a line the parent read is a write the instance acknowledged before it died.
//
// On SIGUSR1 the writers stop; once their last writes have ended the child prints
// `state <appliedSequence> <documents as one JSON object>` and exits 0, so the parent can compare
// its replica with the stream.
//
// Usage: eventbase-fault-child --server URL --stream NAME --dir DIR --prefix P
//            [--writers 4] [--keys 8] [--snapshot-every N] [--value-bytes 0] [--noise-subject S]
//
// With --noise-subject the child also subscribes to S on its connection and reads what arrives (as
// an application sharing the connection would), so a test can back its connection up.
import Eventbase
import EventbaseCore
import EventbaseFileStore
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Writes one line to standard output and flushes it.
func emit(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        if written < 0 {
            if errno == EINTR { continue }
            exit(3)
        }
        offset += written
    }
}

/// Ends the process with a message on standard error.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data(("eventbase-fault-child: " + message + "\n").utf8))
    exit(2)
}

var arguments: [String: String] = [:]
var iterator = CommandLine.arguments.dropFirst().makeIterator()
while let name = iterator.next() {
    guard name.hasPrefix("--"), let value = iterator.next() else { fail("bad argument \(name)") }
    arguments[String(name.dropFirst(2))] = value
}
guard let server = arguments["server"], let stream = arguments["stream"], let directory = arguments["dir"],
    let prefix = arguments["prefix"]
else { fail("--server, --stream, --dir and --prefix are required") }
let writers = arguments["writers"].flatMap { Int($0) } ?? 4
let keysPerWriter = arguments["keys"].flatMap { Int($0) } ?? 8
let snapshotEvery = arguments["snapshot-every"].flatMap { Int($0) }
let padding = String(repeating: "x", count: arguments["value-bytes"].flatMap { Int($0) } ?? 0)

var nats = NATSOptions(servers: [server])
nats.pingInterval = .seconds(1)
nats.maxOutstandingPings = 2
nats.reconnectBackoffBase = .milliseconds(20)
nats.reconnectBackoffMax = .milliseconds(250)
nats.maxReconnectAttempts = nil
nats.connectTimeout = .seconds(1)
nats.requestTimeout = .seconds(2)
let transport = NATSTransport(nats)
let store = FileStateStore(
    directory: directory,
    options: .init(
        snapshotEveryEvents: snapshotEvery, snapshotInterval: nil,
        onSnapshot: { info in emit("snapshot \(info.generation) \(info.lastAppliedSequence)") }))
let eventbase: Eventbase
do {
    eventbase = try await Eventbase.builder(streamName: stream)
        .transport(transport)
        .eventLog(
            JetStreamEventLog(
                streamName: stream, transport: transport,
                options: JetStreamStreamOptions(requestTimeout: .seconds(2), idleHeartbeat: .milliseconds(500)))
        )
        .stateStore(store)
        .configure {
            $0.writeTimeout = .seconds(4)
            $0.retention = .everything
        }
        .build()
} catch {
    fail("could not open: \(error)")
}
if let noise = arguments["noise-subject"] {
    do {
        let subscription = try await transport.subscribe(noise)
        Task {
            do {
                for try await _ in subscription {}
            } catch {
                // Cut off as a slow consumer, for example: the reconnect subscribes again.
            }
        }
    } catch {
        fail("could not subscribe to \(noise): \(error)")
    }
}
emit("ready \(eventbase.appliedSequence) \(store.count)")

let stopping = Atomic<Bool>(false)
signal(SIGUSR1, SIG_IGN)
let stopSignal = DispatchSource.makeSignalSource(signal: SIGUSR1)
stopSignal.setEventHandler { stopping.store(true, ordering: .relaxed) }
stopSignal.resume()

await withTaskGroup(of: Void.self) { group in
    for writer in 0..<writers {
        group.addTask {
            var counters = [Int](repeating: 0, count: keysPerWriter)
            var op = 0
            while !stopping.load(ordering: .relaxed) {
                let slot = op % keysPerWriter
                counters[slot] += 1
                op += 1
                let key = "\(prefix)-w\(writer)-k\(slot)"
                let opID = "\(prefix)-w\(writer)-\(op)"
                let value: JSONValue =
                    padding.isEmpty
                    ? ["op": .string(opID), "n": .number(Double(counters[slot]))]
                    : ["op": .string(opID), "n": .number(Double(counters[slot])), "pad": .string(padding)]
                do {
                    let record = try await eventbase.put(key, value)
                    emit("ack \(key) \(opID) \(counters[slot]) \(record.meta.revision)")
                } catch {
                    // An unknown or rejected write: not printed, so the parent does not count it.
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
        }
    }
}

// A last write after everyone stopped: acknowledged only once this replica applied it, so the
// state printed next is the whole stream's.
do {
    let record = try await eventbase.put("\(prefix)-final", ["op": .string("\(prefix)-final"), "n": 1])
    emit("ack \(prefix)-final \(prefix)-final 1 \(record.meta.revision)")
} catch {
    fail("the final write failed: \(error)")
}
var documents: [String: JSONValue] = [:]
do {
    for key in try await eventbase.keys() {
        documents[key] = try await eventbase.get(key)?.data
    }
} catch {
    fail("could not read the replica: \(error)")
}
emit(
    "state \(eventbase.appliedSequence) "
        + String(decoding: JSONValue.object(JSONObject(documents)).jsonBytes(), as: UTF8.self))
await eventbase.close()
await transport.close()
