/// A record's document and meta in one compact, immutable allocation: how the bundled state stores
/// keep records in memory.
///
/// A `Record<JSONValue>` is a tree: an array for every object, a heap string for every string longer
/// than 15 bytes, and 72 bytes of fields that a dictionary of records stores up to twice over (it grows
/// by doubling). A `PackedRecord` is one reference to one buffer holding the meta and the document in
/// a binary encoding (tags, lengths as varints, integers as zig-zag varints, UTF-8 strings), typically
/// no larger than the document's JSON. Reading it back (``data``, ``record(key:)``) decodes the
/// document; ``meta`` is read without decoding anything.
///
/// ```swift
/// var records: [ExactKey: PackedRecord] = [:]
/// records[ExactKey(key)] = PackedRecord(record)
/// let record = records[ExactKey(key)]?.record(key: key)
/// ```
///
/// Decoding returns exactly the value that was packed: key order, numbers (bit for bit, `-0` included)
/// and strings are kept.
public struct PackedRecord: @unchecked Sendable {
    // Immutable after `init`: the buffer is written once, before the value is shared.
    @usableFromInline
    internal let buffer: Storage

    @usableFromInline
    internal struct Header {
        @usableFromInline var meta: Meta
        @usableFromInline var count: Int
    }

    /// A non-generic subclass, so that creating one needs no generic metadata lookup at run time.
    @usableFromInline
    internal final class Storage: ManagedBuffer<Header, UInt8> {
        static func make(count: Int, meta: Meta) -> Storage {
            // `create` on a subclass returns an instance of the subclass.
            unsafeDowncast(create(minimumCapacity: count) { _ in Header(meta: meta, count: count) }, to: Storage.self)
        }
    }

    /// Packs `record`'s document and meta (its key is not kept: the store keys it).
    public init(_ record: Record<JSONValue>) {
        self.init(data: record.data, meta: record.meta)
    }

    /// Packs a document and its meta.
    public init(data: JSONValue, meta: Meta) {
        let count = PackedJSON.size(of: data)
        buffer = Storage.make(count: count, meta: meta)
        buffer.withUnsafeMutablePointerToElements { start in
            let end = PackedJSON.write(data, to: start)
            precondition(end == start + count, "PackedJSON.size and PackedJSON.write disagree.")
        }
    }

    /// A record from a document in its packed encoding (as ``withPackedBytes(_:)`` hands it out),
    /// checking every byte first: for bytes read back from a file.
    /// - Parameters:
    ///   - meta: The record's meta.
    ///   - bytes: The packed document.
    ///   - maxDepth: The deepest nesting of arrays and objects accepted.
    /// - Throws: `.corruptData` when the bytes are not one packed JSON value: an unknown tag, a length
    ///   past the end, invalid UTF-8, a number that is not finite, a duplicate key, nesting deeper than
    ///   `maxDepth`, or bytes left over.
    public init(meta: Meta, validatingPackedBytes bytes: UnsafeRawBufferPointer, maxDepth: Int) throws {
        let start = bytes.bindMemory(to: UInt8.self)
        var validator = PackedJSON.Validator(bytes: start, maxDepth: maxDepth)
        do {
            try validator.validateDocument()
        } catch {
            throw EventbaseError(.corruptData, "A packed document is malformed: \(error.problem).")
        }
        let count = bytes.count
        buffer = Storage.make(count: count, meta: meta)
        buffer.withUnsafeMutablePointerToElements { target in
            if let base = start.baseAddress { target.update(from: base, count: count) }
        }
    }

