import EventbaseCore
import Foundation

/// Serializes one record of a snapshot body:
///
/// ```
/// u32 key length | key (UTF-8)
/// u64 dateCreated (bits of a Float64: seconds since 2001-01-01, exactly as `Date` holds it)
/// u64 dateModified (same)
/// i64 changes | u64 revision
/// u32 data length | data (compact JSON, UTF-8)
/// ```
enum SnapshotRecordCodec {
    /// Appends the record's bytes to `output`.
    static func encode(key: String, record: Record<JSONValue>, into output: inout [UInt8]) {
        let data = record.data.jsonBytes()
        var key = key
        key.withUTF8 { keyBytes in
            output.appendLittleEndian(UInt32(keyBytes.count))
            output.append(contentsOf: keyBytes)
        }
        output.appendLittleEndian(record.meta.dateCreated.timeIntervalSinceReferenceDate.bitPattern)
        output.appendLittleEndian(record.meta.dateModified.timeIntervalSinceReferenceDate.bitPattern)
        output.appendLittleEndian(UInt64(bitPattern: Int64(record.meta.changes)))
        output.appendLittleEndian(record.meta.revision)
        output.appendLittleEndian(UInt32(data.count))
        output += data
    }

    /// Decodes the next record, or returns `nil` if `reader` does not hold all of it yet (the reader
    /// is then left where it was).
    /// - Throws: `.corruptData` for a record whose bytes are complete but invalid.
    static func decode(from reader: inout ByteReader, limits: JSONLimits) throws -> Record<JSONValue>? {
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
        guard let key = String(validating: keyBytes, as: UTF8.self) else {
            throw EventbaseError(.corruptData, "A snapshot record's key is not valid UTF-8.")
        }
        let data: JSONValue
        do {
            data = try JSONValue(parsing: dataBytes, limits: limits)
        } catch {
            throw EventbaseError(.corruptData, "A snapshot record's data is not valid JSON.", cause: error)
        }
        let createdDate = Date(timeIntervalSinceReferenceDate: Double(bitPattern: created))
        let modifiedDate = Date(timeIntervalSinceReferenceDate: Double(bitPattern: modified))
        guard createdDate.timeIntervalSinceReferenceDate.isFinite, modifiedDate.timeIntervalSinceReferenceDate.isFinite
        else {
            throw EventbaseError(.corruptData, "A snapshot record's dates are not finite.")
        }
        let meta = Meta(
            dateCreated: createdDate, dateModified: modifiedDate, changes: Int(Int64(bitPattern: changes)),
            revision: revision)
        return Record(key: key, data: data, meta: meta)
    }
}
