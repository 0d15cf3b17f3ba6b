public import Foundation

/// The local replica's storage: records by key and the last applied log sequence.
///
/// Eventbase reads it on every `get`, `keys` and `query`, so reads are synchronous and must be
/// fast (no I/O on the read path: keep records in memory or in a memory-mapped structure).
///
/// ## Implementation requirements
///
/// - **Thread safety**: any method may be called from any thread; reads may run concurrently with
///   an ``apply(_:)``. A reader sees either all of a batch or none of it.
/// - **Atomicity**: ``apply(_:)`` applies every change of the batch *and* its
///   ``StateBatch/lastAppliedSequence`` together. After a crash a durable store must come back with
///   either all of a batch or none of it, so no event is applied twice or lost.
/// - **Non-blocking**: methods must not wait on the network or on Eventbase itself (Eventbase calls
///   ``apply(_:)`` while it holds its replica lock). Durable stores write in the background and in
///   ``checkpoint()``.
/// - **Enumeration**: ``forEachRecord(_:)`` visits each record once, from a consistent view.
/// - **Keys**: keys are compared by their exact UTF-8 bytes, not by Swift's `String` equality (which
///   treats NFC `"é"` and NFD `"e\u{301}"` as equal): they are different keys on the wire. Key a
///   dictionary by ``ExactKey``.
/// - **Errors** (``EventbaseError`` codes): `.storageFailure` for I/O errors; `.corruptData` for a
///   damaged file that cannot be skipped; `.unsupportedVersion` for a file written by a newer version;
///   `.closed` after ``close()``.
///
/// The conformance suite `StateStoreConformance` in EventbaseTestKit checks these.
public protocol StateStore: AnyObject, Sendable {
    /// Loads what the store persisted for `stream` (nothing, for a memory store).
    /// - Returns: The checkpoint the replica resumes from.
    func open(stream: String) async throws -> StoreCheckpoint

    /// The record for `key`, if any.
    func record(forKey key: String) -> Record<JSONValue>?

    /// The meta of the record for `key`, if any. Eventbase calls this on every write (for the change
    /// count and creation date); a store that keeps documents encoded answers it without decoding.
    /// The default implementation returns `record(forKey:)?.meta`.
    func meta(forKey key: String) -> Meta?

    /// The number of records.
    var count: Int { get }

    /// The sequence of the last applied log entry (0 when nothing was applied).
    var lastAppliedSequence: UInt64 { get }

    /// Visits every record (in no particular order), from a consistent view.
    func forEachRecord(_ body: (_ key: String, _ record: Record<JSONValue>) throws -> Void) rethrows

    /// Visits every key (in no particular order), from a consistent view, without the records.
    /// The default implementation calls ``forEachRecord(_:)``.
    func forEachKey(_ body: (_ key: String) throws -> Void) rethrows

    /// Whether the store keeps ``PackedRecord``s, so that ``packedRecord(forKey:)`` and
    /// ``forEachPackedRecord(_:)`` cost no encoding. Queries then decode only the fields they test,
    /// and only the matching documents in full. The default is `false`.
    var keepsPackedRecords: Bool { get }

    /// The packed record for `key`, if any. The default implementation packs `record(forKey:)`.
    func packedRecord(forKey key: String) -> PackedRecord?

    /// Visits every packed record (in no particular order), from a consistent view. The default
    /// implementation packs each record of ``forEachRecord(_:)``.
    func forEachPackedRecord(_ body: (_ key: String, _ record: PackedRecord) throws -> Void) rethrows

    /// Applies a batch of changes and its sequence atomically.
    /// - Throws: `.storageFailure`, `.closed`.
    func apply(_ batch: StateBatch) throws

    /// A hint that the store is about to hold about `records` records (Eventbase gives it before
    /// replaying a stream into an empty store), so that a store keeping records in memory can make
    /// room once instead of growing its tables step by step. Only a hint: the store may hold fewer or
    /// more. The default implementation does nothing.
    func reserveCapacity(_ records: Int)

    /// Drops every record and starts over for a new incarnation of the stream.
    /// - Throws: `.storageFailure`, `.closed`.
    func reset(identity: StreamIdentity) throws

    /// Makes everything applied so far durable, so a restart resumes from here (a no-op for memory stores).
    func checkpoint() async throws

    /// Checkpoints and releases resources. Idempotent.
    func close() async throws
}

extension StateStore {
    public func reserveCapacity(_ records: Int) {}

    public func meta(forKey key: String) -> Meta? {
        record(forKey: key)?.meta
    }

