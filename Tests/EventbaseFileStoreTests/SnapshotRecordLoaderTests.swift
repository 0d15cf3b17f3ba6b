import EventbaseCore
import Foundation
import Testing

@testable import EventbaseFileStore

/// The loader builds, from runs of records decoded on several threads, exactly the table the records
/// describe, with any number of workers and shards, and reports damage in any run.
@Suite struct SnapshotRecordLoaderTests {
    private static let meta = Meta(
        dateCreated: Date(timeIntervalSince1970: 1_700_000_000.25),
        dateModified: Date(timeIntervalSince1970: 1_700_000_001.5), changes: 3, revision: 42)

    private static func record(_ index: Int) -> PackedRecord {
        PackedRecord(
            data: ["id": .string(key(index)), "n": .number(Double(index)), "tags": ["a", .number(Double(index % 7))]],
            meta: meta)
    }

    /// Keys of every length class, canonically equivalent pairs among them.
    private static func key(_ index: Int) -> String {
        switch index % 4 {
        case 0: "k\(index)"
        case 1: "a longer key that does not fit in a small string \(index)"
        case 2: "e\u{301}\(index)"
        default: "é\(index)"
        }
    }

    /// The encoded records `range`, and where each record starts.
    private static func body(_ range: Range<Int>) -> (bytes: [UInt8], starts: [Int]) {
        var bytes: [UInt8] = []
        var starts: [Int] = []
        for index in range {
            starts.append(bytes.count)
            SnapshotRecordCodec.encode(key: key(index), record: record(index), into: &bytes)
        }
        return (bytes, starts)
    }

    /// Submits `bytes` in runs cut at pseudo-random record boundaries.
    private static func load(
        _ bytes: [UInt8], starts: [Int], workers: Int, shardCount: Int, seed: Int
    ) throws -> ShardedRecords {
        let loader = SnapshotRecordLoader(
            shardCount: shardCount, version: 2, limits: JSONLimits(maxDepth: 1024), expectedRecords: starts.count,
            workers: workers)
        var offset = 0
        var step = seed
        while offset < bytes.count {
            step = (step &* 1_103_515_245 &+ 12_345) & 0x7fff_ffff
            let wanted = offset + 1 + step % 200_000
            let end = starts.first { $0 >= wanted } ?? bytes.count
            let run = Array(bytes[offset..<end])
            #expect(run.withUnsafeBytes { SnapshotRecordLoader.completeRecords(in: $0) } == run.count)
            try loader.submit(run)
            offset = end
        }
        return try loader.finish()
    }

    @Test(arguments: [(0, 64), (1, 4096), (2, 4096), (3, 7), (2, 1)] as [(Int, Int)])
    func recordsLoadExactly(workers: Int, shardCount: Int) throws {
        let count = 12_000
        let (bytes, starts) = Self.body(0..<count)
        let records = try Self.load(bytes, starts: starts, workers: workers, shardCount: shardCount, seed: workers)
        #expect(records.count == count)
        for index in 0..<count {
            let found = try #require(records.packed(Self.key(index)), "key \(index)")
            #expect(found.meta == Self.meta)
            #expect(found.record(key: Self.key(index)).data == Self.record(index).record(key: Self.key(index)).data)
        }
        #expect(records.packed("k\(count)") == nil)
    }

    /// Keys that differ little (counters, one shared prefix) still spread evenly over the shards.
    @Test func similarKeysSpreadOverTheShards() {
        let shardCount = 4096
        var counts = [Int](repeating: 0, count: shardCount)
        for index in 0..<200_000 {
            var key = "user-\(index)"
            let shard = key.withUTF8 {
                ShardedRecords.shard(ofKeyBytes: UnsafeRawBufferPointer($0), shardCount: shardCount)
            }
            counts[shard] += 1
        }
        // About 49 a shard: none empty, none more than three times as full.
        #expect(counts.min()! > 0)
        #expect(counts.max()! < 3 * 200_000 / shardCount)
    }

    @Test func aPartialRecordIsLeftForTheNextRun() {
        let (bytes, starts) = Self.body(0..<3)
        bytes.withUnsafeBytes { all in
            #expect(SnapshotRecordLoader.completeRecords(in: all) == bytes.count)
            let cut = UnsafeRawBufferPointer(rebasing: all[0..<(starts[2] + 5)])
            #expect(SnapshotRecordLoader.completeRecords(in: cut) == starts[2])
            #expect(SnapshotRecordLoader.completeRecords(in: UnsafeRawBufferPointer(rebasing: all[0..<3])) == 0)
        }
    }

    @Test(arguments: [0, 1, 2])
    func aKeyRepeatedInALaterRunIsCorrupt(workers: Int) throws {
        var (bytes, starts) = Self.body(0..<5_000)
        let again = Self.body(17..<18).bytes
        starts.append(bytes.count)
        bytes += again
        #expect(throws: EventbaseError.self) {
            _ = try Self.load(bytes, starts: starts, workers: workers, shardCount: 64, seed: 3)
        }
    }

    @Test(arguments: [0, 1, 2])
    func aDamagedRecordInAnyRunIsCorrupt(workers: Int) throws {
        let (clean, starts) = Self.body(0..<5_000)
        for victim in [3, 2_500, 4_999] {
            var bytes = clean
            // The first byte of the record's data (after its key, meta and data length): an unknown tag.
            let keyLength = Self.key(victim).utf8.count
            bytes[starts[victim] + 4 + keyLength + 32 + 4] = 0xEE
            do {
                _ = try Self.load(bytes, starts: starts, workers: workers, shardCount: 64, seed: victim)
                Issue.record("A damaged record \(victim) was accepted")
            } catch let error as EventbaseError {
                #expect(error.code == .corruptData)
            }
        }
    }
}