    /// Calls `body` with the packed encoding of the document (valid only during the call).
    public func withPackedBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try buffer.withUnsafeMutablePointerToElements { start in
            try body(UnsafeRawBufferPointer(start: start, count: buffer.header.count))
        }
    }

    /// The record's meta (nothing is decoded).
    @inlinable
    public var meta: Meta { buffer.header.meta }

    /// The document, decoded.
    public var data: JSONValue {
        buffer.withUnsafeMutablePointerToElements { start in
            var cursor = UnsafePointer(start)
            return PackedJSON.read(&cursor)
        }
    }

    /// The record under `key`, its document decoded.
    public func record(key: String) -> Record<JSONValue> {
        Record(key: key, data: data, meta: meta)
    }

    /// The size of the packed document in bytes (the meta and the buffer's header come on top).
    public var packedByteCount: Int { buffer.header.count }

    /// Whether the document matches `query`, decoding only the top-level fields the query reads.
    public func matches(_ query: Query) -> Bool {
        query.matches(data(keeping: query.topLevelFields))
    }

    /// The document with only the top-level fields whose UTF-8 bytes are in `fields` (the others are
    /// skipped without being decoded).
    func data(keeping fields: [[UInt8]]) -> JSONValue {
        buffer.withUnsafeMutablePointerToElements { start in
            var cursor = UnsafePointer(start)
            guard cursor.pointee == PackedJSON.Tag.object.rawValue else { return PackedJSON.read(&cursor) }
            if fields.isEmpty { return .object(JSONObject()) }
            cursor += 1
            let count = Int(PackedJSON.readVarint(&cursor))
            var entries: [(key: String, value: JSONValue)] = []
            entries.reserveCapacity(Swift.min(count, fields.count))
            for _ in 0..<count {
                let length = Int(PackedJSON.readVarint(&cursor))
                let key = UnsafeBufferPointer(start: cursor, count: length)
                cursor += length
                if fields.contains(where: { $0.elementsEqual(key) }) {
                    entries.append((String(decoding: key, as: UTF8.self), PackedJSON.read(&cursor)))
                    if entries.count == fields.count {
                        break
                    }
                } else {
                    PackedJSON.skip(&cursor)
                }
            }
            return .object(JSONObject(uniqueEntries: entries))
        }
    }
}

/// A record as a query meets it: packed (matched on the fields the query reads, decoded only when
/// it matches) or already decoded.
enum StoredRecord: Sendable {
    case packed(PackedRecord)
    /// Boxed, so that a stored record is one reference wide (equality indexes hold one a record).
    indirect case decoded(Record<JSONValue>)

    func matches(_ query: Query) -> Bool {
        switch self {
        case .packed(let packed): packed.matches(query)
        case .decoded(let record): query.matches(record.data)
        }
    }

    func record(key: String) -> Record<JSONValue> {
        switch self {
        case .packed(let packed): packed.record(key: key)
        case .decoded(let record): record
        }
    }

    /// The document with only the top-level fields whose UTF-8 bytes are in `fields`, when packed
    /// (the others are not decoded); the whole document when decoded already.
    func data(keeping fields: [[UInt8]]) -> JSONValue {
        switch self {
        case .packed(let packed): packed.data(keeping: fields)
        case .decoded(let record): record.data
        }
    }

    /// The document, decoded (the meta is not).
    var data: JSONValue {
        switch self {
        case .packed(let packed): packed.data
        case .decoded(let record): record.data
        }
    }
}

extension StateStore {
    /// Visits every record as a query meets it (packed when the store keeps them so, else decoded),
    /// from a consistent view.
    func forEachStoredRecord(_ body: (_ key: String, _ record: StoredRecord) throws -> Void) rethrows {
        if keepsPackedRecords {
            try forEachPackedRecord { key, record in try body(key, .packed(record)) }
        } else {
            try forEachRecord { key, record in try body(key, .decoded(record)) }
        }
    }
}

/// The binary encoding of a ``JSONValue`` that ``PackedRecord`` stores: a tag byte per value, then
/// its payload. Lengths and counts are unsigned LEB128 varints; integral numbers of at most 2^53 in
/// magnitude are zig-zag varints, every other number is the 8 bytes of its IEEE 754 bit pattern
/// (little-endian), so decoding gives back the same `Double` bit for bit.
enum PackedJSON {
    enum Tag: UInt8 {
        case null = 0
        case `false` = 1
        case `true` = 2
        case double = 3
        case integer = 4
        case string = 5
        case array = 6
        case object = 7
    }

