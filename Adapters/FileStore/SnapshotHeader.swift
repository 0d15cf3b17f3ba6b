import EventbaseCore
import Foundation

/// The uncompressed header of a snapshot file (format described in docs/snapshot-format.md).
///
/// Every format version starts with the magic, the version (u16), flags (u16) and the header length
/// (u32), and ends its header with a CRC-32 of the header's other bytes; so a reader can check a
/// header it cannot otherwise parse, and tell a damaged file from one written by a newer version.
struct SnapshotHeader: Equatable {
    /// `EBSNAP\r\n`: identifies a snapshot, and detects a file mangled by newline translation.
    static let magic: [UInt8] = [0x45, 0x42, 0x53, 0x4E, 0x41, 0x50, 0x0D, 0x0A]
    /// The version this code writes and the newest it reads (it reads version 1 too: records with
    /// JSON data instead of packed data; and version 2, whose header has no time of the newest
    /// entry applied).
    static let currentVersion: UInt16 = 3
    /// The bytes every version's header begins with: magic, version, flags, header length.
    static let prefixLength = 16
    /// The largest header accepted (stream names are short; this bounds what a hostile file makes us read).
    static let maxLength = 64 * 1024

    /// The format version.
    var version: UInt16 = Self.currentVersion
    /// The snapshot's generation: higher is newer.
    var generation: UInt64
    /// The stream name the store was opened with.
    var streamName: String
    /// The stream incarnation the records belong to, if the store was given one.
    var identity: StreamIdentity?
    /// The sequence of the last log entry folded into these records.
    var lastAppliedSequence: UInt64
    /// The log time of that entry, when known (version 3 on).
    var lastAppliedTime: Date?
    /// How many records the body holds.
    var recordCount: UInt64
    /// The length of the body once inflated.
    var uncompressedLength: UInt64 = 0
    /// The length of the compressed body that follows the header.
    var compressedLength: UInt64 = 0
    /// The CRC-32 of the compressed body.
    var bodyChecksum: UInt32 = 0

    private static let fixedLength = 72

    /// A header for a snapshot about to be written; the body fields are filled in once it is.
    init(
        generation: UInt64, streamName: String, identity: StreamIdentity?, lastAppliedSequence: UInt64,
        recordCount: UInt64
    ) {
        self.generation = generation
        self.streamName = streamName
        self.identity = identity
        self.lastAppliedSequence = lastAppliedSequence
        self.recordCount = recordCount
    }

    /// The header as bytes, ending with its CRC-32.
    func encoded() -> [UInt8] {
        let name = Array(streamName.utf8)
        let identityName = Array((identity?.name ?? "").utf8)
        let timeLength = version >= 3 ? 8 : 0
        let length = Self.fixedLength + 4 + name.count + 4 + identityName.count + timeLength + 4
        var bytes: [UInt8] = []
        bytes.reserveCapacity(length)
        bytes += Self.magic
        bytes.appendLittleEndian(version)
        bytes.appendLittleEndian(UInt16(0))
        bytes.appendLittleEndian(UInt32(length))
        bytes.appendLittleEndian(generation)
        bytes.appendLittleEndian(lastAppliedSequence)
        bytes.appendLittleEndian(recordCount)
        bytes.appendLittleEndian(uncompressedLength)
        bytes.appendLittleEndian(compressedLength)
        bytes.appendLittleEndian(bodyChecksum)
        var flags: UInt32 = 0
        if identity != nil { flags |= 1 }
        if identity?.created != nil { flags |= 2 }
        if lastAppliedTime != nil, version >= 3 { flags |= 4 }
        bytes.appendLittleEndian(flags)
        let created = identity?.created?.millisecondsSince1970 ?? 0
        bytes.appendLittleEndian(UInt64(bitPattern: created))
        bytes.appendLittleEndian(UInt32(name.count))
        bytes += name
        bytes.appendLittleEndian(UInt32(identityName.count))
        bytes += identityName
        if version >= 3 {
            bytes.appendLittleEndian(UInt64(bitPattern: lastAppliedTime?.millisecondsSince1970 ?? 0))
        }
        bytes.appendLittleEndian(CRC32.checksum(bytes))
        assert(bytes.count == length)
        return bytes
    }

