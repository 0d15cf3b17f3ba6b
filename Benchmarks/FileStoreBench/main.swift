// FileStoreBench: measures the file state store on a release build.
//
//   swift build -c release --product FileStoreBench
//   .build/release/FileStoreBench [records] [puts] [shard counts, e.g. 4096,256,1]
//   .build/release/FileStoreBench loads [records] [times]   (only: snapshot loads, each timed)
//
// Results and their reading are in docs/benchmarks-filestore.md.

import Eventbase
import Foundation
import Synchronization

/// `loads [records] [times]`: only time loading one snapshot, `times` times.
let loadsOnly = CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "loads"
let arguments = loadsOnly ? Array(CommandLine.arguments.dropFirst()) : CommandLine.arguments
let recordCount = arguments.count > 1 ? Int(arguments[1])! : 1_000_000
let putCount = arguments.count > 2 ? Int(arguments[2])! : 20_000
let loadTimes = loadsOnly && arguments.count > 2 ? Int(arguments[2])! : 10
let shardCounts =
    arguments.count > 3 ? arguments[3].split(separator: ",").map { Int($0)! } : [4096, 256, 1]
let clock = ContinuousClock()

func milliseconds(_ duration: Duration) -> String {
    let components = duration.components
    let value = Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    return String(format: "%.1f ms", value)
}

func microseconds(_ duration: Duration) -> String {
    let components = duration.components
    let value = Double(components.seconds) * 1e6 + Double(components.attoseconds) / 1e12
    return String(format: "%.0f µs", value)
}

func megabytes(_ bytes: UInt64) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }

/// A document of about 150 bytes of JSON once `id` is added.
func document(_ index: Int) -> JSONValue {
    [
        "name": .string("user-\(index)"),
        "email": .string("user\(index)@example.com"),
        "age": .number(Double(18 + index % 60)),
        "city": .string(["Amsterdam", "Berlin", "Lisbon", "Oslo"][index % 4]),
        "active": .bool(index % 3 == 0),
        "score": .number(Double(index % 10_000) / 4),
    ]
}

func key(_ index: Int) -> String { "user-\(String(index, radix: 36))" }

func percentile(_ sorted: [Duration], _ fraction: Double) -> Duration {
    sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
}

func summary(_ samples: [Duration]) -> String {
    let sorted = samples.sorted()
    return
        "n=\(sorted.count) p50=\(microseconds(percentile(sorted, 0.5))) p99=\(microseconds(percentile(sorted, 0.99))) "
        + "max=\(microseconds(sorted.last!))"
}

final class Flag: Sendable {
    let value = Atomic<Bool>(false)
}

final class SnapshotLog: Sendable {
    private let infos = Mutex<[FileStateStore.SnapshotInfo]>([])
    func record(_ info: FileStateStore.SnapshotInfo) { infos.withLock { $0.append(info) } }
    var last: FileStateStore.SnapshotInfo? { infos.withLock { $0.last } }
}

let root = FileManager.default.temporaryDirectory.appendingPathComponent("eventbase-bench-\(UUID().uuidString)").path
defer { try? FileManager.default.removeItem(atPath: root) }
let stream = "bench"

/// `recordCount` records of `document`, with `id`, as batches of 10,000 changes.
func recordBatches() -> [StateBatch] {
    let created = Date(timeIntervalSince1970: 1_700_000_000)
    return stride(from: 0, to: recordCount, by: 10_000).map { batchStart in
        let changes = (batchStart..<min(recordCount, batchStart + 10_000)).map { index in
            var data = document(index)
            if case .object(var object) = data {
                object["id"] = .string(key(index))
                data = .object(object)
            }
            return StateBatch.Write(
                key: key(index),
                record: Record(
                    key: key(index), data: data,
                    meta: Meta(dateCreated: created, dateModified: created, changes: 1, revision: UInt64(index + 1))))
        }
        return StateBatch(changes: changes, lastAppliedSequence: UInt64(batchStart + changes.count))
    }
}

