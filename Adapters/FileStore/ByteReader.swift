/// Reads little-endian integers and byte strings from a byte buffer, failing (returning nil) rather
/// than reading past its end.
struct ByteReader {
    private let bytes: UnsafeRawBufferPointer
    /// The offset of the next byte to read.
    private(set) var offset: Int

    /// A reader over `bytes`, starting at `offset`.
    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    /// How many bytes are left.
    var remaining: Int { bytes.count - offset }

    /// Reads a little-endian unsigned integer.
    @inline(__always)
    mutating func read<T: FixedWidthInteger & UnsignedInteger>(_: T.Type) -> T? {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { return nil }
        let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += size
        return value
    }

    /// Reads `count` bytes as a view into the buffer.
    @inline(__always)
    mutating func readBytes(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, remaining >= count else { return nil }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }

    /// Reads `count` bytes of valid UTF-8.
    mutating func readString(_ count: Int) -> String? {
        guard let view = readBytes(count) else { return nil }
        return String(validating: view, as: UTF8.self)
    }
}

extension [UInt8] {
    /// Appends an unsigned integer in little-endian order.
    mutating func appendLittleEndian<T: FixedWidthInteger & UnsignedInteger>(_ value: T) {
        for index in 0..<MemoryLayout<T>.size {
            append(UInt8(truncatingIfNeeded: value >> (8 * index)))
        }
    }

    /// Writes an unsigned integer in little-endian order at `offset`, over existing bytes.
    mutating func setLittleEndian<T: FixedWidthInteger & UnsignedInteger>(_ value: T, at offset: Int) {
        for index in 0..<MemoryLayout<T>.size {
            self[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index))
        }
    }
}
