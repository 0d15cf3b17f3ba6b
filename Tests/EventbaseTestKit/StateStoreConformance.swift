public import EventbaseCore
import Foundation

/// The behaviour every ``StateStore`` adapter must have, as checks that throw a descriptive
/// ``ConformanceFailure``.
///
/// ```swift
/// @Test(arguments: StateStoreConformance.Check.allCases)
/// func conformance(_ check: StateStoreConformance.Check) async throws {
///     let directory = makeTemporaryDirectory()
///     try await StateStoreConformance(durable: true) { MyStore(directory: directory) }.run(check)
/// }
/// ```
public struct StateStoreConformance: Sendable {
    /// The checks.
    public enum Check: String, CaseIterable, Sendable, CustomStringConvertible {
        /// A new store has no records and last applied sequence 0.
        case startsEmpty
        /// Applied puts can be read back by key (and their meta alone; also when a change carries its
        /// packed form), with the batch's sequence as the last applied one.
        case appliesAndReads
        /// When a batch changes a key several times, the last change is what the store holds.
        case lastChangeOfABatchWins
        /// A delete in a batch removes the record.
        case deletesRemoveRecords
        /// `forEachRecord` and `forEachKey` visit every record exactly once.
        case enumeratesEveryRecordOnce
        /// `reset(identity:)` removes every record and the last applied sequence.
        case resetClearsEverything
        /// The last applied sequence follows each batch, even an empty one.
        case sequenceNeverGoesBack
        /// Applying a batch while an enumeration runs neither deadlocks nor disturbs it.
        case enumerationIsAConsistentView
        /// A durable store reopened after `checkpoint()` and `close()` holds the same records and sequence.
        case durableStoresResumeFromTheirCheckpoint
        /// Canonically equivalent keys (NFC and NFD) and keys with a NUL are distinct keys, byte for byte,
        /// read as records and packed.
        case keysAreComparedByteExactly
        /// A capacity hint (`reserveCapacity`), large or smaller than what the store holds, before and
        /// between batches, changes no record, count or sequence.
        case capacityHintsChangeNothing

        public var description: String { rawValue }
    }

    /// Makes a store. Each call of one check must open the same storage (so a durable store can be
    /// reopened); each check gets a new storage from ``init(durable:makeStorage:)``.
    public typealias Factory = @Sendable () async throws -> any StateStore

    private let durable: Bool
    private let makeStorage: @Sendable () async throws -> Factory

    /// Creates the suite.
    /// - Parameters:
    ///   - durable: Whether the store persists across close and reopen.
    ///   - makeStorage: Called once per check; returns a factory that opens that check's storage.
    public init(durable: Bool, makeStorage: @escaping @Sendable () async throws -> Factory) {
        self.durable = durable
        self.makeStorage = makeStorage
    }

    /// Runs every check.
    public func runAll() async throws {
        for check in Check.allCases { try await run(check) }
    }

    private static func record(_ key: String, _ value: Int, sequence: UInt64) -> Record<JSONValue> {
        let date = Date(timeIntervalSince1970: 1_700_000_000 + Double(sequence))
        return Record(
            key: key, data: ["id": .string(key), "value": .number(Double(value))],
            meta: Meta(dateCreated: date, dateModified: date, changes: value, revision: sequence))
    }

