extension FileStateStore {
    /// When a ``FileStateStore`` writes snapshots, and the limits it reads them with.
    ///
    /// ```swift
    /// var options = FileStateStore.Options()
    /// options.snapshotEveryEvents = 50_000
    /// options.snapshotInterval = .seconds(30)
    /// let store = FileStateStore(directory: "./data", options: options)
    /// ```
    public struct Options: Sendable {
        /// Writes a snapshot once this many changes were applied since the last one (`nil`: never by
        /// count). Default 10,000.
        ///
        /// A restart replays at most about this many events plus what ``snapshotInterval`` lets
        /// accumulate, however long the log is.
        public var snapshotEveryEvents: Int?

        /// Writes a snapshot this often while something changed since the last one (`nil`: never by
        /// time). Measured on the store's clock. Default 60 seconds.
        public var snapshotInterval: Duration?

        /// The most bytes a snapshot body may inflate to when it is read (default 8 GiB).
        ///
        /// A snapshot declaring or producing more is skipped with a warning (the replica is then
        /// rebuilt from an older snapshot or the log), so a damaged or hostile file cannot exhaust
        /// memory. Raise it if your replica is larger.
        public var maxSnapshotBytes: UInt64

        /// The zlib compression level for snapshot bodies, 0 (store) to 9 (smallest). Default 1
        /// (fastest; JSON records still compress about 5×, see docs/benchmarks-filestore.md).
        public var compressionLevel: Int

        /// Called (on the store's background task) after each snapshot is durable, e.g. for metrics.
        public var onSnapshot: (@Sendable (SnapshotInfo) -> Void)?

        /// How many dictionaries the records are split over (for the benchmark that compares one
        /// table with the default 4,096; see docs/snapshot-format.md, "Consistent views").
        package var shardCount = ShardedRecords.defaultShardCount

        /// Creates options.
        /// - Parameters:
        ///   - snapshotEveryEvents: Changes between snapshots, or `nil`.
        ///   - snapshotInterval: Time between snapshots while changes happen, or `nil`.
        ///   - maxSnapshotBytes: The inflated size limit when reading a snapshot.
        ///   - compressionLevel: The zlib level, 0 to 9.
        ///   - onSnapshot: Called after each snapshot is durable.
        public init(
            snapshotEveryEvents: Int? = 10_000,
            snapshotInterval: Duration? = .seconds(60),
            maxSnapshotBytes: UInt64 = 8 << 30,
            compressionLevel: Int = 1,
            onSnapshot: (@Sendable (SnapshotInfo) -> Void)? = nil
        ) {
            self.snapshotEveryEvents = snapshotEveryEvents
            self.snapshotInterval = snapshotInterval
            self.maxSnapshotBytes = maxSnapshotBytes
            self.compressionLevel = compressionLevel
            self.onSnapshot = onSnapshot
        }
    }

    /// A snapshot that was written.
    public struct SnapshotInfo: Sendable, Hashable {
        /// The file's path.
        public var path: String
        /// The snapshot's generation (higher is newer).
        public var generation: UInt64
        /// The last applied sequence it holds; a restart resumes from the next one.
        public var lastAppliedSequence: UInt64
        /// How many records it holds.
        public var recordCount: Int
        /// The file's size in bytes.
        public var fileBytes: UInt64
        /// The size of the body before compression.
        public var uncompressedBytes: UInt64
        /// How long serializing, compressing and syncing it took (wall time).
        public var duration: Duration

        /// Creates a description of a snapshot.
        public init(
            path: String, generation: UInt64, lastAppliedSequence: UInt64, recordCount: Int, fileBytes: UInt64,
            uncompressedBytes: UInt64, duration: Duration
        ) {
            self.path = path
            self.generation = generation
            self.lastAppliedSequence = lastAppliedSequence
            self.recordCount = recordCount
            self.fileBytes = fileBytes
            self.uncompressedBytes = uncompressedBytes
            self.duration = duration
        }
    }
}
