/// A string compared and hashed by its exact UTF-8 bytes: the identity of a key on the wire.
///
/// Swift's `String` equality is Unicode canonical equivalence, so `"é"` (NFC, U+00E9) and `"e\u{301}"`
/// (NFD) compare equal and hash alike, yet they are two different keys in the stream (their subjects are
/// the base64 of different bytes) and to eventbase v3. A dictionary keyed by `String` would alias them:
/// a put to one would overwrite the other. State stores key their records by `ExactKey` instead.
///
/// ```swift
/// var records: [ExactKey: Record<JSONValue>] = [:]
/// records[ExactKey("e\u{301}")] = record   // distinct from ExactKey("é")
/// ```
public struct ExactKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The key.
    public let string: String

    /// Wraps a key.
    @inlinable
    public init(_ string: String) {
        self.string = string
    }

    /// Whether both keys have the same UTF-8 bytes.
    @inlinable
    public static func == (lhs: ExactKey, rhs: ExactKey) -> Bool {
        let left = lhs.string.utf8
        let right = rhs.string.utf8
        guard left.count == right.count else { return false }
        // Native strings (small or not) hand out their bytes; compare them as buffers.
        let compared = left.withContiguousStorageIfAvailable { leftBytes in
            right.withContiguousStorageIfAvailable { rightBytes in
                bytesEqual(UnsafeRawBufferPointer(leftBytes), UnsafeRawBufferPointer(rightBytes))
            }
        }
        if let compared, let equal = compared { return equal }
        return left.elementsEqual(right)
    }

    /// Whether two buffers of the same length hold the same bytes, compared eight at a time.
    @inlinable
    static func bytesEqual(_ left: UnsafeRawBufferPointer, _ right: UnsafeRawBufferPointer) -> Bool {
        let count = left.count
        var offset = 0
        while offset + 8 <= count {
            guard
                left.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                    == right.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            else { return false }
            offset += 8
        }
        while offset < count {
            guard left[offset] == right[offset] else { return false }
            offset += 1
        }
        return true
    }

    /// Hashes the UTF-8 bytes.
    @inlinable
    public func hash(into hasher: inout Hasher) {
        var string = string
        string.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Orders keys by their UTF-8 bytes, as `keys()` sorts them.
    @inlinable
    public static func < (lhs: ExactKey, rhs: ExactKey) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    /// The key itself.
    public var description: String { string }
}