if loadsOnly {
    // One snapshot (compression level 6, the default), loaded `loadTimes` times by a new store each.
    let directory = root + "/loads"
    let writer = FileStateStore(directory: directory, options: .init(snapshotEveryEvents: nil, snapshotInterval: nil))
    _ = try await writer.open(stream: stream)
    for batch in recordBatches() { try writer.apply(batch) }
    try await writer.close()
    var samples: [Duration] = []
    for _ in 0..<loadTimes {
        let reader = FileStateStore(directory: directory)
        let start = clock.now
        _ = try await reader.open(stream: stream)
        samples.append(start.duration(to: clock.now))
        guard reader.count == recordCount else { fatalError("loaded \(reader.count) of \(recordCount) records") }
        try await reader.close()
    }
    let sorted = samples.sorted()
    print(
        "load of a snapshot of \(recordCount) records, \(loadTimes) times: min \(milliseconds(sorted[0])), "
            + "median \(milliseconds(percentile(sorted, 0.5))), max \(milliseconds(sorted[sorted.count - 1]))")
    try? FileManager.default.removeItem(atPath: root)
    exit(0)
}
print("FileStoreBench: \(recordCount) records, \(putCount) puts per latency run, directory \(root)")

// 1. Copy-on-write: the first write after taking a consistent view.
do {
    var single: [String: JSONValue] = [:]
    single.reserveCapacity(recordCount)
    var shards = [[String: JSONValue]](repeating: [:], count: 256)
    for index in 0..<recordCount {
        let key = key(index)
        single[key] = .number(Double(index))
        shards[Int(UInt(bitPattern: key.hashValue) % 256)][key] = .number(Double(index))
    }
    // Keep the views alive across the writes, as a snapshot being written does.
    let view = single
    let singleCost = withExtendedLifetime(view) {
        let start = clock.now
        single["new"] = 1
        return start.duration(to: clock.now)
    }
    let shardView = shards
    let (worst, shardTotal) = withExtendedLifetime(shardView) {
        var worst = Duration.zero
        let start = clock.now
        for index in 0..<256 {
            let shardStart = clock.now
            shards[index]["new"] = 1
            worst = max(worst, shardStart.duration(to: clock.now))
        }
        return (worst, start.duration(to: clock.now))
    }
    print(
        "copy-on-write after a view of \(recordCount): one dictionary, first write \(milliseconds(singleCost)); "
            + "256 shards, worst first write \(milliseconds(worst)), all 256 shards \(milliseconds(shardTotal))")
}

// 2. Populate the log with one put per key.
let server = InMemoryLogServer(deduplicationWindow: 1_000)
let log = InMemoryEventLog(streamName: stream, server: server)
_ = try await log.open()
let populateStart = clock.now
for index in 0..<recordCount {
    _ = try await log.append(
        Event(kind: .put, key: key(index), data: document(index), timestamp: 1_700_000_000_000 + Int64(index)),
        condition: nil)
}
print(
    "populated the in-memory log with \(recordCount) events in \(milliseconds(populateStart.duration(to: clock.now)))")

func open(
    _ directory: String, snapshots: SnapshotLog, shardCount: Int? = nil
) async throws -> (Eventbase, FileStateStore, Duration) {
    var options = FileStateStore.Options(
        snapshotEveryEvents: nil, snapshotInterval: nil, onSnapshot: { snapshots.record($0) })
    if let shardCount { options.shardCount = shardCount }
    let store = FileStateStore(directory: directory, options: options)
    let start = clock.now
    let eventbase = try await Eventbase.builder(streamName: stream)
        .eventLog(InMemoryEventLog(streamName: stream, server: server))
        .stateStore(store)
        .build()
    return (eventbase, store, start.duration(to: clock.now))
}

