import EventbaseCore
import Foundation
import Logging

/// What a snapshot holds: a consistent view of the replica, taken in O(shards) under the store's lock.
struct SnapshotView: Sendable {
    /// The records.
    var records: ShardedRecords
    /// The last applied sequence.
    var lastAppliedSequence: UInt64
    /// The log time of the newest entry applied, if known.
    var lastAppliedTime: Date?
    /// The stream incarnation, if known.
    var identity: StreamIdentity?
    /// How many resets happened before it (since the store opened).
    var epoch: UInt64
    /// How many applies and resets happened before it (since the store opened).
    var version: UInt64
}

/// A snapshot read back from disk.
struct LoadedSnapshot: Sendable {
    /// Its header.
    var header: SnapshotHeader
    /// Its records.
    var records: ShardedRecords
}

/// One stream's folder of snapshot files: `snapshot-<generation, 16 hex digits>.ebsnap`, written as
/// `….ebsnap.tmp` and renamed into place; `lock` guards the folder against a second store.
///
/// Every method does blocking I/O: call them off the cooperative thread pool.
struct SnapshotFolder: Sendable {
    /// The folder's path.
    let path: String
    /// The stream whose snapshots it holds.
    let stream: String
    /// Where warnings go.
    let logger: Logger

    private static let prefix = "snapshot-"
    private static let suffix = ".ebsnap"
    private static let tempSuffix = ".ebsnap.tmp"

    /// The file name of a generation's snapshot.
    static func fileName(generation: UInt64) -> String {
        let digits = String(generation, radix: 16)
        return prefix + String(repeating: "0", count: max(0, 16 - digits.count)) + digits + suffix
    }

    /// The files in the folder, by kind.
    struct Listing {
        /// Snapshots by generation, newest first.
        var snapshots: [(generation: UInt64, path: String)] = []
        /// Unfinished snapshots (`.tmp`), with their generation.
        var temporary: [(generation: UInt64, path: String)] = []
    }

