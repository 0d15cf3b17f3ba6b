import EventbaseCore

/// The replica's records, split over many small dictionaries by key hash, each record packed
/// (``PackedRecord``: meta and document in one compact buffer; reads decode the document).
///
/// A snapshot takes a copy of the whole value in O(shards) (the array and each dictionary are
/// copy-on-write). The first write to a shard after that copies only that shard, so a snapshot costs
/// a writer at most one small copy, instead of one copy of the whole table on the first write
/// (≈ 0.5 s under the store's lock for a million records; see docs/benchmarks-filestore.md).
struct ShardedRecords: Sendable {
    /// The default number of shards: a million records make shards of about 250, whose copy takes
    /// well under a millisecond. The cost is about 32 KiB per store while empty, and a few hundred
    /// KiB of dictionary headers once every shard holds records.
    static let defaultShardCount = 4096

    /// Keyed byte-exactly: canonically equivalent keys (NFC and NFD) are distinct keys.
    private var shards: [[ExactKey: PackedRecord]]
    /// The number of records.
    private(set) var count = 0

    /// An empty set of records with `shardCount` shards.
    init(shardCount: Int = Self.defaultShardCount) {
        precondition(shardCount > 0, "A sharded table needs at least one shard")
        shards = Array(repeating: [:], count: shardCount)
    }

    /// Builds a table from its shards: `shards[i]` holds the records whose keys have shard `i`.
    init(shards: [[ExactKey: PackedRecord]], count: Int) {
        precondition(!shards.isEmpty, "A sharded table needs at least one shard")
        self.shards = shards
        self.count = count
    }

    /// Makes room for about `records` records in all, each shard for its share (and an eighth more,
    /// as keys do not spread exactly evenly), when that is more than a few a shard.
    mutating func reserveCapacity(_ records: Int) {
        let perShard = records / shards.count
        // Small shards grow cheaply: only worth it when each shard will hold more than a few.
        guard perShard >= 16 else { return }
        let room = perShard + perShard / 8 + 1
        for index in shards.indices where shards[index].capacity < room {
            shards[index].reserveCapacity(room)
        }
    }

    private func shard(of key: ExactKey) -> Int {
        var string = key.string
        return string.withUTF8 { Self.shard(ofKeyBytes: UnsafeRawBufferPointer($0), shardCount: shards.count) }
    }

    /// The shard of the key with these UTF-8 bytes, so that a loader can place a record before
    /// making its key.
    ///
    /// A cheap hash (FNV-1a from a seed drawn once per process, then mixed): the dictionaries within
    /// a shard hash keys with the standard library's seeded hash, so keys crafted to share a shard
    /// make that shard large (its copy after a snapshot slower), never a dictionary slow.
    static func shard(ofKeyBytes bytes: UnsafeRawBufferPointer, shardCount: Int) -> Int {
        var hash = shardSeed
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        hash ^= hash >> 33
        hash &*= 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return Int(hash % UInt64(shardCount))
    }

    /// The seed of ``shard(ofKeyBytes:shardCount:)``: shards are placed anew in every process
    /// (nothing stores them).
    private static let shardSeed = 0xcbf2_9ce4_8422_2325 ^ UInt64.random(in: 0...UInt64.max)

    /// The record for `key`, if any.
    subscript(key: String) -> Record<JSONValue>? {
        packed(key)?.record(key: key)
    }

    /// The packed record for `key`, if any.
    func packed(_ key: String) -> PackedRecord? {
        packed(ExactKey(key))
    }

    func packed(_ key: ExactKey) -> PackedRecord? {
        shards[shard(of: key)][key]
    }

    /// Stores `record` under `key`, or removes the key when `record` is nil.
    mutating func set(_ key: String, _ record: PackedRecord?) {
        let key = ExactKey(key)
        let index = shard(of: key)
        if let record {
            if shards[index].updateValue(record, forKey: key) == nil { count += 1 }
        } else if shards[index].removeValue(forKey: key) != nil {
            count -= 1
        }
    }

    /// Visits every record once.
    func forEachRecord(_ body: (_ key: String, _ record: Record<JSONValue>) throws -> Void) rethrows {
        for shard in shards {
            for (key, record) in shard {
                try body(key.string, record.record(key: key.string))
            }
        }
    }

    /// Visits every packed record once.
    func forEachPacked(_ body: (_ key: String, _ record: PackedRecord) throws -> Void) rethrows {
        for shard in shards {
            for (key, record) in shard {
                try body(key.string, record)
            }
        }
    }

    /// Visits every key once.
    func forEachKey(_ body: (_ key: String) throws -> Void) rethrows {
        for shard in shards {
            for key in shard.keys {
                try body(key.string)
            }
        }
    }
}