    /// The largest magnitude encoded as an integer: every integer up to it is exact in a `Double`.
    static let maxInteger: Int64 = 1 << 53

    /// The integer form of `number`, when it has one (not for `-0`, which must stay `-0`).
    @inline(__always)
    static func integer(_ number: Double) -> Int64? {
        guard let integer = Int64(exactly: number), integer.magnitude <= UInt64(maxInteger) else { return nil }
        if integer == 0, number.sign == .minus { return nil }
        return integer
    }

    @inline(__always)
    static func zigZag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }

    @inline(__always)
    static func varintSize(_ value: UInt64) -> Int {
        var value = value
        var size = 1
        while value >= 0x80 {
            value >>= 7
            size += 1
        }
        return size
    }

    @inline(__always)
    static func writeVarint(_ value: UInt64, to pointer: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
        var value = value
        var pointer = pointer
        while value >= 0x80 {
            pointer.pointee = UInt8(truncatingIfNeeded: value) | 0x80
            pointer += 1
            value >>= 7
        }
        pointer.pointee = UInt8(value)
        return pointer + 1
    }

    @inline(__always)
    static func readVarint(_ cursor: inout UnsafePointer<UInt8>) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = cursor.pointee
            cursor += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
    }

    /// The encoded size of `value` in bytes.
    static func size(of value: JSONValue) -> Int {
        switch value {
        case .null, .bool:
            return 1
        case .number(let number):
            if let integer = integer(number) { return 1 + varintSize(zigZag(integer)) }
            return 9
        case .string(let string):
            return stringSize(string)
        case .array(let array):
            var size = 1 + varintSize(UInt64(array.count))
            for element in array { size += Self.size(of: element) }
            return size
        case .object(let object):
            var size = 1 + varintSize(UInt64(object.count))
            for (key, element) in object.entries {
                size += stringSize(key) - 1 + Self.size(of: element)
            }
            return size
        }
    }

    /// The size of a string with its tag (an object key is written without one).
    @inline(__always)
    static func stringSize(_ string: String) -> Int {
        let count = string.utf8.count
        return 1 + varintSize(UInt64(count)) + count
    }

    /// Writes `value` at `pointer`, which has room for `size(of: value)` bytes; returns the end.
    static func write(_ value: JSONValue, to pointer: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
        switch value {
        case .null:
            pointer.pointee = Tag.null.rawValue
            return pointer + 1
        case .bool(let flag):
            pointer.pointee = flag ? Tag.true.rawValue : Tag.false.rawValue
            return pointer + 1
        case .number(let number):
            if let integer = integer(number) {
                pointer.pointee = Tag.integer.rawValue
                return writeVarint(zigZag(integer), to: pointer + 1)
            }
            pointer.pointee = Tag.double.rawValue
            var bits = number.bitPattern.littleEndian
            withUnsafeBytes(of: &bits) { bytes in
                UnsafeMutableRawPointer(pointer + 1).copyMemory(from: bytes.baseAddress!, byteCount: 8)
            }
            return pointer + 9
        case .string(let string):
            pointer.pointee = Tag.string.rawValue
            return writeString(string, to: pointer + 1)
        case .array(let array):
            pointer.pointee = Tag.array.rawValue
            var cursor = writeVarint(UInt64(array.count), to: pointer + 1)
            for element in array { cursor = write(element, to: cursor) }
            return cursor
        case .object(let object):
            pointer.pointee = Tag.object.rawValue
            var cursor = writeVarint(UInt64(object.count), to: pointer + 1)
            for (key, element) in object.entries {
                cursor = writeString(key, to: cursor)
                cursor = write(element, to: cursor)
            }
            return cursor
        }
    }

    /// Writes a string's length and UTF-8 bytes (no tag).
    @inline(__always)
    static func writeString(_ string: String, to pointer: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
        let utf8 = string.utf8
        let cursor = writeVarint(UInt64(utf8.count), to: pointer)
        let copied = utf8.withContiguousStorageIfAvailable { bytes in
            if let base = bytes.baseAddress { cursor.update(from: base, count: bytes.count) }
            return bytes.count
        }
        if let copied { return cursor + copied }
        var end = cursor
        for byte in utf8 {
            end.pointee = byte
            end += 1
        }
        return end
    }

    /// Reads the value at `cursor`, which `write` wrote, and moves past it.
    static func read(_ cursor: inout UnsafePointer<UInt8>) -> JSONValue {
        let tag = cursor.pointee
        cursor += 1
        switch Tag(rawValue: tag) {
        case .null:
            return .null
        case .false:
            return .bool(false)
        case .true:
            return .bool(true)
        case .integer:
            let raw = readVarint(&cursor)
            let integer = Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
            return .number(Double(integer))
        case .double:
            var bits: UInt64 = 0
            withUnsafeMutableBytes(of: &bits) { bytes in
                bytes.baseAddress!.copyMemory(from: UnsafeRawPointer(cursor), byteCount: 8)
            }
            cursor += 8
            return .number(Double(bitPattern: UInt64(littleEndian: bits)))
        case .string:
            return .string(readString(&cursor))
        case .array:
            let count = Int(readVarint(&cursor))
            var array: [JSONValue] = []
            array.reserveCapacity(count)
            for _ in 0..<count { array.append(read(&cursor)) }
            return .array(array)
        case .object:
            let count = Int(readVarint(&cursor))
            var entries: [(key: String, value: JSONValue)] = []
            entries.reserveCapacity(count)
            for _ in 0..<count {
                let key = readString(&cursor)
                entries.append((key, read(&cursor)))
            }
            return .object(JSONObject(uniqueEntries: entries))
        case nil:
            preconditionFailure("A PackedRecord holds an unknown tag \(tag): its buffer was overwritten.")
        }
    }

    /// Moves past the value at `cursor` without decoding it.
    static func skip(_ cursor: inout UnsafePointer<UInt8>) {
        let tag = cursor.pointee
        cursor += 1
        switch Tag(rawValue: tag) {
        case .null, .false, .true:
            return
        case .integer:
            _ = readVarint(&cursor)
        case .double:
            cursor += 8
        case .string:
            cursor += Int(readVarint(&cursor))
        case .array:
            for _ in 0..<readVarint(&cursor) { skip(&cursor) }
        case .object:
            for _ in 0..<readVarint(&cursor) {
                cursor += Int(readVarint(&cursor))
                skip(&cursor)
            }
        case nil:
            preconditionFailure("A PackedRecord holds an unknown tag \(tag): its buffer was overwritten.")
        }
    }

    @inline(__always)
    static func readString(_ cursor: inout UnsafePointer<UInt8>) -> String {
        let count = Int(readVarint(&cursor))
        let string = String(decoding: UnsafeBufferPointer(start: cursor, count: count), as: UTF8.self)
        cursor += count
        return string
    }
}

