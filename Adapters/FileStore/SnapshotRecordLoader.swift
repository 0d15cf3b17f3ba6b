import Dispatch
import EventbaseCore

/// Turns a snapshot body's records into a ``ShardedRecords`` on several threads, while the caller
/// reads and inflates the rest of the body.
///
/// Most of a load is per record: checking its packed bytes, allocating its buffer (on a fresh heap
/// that is also the kernel handing out and zeroing pages) and hashing it into its shard; inflating
/// is most of the rest. The caller hands over runs of whole records (``submit(_:)``): workers decode
/// most of each run on other threads while the caller decodes a smaller share and then goes on
/// inflating the next run.
///
/// Each part (the caller's, and one per worker) owns a fixed set of shards: the shard index modulo
/// one plus twice the worker count falls in its residues (one for the caller, two for each worker,
/// as the caller also inflates). Every part walks every record of a run, hashes the key's bytes to
/// find its shard (as ``ShardedRecords`` places keys), and decodes and inserts only its own. Shards
/// never share a part, so no lock is taken, and the table built is the one one thread would build.
final class SnapshotRecordLoader {
    /// The caller's part first, then one per worker.
    private let parts: [Part]
    private let shardCount: Int
    private let version: UInt16
    private let limits: JSONLimits
    /// The workers' share of the run being decoded, if any.
    private let running = DispatchGroup()

    /// A loader for records of format `version` into `shardCount` shards, with `workers` threads
    /// besides the caller's, room made for `expectedRecords`.
    init(shardCount: Int, version: UInt16, limits: JSONLimits, expectedRecords: Int, workers: Int) {
        let workers = max(0, workers)
        let modulus = 1 + 2 * workers
        self.shardCount = shardCount
        self.version = version
        self.limits = limits
        let perShard = expectedRecords / shardCount + expectedRecords / shardCount / 8 + 1
        parts = (0...workers).map { number in
            Part(
                residues: number == 0 ? 0..<1 : (2 * number - 1)..<(2 * number + 1), modulus: modulus,
                shardCount: shardCount, reserving: perShard)
        }
    }

    deinit {
        // Never leave workers behind (a run that failed to inflate throws past `finish()`).
        running.wait()
    }

    /// Decodes `run`, whole records only (see ``completeRecords(in:)``): the caller's share now, the
    /// workers' share on their threads, after the workers are done with the run before it.
    /// - Throws: `.corruptData` found in this run's share of the caller or in an earlier run: a
    ///   record that is invalid, or a key seen twice.
    func submit(_ run: [UInt8]) throws {
        try waitForRun()
        guard !run.isEmpty else { return }
        let (version, limits) = (self.version, self.limits)
        for part in parts.dropFirst() {
            DispatchQueue.global().async(group: running) {
                run.withUnsafeBytes { part.decode($0, version: version, limits: limits) }
            }
        }
        run.withUnsafeBytes { parts[0].decode($0, version: version, limits: limits) }
        if let error = parts[0].error { throw error }
    }

    /// The records decoded, as one table, once the last run is done.
    /// - Throws: `.corruptData` found in the last run.
    func finish() throws -> ShardedRecords {
        try waitForRun()
        var shards = [[ExactKey: PackedRecord]](repeating: [:], count: shardCount)
        for part in parts {
            for index in 0..<shardCount where part.owns(index) {
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
        /// The shards of this part: those whose index modulo `modulus` is in `residues`.
        let residues: Range<Int>
        let modulus: Int
        var shards: [[ExactKey: PackedRecord]]
        var count = 0
        var error: EventbaseError?

        init(residues: Range<Int>, modulus: Int, shardCount: Int, reserving perShard: Int) {
            self.residues = residues
            self.modulus = modulus
            shards = [[ExactKey: PackedRecord]](repeating: [:], count: shardCount)
            for index in 0..<shardCount where residues.contains(index % modulus) {
                shards[index].reserveCapacity(perShard)
            }
        }

        func owns(_ shard: Int) -> Bool {
            residues.contains(shard % modulus)
        }

        func decode(_ run: UnsafeRawBufferPointer, version: UInt16, limits: JSONLimits) {
            guard error == nil else { return }
            // Worked on as a local (one uniqueness check a record, not a property access's checks).
            var shards = self.shards
            self.shards = []
            defer { self.shards = shards }
            var reader = ByteReader(run)
            while reader.remaining > 0 {
                let start = reader.offset
                // Whole records only: the lengths were checked by `completeRecords`.
                guard let keyLength = reader.read(UInt32.self), let key = reader.readBytes(Int(keyLength)) else {
                    return
                }
                let shard = ShardedRecords.shard(ofKeyBytes: key, shardCount: shards.count)
                guard owns(shard) else {
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
