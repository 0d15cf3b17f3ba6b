public import EventbaseCore
import Foundation
public import Logging
import Synchronization

/// A durable ``StateStore``: the replica lives in memory and is persisted as zlib-compressed,
/// checksummed snapshot files, so a restart loads the newest snapshot and replays only the events
/// after it.
///
/// ```swift
/// let store = FileStateStore(directory: "./data")
/// let eventbase = try await Eventbase.builder(streamName: "myapp")
///     .eventLog(log)
///     .stateStore(store)
///     .build()
/// ```
///
/// Each stream gets a folder under `directory` (its name escaped so any stream name is a safe
/// folder name) holding the newest two snapshots (format: docs/snapshot-format.md) and a lock file
/// that keeps a second store out.
///
/// ## Durability
///
/// The log is the write-ahead log: a snapshot holds the records and the sequence they reflect in one
/// file, replaced atomically (temporary file, `fsync`, `rename`, directory `fsync`). After a crash,
/// the store reopens at its newest valid snapshot and the replica replays the log from the next
/// sequence, so no event is applied twice or lost. Snapshots are written by one background task
/// from a consistent view that costs O(shards) to take, so reads and ``apply(_:)`` never wait for
/// the disk: after ``Options/snapshotEveryEvents`` changes, every ``Options/snapshotInterval`` while
/// something changed, on ``checkpoint()`` and on ``close()``.
///
/// ## Damaged files
///
/// A snapshot that is corrupt, truncated, oversized (see ``Options/maxSnapshotBytes``) or of another
/// stream is skipped with a warning, and the next older one is tried, then an empty store (a full
/// replay). A snapshot written by a newer format version stops ``open(stream:)`` with
/// `.unsupportedVersion`.
public final class FileStateStore: StateStore {
    /// A request to the background task.
    private enum Wake: Sendable {
        /// A policy says a snapshot is due.
        case due
        /// `checkpoint()` waits for everything applied so far to be durable.
        case checkpoint(CheckedContinuation<Void, any Error>)
        /// `close()` waits for the final snapshot; the task then ends.
        case close(CheckedContinuation<Void, any Error>)
    }

    private enum Phase {
        case idle
        case opening
        case open(wakes: AsyncStream<Wake>.Continuation, task: Task<Void, Never>)
        case closing(task: Task<Void, Never>)
    }

    private struct State {
        var phase = Phase.idle
        var records = ShardedRecords()
        var lastApplied: UInt64 = 0
        var lastAppliedTime: Date?
        var identity: StreamIdentity?
        /// Bumped by every apply and reset; a snapshot is due when it differs from the written one.
        var version: UInt64 = 0
        /// The version of the newest durable snapshot (or of what was loaded).
        var writtenVersion: UInt64 = 0
        /// Bumped by every reset.
        var epoch: UInt64 = 0
        /// Changes applied since the last snapshot view was taken.
        var changesSinceView = 0
        /// Whether a count-triggered snapshot was requested and not taken yet.
        var countSnapshotRequested = false

        var wakes: AsyncStream<Wake>.Continuation? {
            if case .open(let wakes, _) = phase { wakes } else { nil }
        }
    }

    /// What the background task knows about the files; only that task reads or changes it.
    private struct WriterState: Sendable {
        var folder: SnapshotFolder
        var lock: DirectoryLock
        var nextGeneration: UInt64
        /// The newest durable snapshot and the epoch its records belong to.
        var lastGood: (generation: UInt64, epoch: UInt64)?
    }

    /// The directory holding one folder per stream.
    public let directory: String
    /// The snapshot policy and read limits.
    public let options: Options
    private let clock: any Clock<Duration>
    private let logger: Logger
    private let state = Mutex(State())
    private let io: DispatchQueue