extension PackedJSON {
    /// What is wrong with untrusted packed bytes.
    struct Malformed: Error {
        let problem: String
        init(_ problem: String) { self.problem = problem }
    }

    /// Checks untrusted bytes before they are trusted as a packed document. Recursion is bounded by
    /// `maxDepth`; objects of up to 16 keys are checked for repeated keys without allocating.
    struct Validator {
        let bytes: UnsafeBufferPointer<UInt8>
        let maxDepth: Int
        var offset = 0

        init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
            self.bytes = bytes
            self.maxDepth = maxDepth
        }

        /// Checks that the bytes are exactly one packed value.
        mutating func validateDocument() throws(Malformed) {
            try value(depth: 0)
            guard offset == bytes.count else { throw Malformed("\(bytes.count - offset) bytes follow the document") }
        }

        mutating func value(depth: Int) throws(Malformed) {
            guard offset < bytes.count else { throw Malformed("it ends inside a value") }
            let tag = bytes[offset]
            offset += 1
            switch Tag(rawValue: tag) {
            case .null, .false, .true:
                return
            case .integer:
                let raw = try varint()
                guard raw >> 1 <= UInt64(maxInteger) else { throw Malformed("an integer is too large") }
            case .double:
                guard bytes.count - offset >= 8 else { throw Malformed("a number is cut short") }
                let bits = UInt64(
                    littleEndian: UnsafeRawBufferPointer(bytes).loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                offset += 8
                guard Double(bitPattern: bits).isFinite else { throw Malformed("a number is not finite") }
            case .string:
                _ = try string()
            case .array:
                let count = try count(minimumBytesEach: 1, depth: depth)
                for _ in 0..<count { try value(depth: depth + 1) }
            case .object:
                let count = try count(minimumBytesEach: 2, depth: depth)
                if count <= 16 {
                    try withUnsafeTemporaryAllocation(of: UnsafeBufferPointer<UInt8>.self, capacity: 16) {
                        (keys) throws(Malformed) in
                        for index in 0..<count {
                            let key = try string()
                            for earlier in 0..<index where keys[earlier].elementsEqual(key) {
                                throw Malformed("an object repeats a key")
                            }
                            keys[index] = key
                            try value(depth: depth + 1)
                        }
                    }
                } else {
                    var keys = Set<[UInt8]>(minimumCapacity: count)
                    for _ in 0..<count {
                        guard keys.insert(Array(try string())).inserted else {
                            throw Malformed("an object repeats a key")
                        }
                        try value(depth: depth + 1)
                    }
                }
            case nil:
                throw Malformed("unknown tag \(tag)")
            }
        }

        /// Reads a container's count: each element takes at least `minimumBytesEach` bytes, so a
        /// larger count than the bytes left is a lie (and would make a huge allocation).
        mutating func count(minimumBytesEach: Int, depth: Int) throws(Malformed) -> Int {
            let count = try varint()
            guard count <= UInt64(bytes.count - offset) / UInt64(minimumBytesEach) else {
                throw Malformed("a count is larger than the bytes left")
            }
            guard depth < maxDepth else { throw Malformed("it nests deeper than \(maxDepth) levels") }
            return Int(count)
        }

        /// Reads a varint of at most 10 bytes that fits 64 bits.
        @inline(__always)
        mutating func varint() throws(Malformed) -> UInt64 {
            // Most are one byte (small counts and lengths).
            if offset < bytes.count, bytes[offset] < 0x80 {
                offset += 1
                return UInt64(bytes[offset - 1])
            }
            return try longVarint()
        }

        mutating func longVarint() throws(Malformed) -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while offset < bytes.count, shift < 64 {
                let byte = bytes[offset]
                offset += 1
                if shift == 63, byte > 1 { break }
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
            throw Malformed("a varint is cut short or too long")
        }

        /// Reads a length-prefixed string whose bytes are valid UTF-8.
        mutating func string() throws(Malformed) -> UnsafeBufferPointer<UInt8> {
            let length = try varint()
            guard length <= UInt64(bytes.count - offset) else { throw Malformed("a string is cut short") }
            let string = UnsafeBufferPointer(rebasing: bytes[offset..<(offset + Int(length))])
            offset += Int(length)
            guard UTF8Validation.isValid(string) else { throw Malformed("a string is not UTF-8") }
            return string
        }
    }
}