    /// What the first bytes of a file say about its header.
    enum Prefix: Equatable {
        /// A header of `length` bytes in a version this code reads.
        case supported(length: Int)
        /// A header of `length` bytes written by a newer version.
        case newer(version: UInt16, length: Int)
    }

    /// Reads the first ``prefixLength`` bytes.
    /// - Throws: `.corruptData` when they are not a snapshot's.
    static func prefix(_ bytes: [UInt8]) throws -> Prefix {
        guard bytes.count >= prefixLength, Array(bytes[0..<8]) == magic else {
            throw EventbaseError(.corruptData, "The file does not start like a snapshot.")
        }
        return try bytes.withUnsafeBytes { buffer in
            var reader = ByteReader(buffer, offset: 8)
            let version = reader.read(UInt16.self)!
            _ = reader.read(UInt16.self)!
            let length = Int(reader.read(UInt32.self)!)
            guard length >= prefixLength + 4, length <= maxLength else {
                throw EventbaseError(
                    .corruptData, "The snapshot header declares an impossible length of \(length) bytes.")
            }
            guard version >= 1 else { throw EventbaseError(.corruptData, "The snapshot declares format version 0.") }
            return version > currentVersion ? .newer(version: version, length: length) : .supported(length: length)
        }
    }

    /// Checks a whole header's CRC-32 (valid for every format version).
    static func checksumMatches(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= prefixLength + 4 else { return false }
        let stored = bytes.withUnsafeBytes { buffer in
            var reader = ByteReader(buffer, offset: bytes.count - 4)
            return reader.read(UInt32.self)!
        }
        return CRC32.checksum(Array(bytes[..<(bytes.count - 4)])) == stored
    }

    /// Parses a whole header (versions 1 and 2 share its layout; version 3 adds the time of the
    /// newest entry applied before the checksum) whose checksum was verified.
    /// - Throws: `.corruptData` when a field is malformed.
    init(decoding bytes: [UInt8]) throws {
        let parsed: SnapshotHeader? = bytes.withUnsafeBytes { buffer in
            var reader = ByteReader(buffer, offset: 8)
            guard let version = reader.read(UInt16.self), reader.read(UInt16.self) != nil,
                let length = reader.read(UInt32.self), Int(length) == bytes.count,
                let generation = reader.read(UInt64.self),
                let sequence = reader.read(UInt64.self),
                let recordCount = reader.read(UInt64.self),
                let uncompressed = reader.read(UInt64.self),
                let compressed = reader.read(UInt64.self),
                let bodyChecksum = reader.read(UInt32.self),
                let flags = reader.read(UInt32.self),
                let created = reader.read(UInt64.self),
                let nameLength = reader.read(UInt32.self), let name = reader.readString(Int(nameLength)),
                let identityLength = reader.read(UInt32.self),
                let identityName = reader.readString(Int(identityLength))
            else { return nil }
            var appliedTime: Int64?
            if version >= 3 {
                guard let time = reader.read(UInt64.self) else { return nil }
                if flags & 4 != 0 { appliedTime = Int64(bitPattern: time) }
            }
            guard reader.remaining == 4 else { return nil }
            let identity =
                flags & 1 == 0
                ? nil
                : StreamIdentity(
                    name: identityName,
                    created: flags & 2 == 0 ? nil : Date(millisecondsSince1970: Int64(bitPattern: created)))
            var header = SnapshotHeader(
                generation: generation, streamName: name, identity: identity, lastAppliedSequence: sequence,
                recordCount: recordCount)
            header.version = version
            header.uncompressedLength = uncompressed
            header.compressedLength = compressed
            header.bodyChecksum = bodyChecksum
            header.lastAppliedTime = appliedTime.map { Date(millisecondsSince1970: $0) }
            return header
        }
        guard let parsed else { throw EventbaseError(.corruptData, "The snapshot header is malformed.") }
        self = parsed
    }
}