    /// Creates a store that keeps its files under `directory` (created on open if missing).
    /// - Parameters:
    ///   - directory: The directory holding one folder per stream.
    ///   - options: When to write snapshots and the limits to read them with.
    ///   - clock: The clock for ``Options/snapshotInterval`` (tests pass a manual clock).
    ///   - logger: Where skipped snapshots and failed background writes are reported (default: nowhere).
    public init(
        directory: String,
        options: Options = .init(),
        clock: any Clock<Duration> = ContinuousClock(),
        logger: Logger = Logger(label: "eventbase.filestore", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.directory = directory
        self.options = options
        self.clock = clock
        self.logger = logger
        self.io = DispatchQueue(label: "eventbase.filestore")
    }

    /// The folder that holds `stream`'s snapshots.
    /// - Parameter stream: A stream name.
    /// - Returns: The folder's path under ``directory``.
    public func folder(for stream: String) -> String {
        directory + "/" + StreamFolderName.escape(stream)
    }

    // MARK: StateStore

    /// Locks the stream's folder, loads its newest valid snapshot and starts the background task.
    /// - Parameter stream: The stream name.
    /// - Returns: The loaded snapshot's sequence and stream identity, or ``StoreCheckpoint/empty``.
    /// - Throws: `.unsupportedVersion` for a snapshot of a newer format; `.storageFailure` when the
    ///   folder cannot be created, locked (another store uses it) or read; `.invalidArgument` when the
    ///   store is already open.
    public func open(stream: String) async throws -> StoreCheckpoint {
        try state.withLock { state in
            guard case .idle = state.phase else {
                throw EventbaseError(
                    .invalidArgument, "This file store is already open; close it before opening it again.")
            }
            state.phase = .opening
        }
        let folder = SnapshotFolder(path: folder(for: stream), stream: stream, logger: logger)
        let opened: SnapshotFolder.Opened
        do {
            let (limit, shards) = (options.maxSnapshotBytes, options.shardCount)
            opened = try await offload { try folder.open(limit: limit, shardCount: shards) }
        } catch {
            state.withLock { $0.phase = .idle }
            throw error
        }
        let (wakes, wakeInput) = AsyncStream.makeStream(of: Wake.self)
        let writer = WriterState(
            folder: folder, lock: opened.lock, nextGeneration: opened.nextGeneration,
            lastGood: opened.loaded.map { ($0.header.generation, 0) })
        // Stored, not structured: open() returns while snapshots are written in the background until
        // close(), which awaits this task.
        let task = Task { [self] in await run(wakes, writer: writer, wakeInput: wakeInput) }
        let loaded = opened.loaded
        return state.withLock { state in
            state.records = loaded?.records ?? ShardedRecords(shardCount: options.shardCount)
            state.lastApplied = loaded?.header.lastAppliedSequence ?? 0
            state.lastAppliedTime = loaded?.header.lastAppliedTime
            state.identity = loaded?.header.identity
            state.version = 0
            state.writtenVersion = 0
            state.epoch = 0
            state.changesSinceView = 0
            state.countSnapshotRequested = false
            state.phase = .open(wakes: wakeInput, task: task)
            return StoreCheckpoint(
                lastAppliedSequence: state.lastApplied, identity: state.identity, lastAppliedTime: state.lastAppliedTime
            )
        }
    }

    /// The record for `key`, if any. Never waits for the disk.
    public func record(forKey key: String) -> Record<JSONValue>? {
        state.withLock { $0.records.packed(key) }?.record(key: key)
    }

    /// The meta of the record for `key`, if any, without decoding its document.
    public func meta(forKey key: String) -> Meta? {
        state.withLock { $0.records.packed(key)?.meta }
    }

    /// The number of records.
    public var count: Int { state.withLock { $0.records.count } }

    /// The sequence of the last applied log entry.
    public var lastAppliedSequence: UInt64 { state.withLock { $0.lastApplied } }

    /// Visits every record from a consistent view taken in O(shards); writes during the visit do not
    /// disturb it.
    public func forEachRecord(_ body: (_ key: String, _ record: Record<JSONValue>) throws -> Void) rethrows {
        let records = state.withLock { $0.records }
        try records.forEachRecord(body)
    }

    /// `true`: records are kept packed.
    public var keepsPackedRecords: Bool { true }

    /// The packed record for `key`, if any. Never waits for the disk.
    public func packedRecord(forKey key: String) -> PackedRecord? {
        state.withLock { $0.records.packed(key) }
    }

    /// Visits every packed record from a consistent view taken in O(shards).
    public func forEachPackedRecord(_ body: (_ key: String, _ record: PackedRecord) throws -> Void) rethrows {
        let records = state.withLock { $0.records }
        try records.forEachPacked(body)
    }

    /// Visits every key from a consistent view, without decoding records.
    public func forEachKey(_ body: (_ key: String) throws -> Void) rethrows {
        let records = state.withLock { $0.records }
        try records.forEachKey(body)
    }

    /// Applies a batch and its sequence together, in memory; the background task persists them.
    /// - Throws: `.closed` when the store is not open.
    public func apply(_ batch: StateBatch) throws {
        // Packed before taking the lock, so readers wait only for the table updates.
        let packed = batch.changes.map { ($0.key, $0.packed ?? $0.record.map(PackedRecord.init)) }
        let wake = try state.withLock { state -> AsyncStream<Wake>.Continuation? in
            guard let wakes = state.wakes else { throw Self.notOpen() }
            guard !batch.changes.isEmpty || batch.lastAppliedSequence > state.lastApplied else { return nil }
            for (key, record) in packed {
                state.records.set(key, record)
            }
            state.lastApplied = max(state.lastApplied, batch.lastAppliedSequence)
            if let time = batch.lastAppliedTime { state.lastAppliedTime = time }
            state.version &+= 1
            state.changesSinceView += batch.changes.count
            guard let every = options.snapshotEveryEvents, state.changesSinceView >= every,
                !state.countSnapshotRequested
            else { return nil }
            state.countSnapshotRequested = true
            return wakes
        }
        wake?.yield(.due)
    }

    /// Makes room for `records` records at once, spread over the shards (a replay into this store
    /// grows no shard a step at a time). Does nothing when the store is not open.
    public func reserveCapacity(_ records: Int) {
        state.withLock { state in
            guard state.wakes != nil, records > state.records.count else { return }
            state.records.reserveCapacity(records)
        }
    }

    /// Drops every record for a new incarnation of the stream, and asks the background task for a
    /// snapshot that replaces (and removes) every older one.
    /// - Throws: `.closed` when the store is not open.
    public func reset(identity: StreamIdentity) throws {
        let wake = try state.withLock { state in
            guard let wakes = state.wakes else { throw Self.notOpen() }
            state.records = ShardedRecords(shardCount: options.shardCount)
            state.lastApplied = 0
            state.lastAppliedTime = nil
            state.identity = identity
            state.version &+= 1
            state.epoch &+= 1
            return wakes
        }
        wake.yield(.due)
    }

    /// Returns once everything applied so far is in a durable snapshot.
    /// - Throws: `.storageFailure` when the snapshot cannot be written; `.closed` when the store is
    ///   not open.
    public func checkpoint() async throws {
        let wakes = try state.withLock { state in
            guard let wakes = state.wakes else { throw Self.notOpen() }
            return wakes
        }
        try await withCheckedThrowingContinuation { continuation in
            if case .terminated = wakes.yield(.checkpoint(continuation)) {
                continuation.resume(throwing: Self.notOpen())
            }
        }
    }

    /// Writes a final snapshot (if anything changed), stops the background task and unlocks the
    /// folder. Idempotent; the store may be opened again afterwards.
    /// - Throws: `.storageFailure` when the final snapshot cannot be written (the store still closes;
    ///   the next open replays from the previous snapshot).
    public func close() async throws {
        enum Action {
            case none
            case wait(Task<Void, Never>)
            case close(AsyncStream<Wake>.Continuation, Task<Void, Never>)
        }
        let action = state.withLock { state -> Action in
            switch state.phase {
            case .idle, .opening:
                return .none
            case .closing(let task):
                return .wait(task)
            case .open(let wakes, let task):
                state.phase = .closing(task: task)
                return .close(wakes, task)
            }
        }
        switch action {
        case .none:
            return
        case .wait(let task):
            await task.value
        case .close(let wakes, let task):
            var failure: (any Error)?
            do {
                try await withCheckedThrowingContinuation { continuation in
                    if case .terminated = wakes.yield(.close(continuation)) { continuation.resume() }
                }
            } catch {
                failure = error
            }
            wakes.finish()
            await task.value
            state.withLock { $0.phase = .idle }
            if let failure { throw failure }
        }
    }

    // MARK: Background work

    /// The store's background work: writes snapshots when a policy, `checkpoint()` or `close()`
    /// asks, one at a time, until `close()`; then releases the folder's lock.
    private func run(
        _ wakes: AsyncStream<Wake>, writer: WriterState, wakeInput: AsyncStream<Wake>.Continuation
    ) async {
        var writer = writer
        await withTaskGroup(of: Void.self) { group in
            if let interval = options.snapshotInterval {
                let clock = clock
                group.addTask {
                    while !Task.isCancelled {
                        do {
                            try await clock.sleep(for: interval)
                        } catch {
                            return
                        }
                        wakeInput.yield(.due)
                    }
                }
            }
            var closed = false
            for await wake in wakes {
                switch wake {
                case .due:
                    guard !closed else { continue }
                    do {
                        try await snapshotIfChanged(&writer)
                    } catch {
                        logger.error(
                            "Writing a snapshot failed; the store keeps running and retries on the next trigger",
                            metadata: ["error": "\(error)"])
                    }
                case .checkpoint(let continuation):
                    guard !closed else {
                        continuation.resume(throwing: Self.notOpen())
                        continue
                    }
                    do {
                        try await snapshotIfChanged(&writer)
                        continuation.resume()
                    } catch {
                        continuation.resume(throwing: error)
                    }
                case .close(let continuation):
                    closed = true
                    group.cancelAll()
                    do {
                        try await snapshotIfChanged(&writer)
                        continuation.resume()
                    } catch {
                        logger.error("Writing the final snapshot failed", metadata: ["error": "\(error)"])
                        continuation.resume(throwing: error)
                    }
                }
            }
            group.cancelAll()
        }
        writer.lock.release()
    }

    /// Writes a snapshot of the current state unless the newest one already holds it.
    private func snapshotIfChanged(_ writer: inout WriterState) async throws {
        let view = state.withLock { state -> SnapshotView? in
            guard state.version != state.writtenVersion else { return nil }
            state.changesSinceView = 0
            state.countSnapshotRequested = false
            return SnapshotView(
                records: state.records, lastAppliedSequence: state.lastApplied,
                lastAppliedTime: state.lastAppliedTime, identity: state.identity,
                epoch: state.epoch, version: state.version)
        }
        guard let view else { return }
        let generation = writer.nextGeneration
        writer.nextGeneration += 1
        let folder = writer.folder
        let level = options.compressionLevel
        let info = try await offload { try folder.write(view, generation: generation, level: level) }
        state.withLock { $0.writtenVersion = view.version }
        // Keep the previous snapshot while it holds the same incarnation: if the new one is damaged
        // later, the store falls back to it. After a reset, the older records must not survive.
        var keep: Set<UInt64> = [generation]
        if let lastGood = writer.lastGood, lastGood.epoch == view.epoch { keep.insert(lastGood.generation) }
        writer.lastGood = (generation, view.epoch)
        let kept = keep
        do {
            try await offload { try folder.prune(keeping: kept) }
        } catch {
            logger.warning("Removing old snapshots failed", metadata: ["error": "\(error)"])
        }
        logger.debug(
            "Wrote a snapshot",
            metadata: [
                "generation": "\(info.generation)", "sequence": "\(info.lastAppliedSequence)",
                "records": "\(info.recordCount)", "bytes": "\(info.fileBytes)", "duration": "\(info.duration)",
            ])
        options.onSnapshot?(info)
    }

    /// Runs blocking file work on the store's I/O queue, off the cooperative thread pool.
    private func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            io.async { continuation.resume(with: Result { try work() }) }
        }
    }

    private static func notOpen() -> EventbaseError {
        EventbaseError(.closed, "This file state store is not open: open it (or build an Eventbase with it) first.")
    }
}