/// UTF-8 validation with a fast path for ASCII.
package enum UTF8Validation {
    /// Whether `bytes` are valid UTF-8.
    @inlinable
    package static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        // ASCII when no byte has its high bit set: eight bytes at a time.
        let raw = UnsafeRawPointer(base)
        var index = 0
        var bits: UInt64 = 0
        while index + 8 <= bytes.count {
            bits |= raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            index += 8
        }
        while index < bytes.count {
            bits |= UInt64(base[index])
            index += 1
        }
        return bits & 0x8080_8080_8080_8080 == 0 || String(validating: bytes, as: UTF8.self) != nil
    }
}

extension PackedJSON {
    /// Appends `value` as a varint.
    @inline(__always)
    static func appendVarint(_ value: UInt64, to output: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            output.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        output.append(UInt8(value))
    }

    /// Appends a number as ``write(_:to:)`` writes it.
    @inline(__always)
    static func appendNumber(_ number: Double, to output: inout [UInt8]) {
        if let integer = integer(number) {
            output.append(Tag.integer.rawValue)
            appendVarint(zigZag(integer), to: &output)
        } else {
            output.append(Tag.double.rawValue)
            withUnsafeBytes(of: number.bitPattern.littleEndian) { output.append(contentsOf: $0) }
        }
    }

