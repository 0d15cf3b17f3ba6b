import EventbaseCore
import Foundation

/// Serializes one record of a snapshot body:
///
/// ```
/// u32 key length | key (UTF-8)
/// u64 dateCreated (bits of a Float64: seconds since 2001-01-01, exactly as `Date` holds it)
/// u64 dateModified (same)
/// i64 changes | u64 revision
/// u32 data length | data
/// ```
///
/// The data is the document in ``PackedRecord``'s packed encoding (format version 2), or compact
/// JSON in UTF-8 (format version 1, still read).
enum SnapshotRecordCodec {
    /// Appends the record's bytes (format version 2) to `output`.
    static func encode(key: String, record: PackedRecord, into output: inout [UInt8]) {
        appendKeyAndMeta(key: key, meta: record.meta, into: &output)
        record.withPackedBytes { data in
            output.appendLittleEndian(UInt32(data.count))
            output.append(contentsOf: data)
        }
    }

    /// Appends the record's bytes in format version 1 (JSON data) to `output`: what older versions wrote.
    static func encodeVersion1(key: String, record: Record<JSONValue>, into output: inout [UInt8]) {
        appendKeyAndMeta(key: key, meta: record.meta, into: &output)
        let data = record.data.jsonBytes()
        output.appendLittleEndian(UInt32(data.count))
        output += data
    }

    private static func appendKeyAndMeta(key: String, meta: Meta, into output: inout [UInt8]) {
        var key = key
        key.withUTF8 { keyBytes in
            output.appendLittleEndian(UInt32(keyBytes.count))
            output.append(contentsOf: keyBytes)
        }
        output.appendLittleEndian(meta.dateCreated.timeIntervalSinceReferenceDate.bitPattern)
        output.appendLittleEndian(meta.dateModified.timeIntervalSinceReferenceDate.bitPattern)
        output.appendLittleEndian(UInt64(bitPattern: Int64(meta.changes)))
        output.appendLittleEndian(meta.revision)
    }

    /// Decodes the next record of a body in format `version`, or returns `nil` if `reader` does not
    /// hold all of it yet (the reader is then left where it was).
    /// - Throws: `.corruptData` for a record whose bytes are complete but invalid.
    static func decode(from reader: inout ByteReader, version: UInt16, limits: JSONLimits) throws
        -> (key: String, record: PackedRecord)?
    {
        let start = reader
        guard let keyLength = reader.read(UInt32.self),
            let keyBytes = reader.readBytes(Int(keyLength)),
            let created = reader.read(UInt64.self),
            let modified = reader.read(UInt64.self),
            let changes = reader.read(UInt64.self),
            let revision = reader.read(UInt64.self),
            let dataLength = reader.read(UInt32.self),
            let dataBytes = reader.readBytes(Int(dataLength))
        else {
            reader = start
            return nil
        }
        let keyUTF8 = keyBytes.bindMemory(to: UInt8.self)
        guard UTF8Validation.isValid(keyUTF8) else {
            throw EventbaseError(.corruptData, "A snapshot record's key is not valid UTF-8.")
        }
        let key = String(decoding: keyUTF8, as: UTF8.self)
        let createdDate = Date(timeIntervalSinceReferenceDate: Double(bitPattern: created))
        let modifiedDate = Date(timeIntervalSinceReferenceDate: Double(bitPattern: modified))
        guard createdDate.timeIntervalSinceReferenceDate.isFinite, modifiedDate.timeIntervalSinceReferenceDate.isFinite
        else {
            throw EventbaseError(.corruptData, "A snapshot record's dates are not finite.")
        }
        let meta = Meta(
            dateCreated: createdDate, dateModified: modifiedDate, changes: Int(Int64(bitPattern: changes)),
            revision: revision)
        if version >= 2 {
            let record = try PackedRecord(meta: meta, validatingPackedBytes: dataBytes, maxDepth: limits.maxDepth)
            return (key, record)
        }
        let data: JSONValue
        do {
            data = try JSONValue(parsing: dataBytes, limits: limits)
        } catch {
            throw EventbaseError(.corruptData, "A snapshot record's data is not valid JSON.", cause: error)
        }
        return (key, PackedRecord(data: data, meta: meta))
    }
}