    /// Lists the snapshot and temporary files.
    func list() throws -> Listing {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw EventbaseError(.storageFailure, "The file store could not list \(path).", cause: error)
        }
        var listing = Listing()
        for name in names where name.hasPrefix(Self.prefix) {
            let rest = name.dropFirst(Self.prefix.count)
            if rest.hasSuffix(Self.tempSuffix), let generation = UInt64(rest.dropLast(Self.tempSuffix.count), radix: 16)
            {
                listing.temporary.append((generation, path + "/" + name))
            } else if rest.hasSuffix(Self.suffix), let generation = UInt64(rest.dropLast(Self.suffix.count), radix: 16)
            {
                listing.snapshots.append((generation, path + "/" + name))
            }
        }
        listing.snapshots.sort { $0.generation > $1.generation }
        return listing
    }

    /// The result of opening the folder.
    struct Opened: Sendable {
        /// The lock, held until the store closes.
        var lock: DirectoryLock
        /// The newest valid snapshot, if any.
        var loaded: LoadedSnapshot?
        /// The generation to give the next snapshot.
        var nextGeneration: UInt64
    }

    /// Creates the folder if needed, locks it, removes unfinished snapshots left by a crash, and
    /// loads the newest valid snapshot (skipping damaged ones with a warning).
    /// - Throws: `.unsupportedVersion` when the newest readable snapshot was written by a newer
    ///   format version; `.storageFailure` when the folder cannot be created, locked or listed.
    func open(limit: UInt64, shardCount: Int = ShardedRecords.defaultShardCount) throws -> Opened {
        if !FileManager.default.fileExists(atPath: path) {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw EventbaseError(.storageFailure, "The file store could not create \(path).", cause: error)
            }
            // Make the new folder's entry durable, so snapshots renamed into it cannot vanish with it.
            try PosixFile.syncDirectory((path as NSString).deletingLastPathComponent)
        }
        let lock = try DirectoryLock(folder: path)
        do {
            let listing = try list()
            for temporary in listing.temporary {
                logger.warning(
                    "Removing an unfinished snapshot left by an interrupted write",
                    metadata: ["path": "\(temporary.path)"])
                try PosixFile.remove(temporary.path)
            }
            let generations = listing.snapshots.map(\.generation) + listing.temporary.map(\.generation)
            var loaded: LoadedSnapshot?
            for snapshot in listing.snapshots {
                do {
                    loaded = try read(snapshot.path, limit: limit, shardCount: shardCount)
                    break
                } catch let error as EventbaseError where error.code == .unsupportedVersion {
                    throw error
                } catch {
                    logger.warning(
                        "Skipping a snapshot that cannot be used; trying an older one",
                        metadata: ["path": "\(snapshot.path)", "reason": "\(error)"])
                }
            }
            if loaded == nil && !listing.snapshots.isEmpty {
                logger.warning(
                    "No usable snapshot: the replica will be rebuilt from the log", metadata: ["path": "\(path)"])
            }
            return Opened(lock: lock, loaded: loaded, nextGeneration: (generations.max() ?? 0) + 1)
        } catch {
            lock.release()
            throw error
        }
    }

    /// Writes `view` as snapshot `generation`: to a temporary file, synced, renamed into place, and the
    /// folder synced.
    /// - Throws: `.storageFailure`; the temporary file is then removed.
    func write(_ view: SnapshotView, generation: UInt64, level: Int) throws -> FileStateStore.SnapshotInfo {
        let clock = ContinuousClock()
        let start = clock.now
        let finalPath = path + "/" + Self.fileName(generation: generation)
        let temporaryPath = finalPath + ".tmp"
        var header = SnapshotHeader(
            generation: generation, streamName: stream, identity: view.identity,
            lastAppliedSequence: view.lastAppliedSequence, recordCount: UInt64(view.records.count))
        header.lastAppliedTime = view.lastAppliedTime
        let file = try PosixFile.create(temporaryPath)
        var committed = false
        defer { if !committed { try? PosixFile.remove(temporaryPath) } }
        let placeholder = header.encoded()
        try placeholder.withUnsafeBytes { try file.write($0) }
        var checksum = CRC32()
        let deflater = try Deflater(level: Int32(clamping: level)) { chunk in
            checksum.update(chunk)
            try file.write(chunk)
        }
        var scratch: [UInt8] = []
        scratch.reserveCapacity(4096)
        try view.records.forEachPacked { key, record in
            scratch.removeAll(keepingCapacity: true)
            SnapshotRecordCodec.encode(key: key, record: record, into: &scratch)
            try deflater.write(scratch)
        }
        try deflater.finish()
        header.uncompressedLength = deflater.bytesIn
        header.compressedLength = deflater.bytesOut
        header.bodyChecksum = checksum.value
        let finalHeader = header.encoded()
        precondition(finalHeader.count == placeholder.count, "A snapshot header changed length")
        try finalHeader.withUnsafeBytes { try file.write($0, at: 0) }
        try file.sync()
        try file.close()
        try PosixFile.rename(temporaryPath, to: finalPath)
        committed = true
        try PosixFile.syncDirectory(path)
        return FileStateStore.SnapshotInfo(
            path: finalPath, generation: generation, lastAppliedSequence: view.lastAppliedSequence,
            recordCount: view.records.count, fileBytes: UInt64(finalHeader.count) + header.compressedLength,
            uncompressedBytes: header.uncompressedLength, duration: start.duration(to: clock.now))
    }

    /// Removes every snapshot except the generations in `keep`.
    func prune(keeping keep: Set<UInt64>) throws {
        var removed = false
        for snapshot in try list().snapshots where !keep.contains(snapshot.generation) {
            try PosixFile.remove(snapshot.path)
            removed = true
        }
        if removed { try PosixFile.syncDirectory(path) }
    }

    /// Reads and verifies one snapshot.
    /// - Throws: `.corruptData` for a damaged, truncated or oversized file or one of another stream;
    ///   `.unsupportedVersion` for an intact file of a newer format version; `.storageFailure`.
    func read(
        _ file: String, limit: UInt64, shardCount: Int = ShardedRecords.defaultShardCount
    ) throws -> LoadedSnapshot {
        let handle = try PosixFile.openForReading(file)
        let size = try handle.size()
        let prefix = try handle.read(exactly: SnapshotHeader.prefixLength)
        let (length, newerVersion): (Int, UInt16?) =
            switch try SnapshotHeader.prefix(prefix) {
            case .supported(let length): (length, nil)
            case .newer(let version, let length): (length, version)
            }
        let headerBytes = prefix + (try handle.read(exactly: length - SnapshotHeader.prefixLength))
        guard headerBytes.count == length else {
            throw EventbaseError(.corruptData, "The snapshot is truncated inside its header.")
        }
        guard SnapshotHeader.checksumMatches(headerBytes) else {
            throw EventbaseError(.corruptData, "The snapshot header's checksum does not match.")
        }
        if let newerVersion {
            throw EventbaseError(
                .unsupportedVersion,
                "The snapshot \(file) has format version \(newerVersion), but this version of Eventbase reads up to "
                    + "version \(SnapshotHeader.currentVersion). Upgrade Eventbase, or delete the folder \(path) to "
                    + "rebuild the replica from the log.")
        }
        let header = try SnapshotHeader(decoding: headerBytes)
        guard header.streamName == stream else {
            throw EventbaseError(
                .corruptData, "The snapshot belongs to stream \"\(header.streamName)\", not \"\(stream)\".")
        }
        guard UInt64(size) == UInt64(length) + header.compressedLength else {
            throw EventbaseError(
                .corruptData,
                "The snapshot is \(size) bytes but its header declares \(UInt64(length) + header.compressedLength): "
                    + "it is truncated or has trailing bytes.")
        }
        guard header.uncompressedLength <= limit else {
            throw EventbaseError(
                .corruptData,
                "The snapshot declares \(header.uncompressedLength) bytes of records, more than maxSnapshotBytes "
                    + "(\(limit)); raise the limit if the replica really is this large.")
        }
        guard header.recordCount <= header.uncompressedLength / 40 else {
            throw EventbaseError(.corruptData, "The snapshot declares more records than its body can hold.")
        }
        let records = try readBody(handle, header: header, shardCount: shardCount)
        return LoadedSnapshot(header: header, records: records)
    }

    private func readBody(_ handle: PosixFile, header: SnapshotHeader, shardCount: Int) throws -> ShardedRecords {
        let inflater = try Inflater(limit: header.uncompressedLength)
        let limits = JSONLimits(maxDepth: 1024, maxBytes: Int(clamping: header.uncompressedLength))
        // Room for the declared records, but never more than the file could hold: deflate inflates
        // at most 1,032 times and a record takes at least 40 bytes, so a lying header with a small
        // body cannot make this reserve much.
        let holdable = header.compressedLength > UInt64.max / 26 ? UInt64.max : header.compressedLength * 26
        let loader = SnapshotRecordLoader(
            shardCount: shardCount, version: header.version, limits: limits,
            expectedRecords: Int(clamping: min(header.recordCount, holdable)),
            // This thread inflates and takes a share: one worker a core besides it.
            workers: ProcessInfo.processInfo.activeProcessorCount - 1)
        var pending: [UInt8] = []
        var checksum = CRC32()
        var remaining = header.compressedLength
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: Inflater.bufferSize, alignment: 16)
        defer { chunk.deallocate() }
        while remaining > 0 {
            let wanted = Int(min(UInt64(chunk.count), remaining))
            let count = try handle.read(into: UnsafeMutableRawBufferPointer(rebasing: chunk[..<wanted]))
            guard count > 0 else { throw EventbaseError(.corruptData, "The snapshot body ends early.") }
            remaining -= UInt64(count)
            let input = UnsafeRawBufferPointer(rebasing: chunk[..<count])
            checksum.update(input)
            try inflater.inflate(input) { output in
                pending.append(contentsOf: output)
            }
            // Records are decoded by other threads a run of about a mebibyte at a time, while this
            // one inflates the next run.
            if pending.count >= Self.recordRunBytes || remaining == 0 {
                let end = pending.withUnsafeBytes { SnapshotRecordLoader.completeRecords(in: $0) }
                var run = pending
                pending = Array(run[end...])
                pending.reserveCapacity(Self.recordRunBytes + Inflater.bufferSize * 4)
                run.removeLast(run.count - end)
                try loader.submit(run)
            }
        }
        guard checksum.value == header.bodyChecksum else {
            throw EventbaseError(.corruptData, "The snapshot body's checksum does not match.")
        }
        guard inflater.finished, inflater.bytesOut == header.uncompressedLength, pending.isEmpty else {
            throw EventbaseError(.corruptData, "The snapshot body is incomplete.")
        }
        let records = try loader.finish()
        guard UInt64(records.count) == header.recordCount else {
            throw EventbaseError(
                .corruptData, "The snapshot holds \(records.count) records but declares \(header.recordCount).")
        }
        return records
    }

    /// How many inflated bytes are collected before their records are decoded.
    static let recordRunBytes = 1 << 20
}
