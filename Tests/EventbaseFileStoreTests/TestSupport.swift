import EventbaseCore
import EventbaseFileStore
import Foundation

/// Runs `body` with a fresh temporary directory, removed afterwards whatever happens.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("eventbase-filestore-tests-\(UUID().uuidString)", isDirectory: true).path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// Collects the snapshots a store reports through ``FileStateStore/Options/onSnapshot``, so tests
/// await them instead of sleeping.
final class SnapshotRecorder: Sendable {
    private let stream: AsyncStream<FileStateStore.SnapshotInfo>
    private let input: AsyncStream<FileStateStore.SnapshotInfo>.Continuation

    init() {
        (stream, input) = AsyncStream.makeStream(of: FileStateStore.SnapshotInfo.self)
    }

    /// The callback to put in the options.
    var callback: @Sendable (FileStateStore.SnapshotInfo) -> Void {
        { [input] info in input.yield(info) }
    }

    /// The next snapshot written, failing after 10 seconds.
    func next() async throws -> FileStateStore.SnapshotInfo {
        let stream = stream
        return try await withDeadline(.seconds(10), clock: ContinuousClock(), "Waiting for a snapshot") {
            for await info in stream { return info }
            throw EventbaseError(.closed, "The snapshot stream ended.")
        }
    }
}

/// A record with the given value, written at `sequence`, with sub-millisecond dates.
func sampleRecord(_ key: String, _ value: Int, sequence: UInt64) -> Record<JSONValue> {
    let created = Date(timeIntervalSince1970: 1_700_000_000.123_456_7 + Double(value))
    let modified = created.addingTimeInterval(Double(sequence) / 7)
    return Record(
        key: key,
        data: [
            "id": .string(key), "value": .number(Double(value)), "name": "Ünïcödé 🙂 \"quoted\"\n",
            "nested": ["list": [1, 2.5, -3e-7, true, nil, ["deep": "x"]], "flag": false],
        ],
        meta: Meta(dateCreated: created, dateModified: modified, changes: value % 17 + 1, revision: sequence))
}

/// A batch that writes `count` records starting at `start`.
func sampleBatch(from start: Int, count: Int) -> StateBatch {
    StateBatch(
        changes: (start..<(start + count)).map { index in
            .init(key: "key-\(index)", record: sampleRecord("key-\(index)", index, sequence: UInt64(index + 1)))
        },
        lastAppliedSequence: UInt64(start + count))
}

/// The snapshot files of a stream folder, newest first.
func snapshotFiles(in folder: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: folder)
        .filter { $0.hasSuffix(".ebsnap") }
        .sorted(by: >)
        .map { folder + "/" + $0 }
}