    /// Runs one check.
    public func run(_ check: Check) async throws {
        let label = check.rawValue
        let open = try await makeStorage()
        let store = try await open()
        let stream = "conformance"
        let identity = StreamIdentity(name: stream, created: Date(timeIntervalSince1970: 1_700_000_000))
        let checkpoint = try await store.open(stream: stream)
        defer { _ = store }
        switch check {
        case .startsEmpty:
            try expect(
                checkpoint.lastAppliedSequence == 0, label,
                "a new store is at sequence \(checkpoint.lastAppliedSequence)")
            try expect(store.count == 0, label, "a new store holds \(store.count) records")
            try expect(store.record(forKey: "missing") == nil, label, "a missing key returned a record")

        case .appliesAndReads:
            try store.reset(identity: identity)
            let record = Self.record("a", 1, sequence: 1)
            try store.apply(StateBatch(changes: [.init(key: "a", record: record)], lastAppliedSequence: 1))
            try expect(store.record(forKey: "a") == record, label, "the applied record did not read back equal")
            try expect(
                store.lastAppliedSequence == 1, label, "lastAppliedSequence is \(store.lastAppliedSequence), expected 1"
            )
            try expect(store.count == 1, label, "count is \(store.count), expected 1")
            try expect(store.meta(forKey: "a") == record.meta, label, "meta(forKey:) differs from the record's meta")
            try expect(store.meta(forKey: "missing") == nil, label, "meta(forKey:) returned meta for a missing key")
            // A change the replica packed (as it does for a store that keeps packed records).
            let packed = Self.record("p", 7, sequence: 2)
            try store.apply(
                StateBatch(
                    changes: [.init(key: "p", record: packed, packed: PackedRecord(packed))], lastAppliedSequence: 2))
            try expect(
                store.record(forKey: "p") == packed, label, "a change with its packed form did not read back equal")
            try expect(
                store.packedRecord(forKey: "p")?.record(key: "p") == packed, label,
                "a change with its packed form did not read back equal when packed")

        case .lastChangeOfABatchWins:
            try store.reset(identity: identity)
            try store.apply(
                StateBatch(
                    changes: [
                        .init(key: "a", record: Self.record("a", 1, sequence: 1)),
                        .init(key: "a", record: Self.record("a", 2, sequence: 2)),
                        .init(key: "b", record: Self.record("b", 1, sequence: 3)),
                        .init(key: "b", record: nil),
                    ], lastAppliedSequence: 3))
            try expect(store.record(forKey: "a")?.meta.changes == 2, label, "the last change to a did not win")
            try expect(store.record(forKey: "b") == nil, label, "a delete after a put in one batch did not win")

        case .deletesRemoveRecords:
            try store.reset(identity: identity)
            try store.apply(
                StateBatch(changes: [.init(key: "a", record: Self.record("a", 1, sequence: 1))], lastAppliedSequence: 1)
            )
            try store.apply(StateBatch(changes: [.init(key: "a", record: nil)], lastAppliedSequence: 2))
            try expect(store.record(forKey: "a") == nil, label, "a deleted record is still readable")
            try expect(store.count == 0, label, "a deleted record is still counted")

        case .capacityHintsChangeNothing:
            try store.reset(identity: identity)
            store.reserveCapacity(0)
            store.reserveCapacity(200_000)
            let keys = (0..<300).map { "key-\($0)" }
            try store.apply(
                StateBatch(
                    changes: keys.prefix(200).enumerated().map {
                        .init(key: $1, record: Self.record($1, $0, sequence: UInt64($0 + 1)))
                    },
                    lastAppliedSequence: 200))
            store.reserveCapacity(10)
            store.reserveCapacity(400_000)
            try store.apply(
                StateBatch(
                    changes: keys.dropFirst(200).enumerated().map {
                        .init(key: $1, record: Self.record($1, $0 + 200, sequence: UInt64($0 + 201)))
                    },
                    lastAppliedSequence: 300))
            try expect(store.count == 300, label, "count is \(store.count) after capacity hints, expected 300")
            try expect(store.lastAppliedSequence == 300, label, "the sequence moved to \(store.lastAppliedSequence)")
            for (index, key) in keys.enumerated() {
                try expect(
                    store.record(forKey: key) == Self.record(key, index, sequence: UInt64(index + 1)), label,
                    "\(key) did not read back equal after capacity hints")
            }

        case .enumeratesEveryRecordOnce:
            try store.reset(identity: identity)
            let keys = (0..<500).map { "key-\($0)" }
            try store.apply(
                StateBatch(
                    changes: keys.enumerated().map {
                        .init(key: $1, record: Self.record($1, $0, sequence: UInt64($0 + 1)))
                    },
                    lastAppliedSequence: 500))
            var seen: [String] = []
            store.forEachRecord { key, record in
                seen.append(key)
                _ = record
            }
            try expect(
                seen.sorted() == keys.sorted(), label, "enumeration visited \(seen.count) keys, expected 500 distinct")
            var seenKeys: [String] = []
            store.forEachKey { seenKeys.append($0) }
            try expect(
                seenKeys.sorted() == keys.sorted(), label,
                "forEachKey visited \(seenKeys.count) keys, expected 500 distinct")

        case .keysAreComparedByteExactly:
            // Canonically equivalent keys are still two keys: NFC and NFD, and a key with a NUL.
            try store.reset(identity: identity)
            let keys = ["\u{E9}", "e\u{301}", "a\u{0}b", "a", "\u{212B}", "\u{C5}", "A\u{30A}"]
            try store.apply(
                StateBatch(
                    changes: keys.enumerated().map {
                        .init(key: $1, record: Self.record($1, $0 + 1, sequence: UInt64($0 + 1)))
                    },
                    lastAppliedSequence: UInt64(keys.count)))
            try expect(store.count == keys.count, label, "\(store.count) records for \(keys.count) distinct keys")
            for (index, key) in keys.enumerated() {
                let found = store.record(forKey: key)
                try expect(
                    found?.meta.changes == index + 1 && found.map { Array($0.key.utf8) == Array(key.utf8) } == true,
                    label, "key \(Array(key.unicodeScalars)) read back another key's record")
            }
            // Packed, as queries read them.
            let packed = (keys + ["missing"]).map { store.packedRecord(forKey: $0)?.meta.changes }
            try expect(
                packed == keys.indices.map { $0 + 1 } + [nil], label,
                "packedRecord(forKey:) read \(packed), expected each key's own record")
            var seen: [[UInt8]] = []
            store.forEachRecord { key, _ in seen.append(Array(key.utf8)) }
            try expect(
                Set(seen) == Set(keys.map { Array($0.utf8) }), label,
                "enumeration did not give back every key byte-exactly")
            try store.apply(StateBatch(changes: [.init(key: "e\u{301}", record: nil)], lastAppliedSequence: 100))
            try expect(store.record(forKey: "\u{E9}") != nil, label, "deleting the NFD key deleted the NFC key")

        case .resetClearsEverything:
            try store.apply(
                StateBatch(changes: [.init(key: "a", record: Self.record("a", 1, sequence: 7))], lastAppliedSequence: 7)
            )
            let other = StreamIdentity(name: stream, created: Date(timeIntervalSince1970: 1_800_000_000))
            try store.reset(identity: other)
            try expect(store.count == 0 && store.record(forKey: "a") == nil, label, "reset kept records")
            try expect(store.lastAppliedSequence == 0, label, "reset kept the sequence")

        case .sequenceNeverGoesBack:
            try store.reset(identity: identity)
            try store.apply(StateBatch(changes: [], lastAppliedSequence: 10))
            try expect(store.lastAppliedSequence == 10, label, "an empty batch did not advance the sequence")

        case .enumerationIsAConsistentView:
            try store.reset(identity: identity)
            try store.apply(
                StateBatch(
                    changes: (0..<100).map { .init(key: "k\($0)", record: Self.record("k\($0)", $0, sequence: 1)) },
                    lastAppliedSequence: 1))
            var visited = 0
            try store.forEachRecord { _, _ in
                if visited == 0 {
                    // A write during enumeration must not disturb it.
                    try store.apply(
                        StateBatch(
                            changes: [.init(key: "new", record: Self.record("new", 1, sequence: 2))],
                            lastAppliedSequence: 2))
                }
                visited += 1
            }
            try expect(visited == 100 || visited == 101, label, "enumeration during a write visited \(visited) records")

        case .durableStoresResumeFromTheirCheckpoint:
            try store.reset(identity: identity)
            try store.apply(
                StateBatch(
                    changes: [.init(key: "a", record: Self.record("a", 3, sequence: 42))], lastAppliedSequence: 42))
            try await store.checkpoint()
            try await store.close()
            let reopened = try await open()
            let resumed = try await reopened.open(stream: stream)
            if durable {
                try expect(
                    resumed.lastAppliedSequence == 42, label, "reopened at \(resumed.lastAppliedSequence), expected 42")
                try expect(resumed.identity == identity, label, "the stream identity was not persisted")
                try expect(
                    reopened.record(forKey: "a") == Self.record("a", 3, sequence: 42), label,
                    "a record was not persisted exactly")
            }
            try await reopened.close()
            return
        }
        try await store.close()
    }
}