    public func forEachKey(_ body: (_ key: String) throws -> Void) rethrows {
        try forEachRecord { key, _ in try body(key) }
    }

    public var keepsPackedRecords: Bool { false }

    public func packedRecord(forKey key: String) -> PackedRecord? {
        record(forKey: key).map(PackedRecord.init)
    }

    public func forEachPackedRecord(_ body: (_ key: String, _ record: PackedRecord) throws -> Void) rethrows {
        try forEachRecord { key, record in try body(key, PackedRecord(record)) }
    }
}

/// Where a replica resumes.
public struct StoreCheckpoint: Sendable, Hashable {
    /// The last applied sequence; the replica reads the log from the next one.
    public var lastAppliedSequence: UInt64
    /// The stream incarnation the records belong to, if the store recorded one.
    public var identity: StreamIdentity?
    /// The log time of the newest entry applied, if the store recorded it (see
    /// ``StateBatch/lastAppliedTime``). A replica whose checkpoint is older than
    /// ``EventbaseOptions/deleteMarkerRetention`` rebuilds: delete markers it never saw may be gone.
    /// `nil` when unknown; the replica then trusts the checkpoint.
    public var lastAppliedTime: Date?

    /// Creates a checkpoint.
    public init(lastAppliedSequence: UInt64, identity: StreamIdentity?, lastAppliedTime: Date? = nil) {
        self.lastAppliedSequence = lastAppliedSequence
        self.identity = identity
        self.lastAppliedTime = lastAppliedTime
    }

    /// An empty store.
    public static let empty = StoreCheckpoint(lastAppliedSequence: 0, identity: nil)
}

/// Changes to apply to a ``StateStore`` together.
public struct StateBatch: Sendable, Hashable {
    /// One key's write: a record written (`record` set) or removed (`record` nil).
    ///
    /// Equality and hashing compare `key` and `record` (`packed` is `record` in another form).
    public struct Write: Sendable, Hashable {
        /// The key changed.
        public var key: String
        /// The new record, or `nil` when the key was deleted.
        ///
        /// When the replica made the change packed only (``packed`` set: it may, for a store whose
        /// ``StateStore/keepsPackedRecords`` is `true`, when nothing else needed the document decoded),
        /// reading this decodes ``packed`` each time. Setting it replaces the record; setting `nil` also
        /// clears ``packed``.
        public var record: Record<JSONValue>? {
            get { decodedRecord ?? packed?.record(key: key) }
            set {
                decodedRecord = newValue
                if newValue == nil { packed = nil }
            }
        }
        /// `record` when it was given decoded.
        private var decodedRecord: Record<JSONValue>?
        /// `record`, packed, when the replica packed it: it does for a store whose
        /// ``StateStore/keepsPackedRecords`` is `true`, and shares that one instance with its
        /// equality indexes. Such a store keeps this instance instead of packing `record` again.
        public var packed: PackedRecord?

        /// Creates a write.
        /// - Parameters:
        ///   - key: The key changed.
        ///   - record: The new record, or `nil` when the key was deleted.
        ///   - packed: `record`, packed (it must hold the same document and meta), if it was packed.
        public init(key: String, record: Record<JSONValue>?, packed: PackedRecord? = nil) {
            self.key = key
            self.decodedRecord = record
            self.packed = packed
        }

        /// A record written, given packed only (``record`` decodes it when read).
        public init(key: String, packed: PackedRecord) {
            self.key = key
            self.decodedRecord = nil
            self.packed = packed
        }

        /// The new record's meta, read without decoding a packed record; `nil` for a delete.
        public var meta: Meta? { decodedRecord?.meta ?? packed?.meta }

        public static func == (lhs: Write, rhs: Write) -> Bool {
            lhs.key == rhs.key && lhs.record == rhs.record
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(key)
            hasher.combine(record)
        }
    }

    /// The changes, in log order (a key may appear more than once; the last wins).
    public var changes: [Write]
    /// The sequence the store is at once the batch is applied.
    public var lastAppliedSequence: UInt64
    /// The log time of the batch's newest entry; `nil` leaves the store's unchanged. A durable store
    /// keeps it with its checkpoint and reports it in ``StoreCheckpoint/lastAppliedTime``.
    public var lastAppliedTime: Date?

    /// Creates a batch.
    public init(changes: [Write], lastAppliedSequence: UInt64, lastAppliedTime: Date? = nil) {
        self.changes = changes
        self.lastAppliedSequence = lastAppliedSequence
        self.lastAppliedTime = lastAppliedTime
    }
}
