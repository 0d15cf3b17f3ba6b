import Dispatch
import EventbaseCore

/// Turns a snapshot body's records into a ``ShardedRecords`` on other threads, while the caller
/// reads and inflates the rest of the body.
///
/// Most of a load is per record: checking its packed bytes, allocating its buffer (on a fresh heap
/// that is also the kernel handing out and zeroing pages) and hashing it into its shard; inflating
/// is most of the rest. The caller hands over runs of whole records (``submit(_:)``) and goes on
/// inflating the next run while workers decode this one. Each worker owns the shards whose index is
/// its number modulo the worker count; every worker walks every record of a run, hashes the key's
/// bytes to find its shard, and decodes and inserts only its own. Shards never share a worker, so
/// no lock is taken, and the table built is the one a single thread would build.
final class SnapshotRecordLoader {
    private let parts: [Part]
    private let shardCount: Int
    private let version: UInt16
    private let limits: JSONLimits
    /// The run being decoded, if any.
    private let running = DispatchGroup()

    /// A loader for records of format `version` into `shardCount` shards, with `workers` threads,
    /// room made for `expectedRecords`.
    init(shardCount: Int, version: UInt16, limits: JSONLimits, expectedRecords: Int, workers: Int) {
        let workers = max(1, min(workers, shardCount))
        self.shardCount = shardCount
        self.version = version
        self.limits = limits
        let perShard = expectedRecords / shardCount + expectedRecords / shardCount / 8 + 1
        parts = (0..<workers).map { Part(number: $0, of: workers, shardCount: shardCount, reserving: perShard) }
    }

    deinit {
        // Never leave workers behind (a run that failed to inflate throws past `finish()`).
        running.wait()
    }

    /// Starts decoding `run`, whole records only (see ``completeRecords(in:)``), once the run
    /// before it is done.
    /// - Throws: `.corruptData` found in an earlier run: a record that is invalid, or a key seen twice.
    func submit(_ run: [UInt8]) throws {
        try waitForRun()
        guard !run.isEmpty else { return }
        let (version, limits) = (self.version, self.limits)
        for part in parts {
            DispatchQueue.global().async(group: running) {
                run.withUnsafeBytes { part.decode($0, version: version, limits: limits) }
            }
        }
    }

    /// The records decoded, as one table, once the last run is done.
    /// - Throws: `.corruptData` found in the last run.
    func finish() throws -> ShardedRecords {
        try waitForRun()
        var shards = [[ExactKey: PackedRecord]](repeating: [:], count: shardCount)
        for part in parts {
            for index in stride(from: part.number, to: shardCount, by: parts.count) {
                shards[index] = part.shards[index]
            }
            part.shards = []
        }
        return ShardedRecords(shards: shards, count: parts.reduce(0) { $0 + $1.count })
    }

    private func waitForRun() throws {
        running.wait()
        if let error = parts.lazy.compactMap(\.error).first { throw error }
    }

    /// How many bytes at the start of `bytes` are whole records (key length, key, 32 bytes of meta,
    /// data length, data).
    static func completeRecords(in bytes: UnsafeRawBufferPointer) -> Int {
        var reader = ByteReader(bytes)
        var end = 0
        while let keyLength = reader.read(UInt32.self), reader.readBytes(Int(keyLength) + 32) != nil,
            let dataLength = reader.read(UInt32.self), reader.readBytes(Int(dataLength)) != nil
        {
            end = reader.offset
        }
        return end
    }

    /// One worker's shards. Used by one thread at a time: its worker during a run, the loader
    /// between runs (it waits for the run's group before touching it).
    private final class Part: @unchecked Sendable {
        let number: Int
        let workers: Int
        var shards: [[ExactKey: PackedRecord]]
        var count = 0
        var error: EventbaseError?

        init(number: Int, of workers: Int, shardCount: Int, reserving perShard: Int) {
            self.number = number
            self.workers = workers
            shards = [[ExactKey: PackedRecord]](repeating: [:], count: shardCount)
            for index in stride(from: number, to: shardCount, by: workers) {
                shards[index].reserveCapacity(perShard)
            }
        }

        func decode(_ run: UnsafeRawBufferPointer, version: UInt16, limits: JSONLimits) {
            guard error == nil else { return }
            var reader = ByteReader(run)
            while reader.remaining > 0 {
                let start = reader.offset
                // Whole records only: the lengths were checked by `completeRecords`.
                guard let keyLength = reader.read(UInt32.self), let key = reader.readBytes(Int(keyLength)) else {
                    return
                }
                let shard = ShardedRecords.shard(ofKeyBytes: key, shardCount: shards.count)
                guard shard % workers == number else {
                    _ = reader.readBytes(32)
                    if let dataLength = reader.read(UInt32.self) { _ = reader.readBytes(Int(dataLength)) }
                    continue
                }
                var record = ByteReader(run, offset: start)
                do {
                    guard
                        let (key, packed) = try SnapshotRecordCodec.decode(
                            from: &record, version: version, limits: limits)
                    else { return }
                    guard shards[shard].updateValue(packed, forKey: ExactKey(key)) == nil else {
                        error = EventbaseError(.corruptData, "The snapshot holds the same key twice.")
                        return
                    }
                    count += 1
                } catch {
                    self.error =
                        error as? EventbaseError
                        ?? EventbaseError(.corruptData, "A snapshot record cannot be read.", cause: error)
                    return
                }
                reader = record
            }
        }
    }
}