    /// Writes a container's element count over the one-byte placeholder at `position` (widening it
    /// when the count needs more than one byte).
    static func setCount(_ count: Int, at position: Int, in output: inout [UInt8]) {
        if count < 0x80 {
            output[position] = UInt8(count)
            return
        }
        var varint: [UInt8] = []
        appendVarint(UInt64(count), to: &varint)
        output[position] = varint[0]
        output.insert(contentsOf: varint[1...], at: position + 1)
    }
}

/// A document in the packed encoding of ``PackedRecord``, made while an event was decoded (without
/// a ``JSONValue`` tree), with what a replica needs to know to store it as a record.
struct PackedDocument: Sendable {
    /// One packed JSON value.
    let bytes: [UInt8]
    /// Whether the document is an object with a top-level `id` member (which the record's `id` then
    /// replaces in place instead of following the other members).
    let hasIDMember: Bool

    /// The document, decoded.
    var value: JSONValue {
        bytes.withUnsafeBufferPointer { buffer in
            guard var cursor = buffer.baseAddress else { return .null }
            return PackedJSON.read(&cursor)
        }
    }
}

extension PackedRecord {
    /// Packs a put's document with the `id` member a replica adds (as ``Replica`` folds it: appended
    /// to an object, which must not have one; any other document is kept as it is), and its meta,
    /// without decoding it.
    init(document: PackedDocument, id key: String, meta: Meta) {
        precondition(!document.hasIDMember, "An object with an id member is folded from its decoded form.")
        let bytes = document.bytes
        buffer = bytes.withUnsafeBufferPointer { source in
            let base = source.baseAddress!
            guard base.pointee == PackedJSON.Tag.object.rawValue else {
                let storage = Storage.make(count: source.count, meta: meta)
                storage.withUnsafeMutablePointerToElements { $0.update(from: base, count: source.count) }
                return storage
            }
            var cursor = base + 1
            let count = PackedJSON.readVarint(&cursor)
            let members = base.distance(to: cursor)..<source.count
            let keyCount = key.utf8.count
            let size =
                1 + PackedJSON.varintSize(count + 1) + members.count + 3 + 1 + PackedJSON.varintSize(UInt64(keyCount))
                + keyCount
            let storage = Storage.make(count: size, meta: meta)
            storage.withUnsafeMutablePointerToElements { start in
                start.pointee = PackedJSON.Tag.object.rawValue
                var target = PackedJSON.writeVarint(count + 1, to: start + 1)
                target.update(from: base + members.lowerBound, count: members.count)
                target += members.count
                target = PackedJSON.writeString("id", to: target)
                target.pointee = PackedJSON.Tag.string.rawValue
                target = PackedJSON.writeString(key, to: target + 1)
                precondition(target == start + size, "A packed record's size was miscounted.")
            }
            return storage
        }
    }
}
