import CEventbaseZlib

/// zlib's CRC-32 (the ISO-HDLC polynomial, as in gzip and PNG), updated incrementally.
struct CRC32 {
    /// The checksum of everything added so far.
    private(set) var value: UInt32 = 0

    /// Adds bytes to the checksum.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        var crc = UInt(value)
        while offset < bytes.count {
            let count = min(bytes.count - offset, Int(UInt32.max))
            crc = crc32(crc, (base + offset).assumingMemoryBound(to: Bytef.self), UInt32(count))
            offset += count
        }
        value = UInt32(truncatingIfNeeded: crc)
    }

    /// Adds bytes to the checksum.
    mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The checksum of `bytes`.
    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }
}