// 3. Open by full replay, close (final snapshot), open from the snapshot.
let snapshots = SnapshotLog()
let directory = root + "/replica"
let (replayed, _, replayTime) = try await open(directory, snapshots: snapshots)
print("open by full replay of \(recordCount) events: \(milliseconds(replayTime))")
await replayed.close()
if let info = snapshots.last {
    print(
        "snapshot on close: \(info.recordCount) records, \(megabytes(info.fileBytes)) on disk "
            + "(\(megabytes(info.uncompressedBytes)) uncompressed, "
            + "\(String(format: "%.0f", Double(info.uncompressedBytes) / Double(info.recordCount))) bytes/record), "
            + "written in \(milliseconds(info.duration))")
}

// 4. Put latency without and during a snapshot of the whole replica.
func measurePuts(
    _ eventbase: Eventbase, until done: @Sendable () -> Bool, limit: Int, offset: Int
) async throws -> [Duration] {
    var samples: [Duration] = []
    samples.reserveCapacity(min(limit, 100_000))
    var index = 0
    while index < limit && !done() {
        let target = (offset + index &* 7_919) % recordCount
        let start = clock.now
        _ = try await eventbase.put(key(target), document(target + index))
        samples.append(start.duration(to: clock.now))
        index += 1
    }
    return samples
}

func latencyRun(shardCount: Int, openLabel: String) async throws {
    let (eventbase, store, openTime) = try await open(directory, snapshots: snapshots, shardCount: shardCount)
    print("\(openLabel): \(milliseconds(openTime))")
    let label = "\(shardCount) shards"
    let quiet = try await measurePuts(eventbase, until: { false }, limit: putCount, offset: shardCount)
    print("[\(label)] put latency, no snapshot running: \(summary(quiet))")
    let finished = Flag()
    let (during, snapshotTime) = try await withThrowingTaskGroup(of: Duration?.self) { group in
        group.addTask {
            let start = clock.now
            try await store.checkpoint()
            finished.value.store(true, ordering: .releasing)
            return start.duration(to: clock.now)
        }
        let samples = try await measurePuts(
            eventbase, until: { finished.value.load(ordering: .acquiring) }, limit: Int.max, offset: shardCount + 1)
        var snapshotTime = Duration.zero
        for try await result in group { snapshotTime = result ?? snapshotTime }
        return (samples, snapshotTime)
    }
    print("[\(label)] put latency, during a snapshot: \(summary(during))")
    if let info = snapshots.last {
        print(
            "[\(label)] snapshot while serving puts: \(info.recordCount) records, \(megabytes(info.fileBytes)), "
                + "written in \(milliseconds(info.duration)) (checkpoint returned after \(milliseconds(snapshotTime)))")
    }
    let after = try await measurePuts(eventbase, until: { false }, limit: putCount, offset: shardCount + 2)
    print("[\(label)] put latency, after the snapshot: \(summary(after))")
    await eventbase.close()
}

for shardCount in shardCounts {
    try await latencyRun(shardCount: shardCount, openLabel: "open from the snapshot (\(shardCount) shards)")
}

// 5. Compression levels: snapshot time and size of the same records.
for level in [1, 6] {
    let levelLog = SnapshotLog()
    let levelStore = FileStateStore(
        directory: root + "/level-\(level)",
        options: .init(
            snapshotEveryEvents: nil, snapshotInterval: nil, compressionLevel: level,
            onSnapshot: { levelLog.record($0) }))
    _ = try await levelStore.open(stream: stream)
    for batch in recordBatches() { try levelStore.apply(batch) }
    try await levelStore.checkpoint()
    if let info = levelLog.last {
        print(
            "compression level \(level): \(megabytes(info.fileBytes)) for \(info.recordCount) records "
                + "(\(megabytes(info.uncompressedBytes)) uncompressed), written in \(milliseconds(info.duration))")
    }
    try await levelStore.close()
    let reader = FileStateStore(directory: root + "/level-\(level)")
    let loadStart = clock.now
    _ = try await reader.open(stream: stream)
    print("  load of that snapshot: \(milliseconds(loadStart.duration(to: clock.now))), \(reader.count) records")
    try await reader.close()
}
