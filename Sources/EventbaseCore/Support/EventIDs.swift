import Synchronization

/// Random version-4 UUID strings for event ids (the `Nats-Msg-Id` of each write), made without a
/// system call each.
///
/// Foundation's `UUID()` reads the system's random source on every call; on Linux that showed up as
/// an `open` per write in profiles. Event ids only need to be unique within the stream's duplicate
/// window, so they come from a xoshiro256** generator seeded once per process from the system's
/// random source (256 bits of seed, 122 random bits per id).
enum EventIDs {
    private static let generator = Mutex(Xoshiro256StarStar(seededBy: SystemRandomNumberGenerator()))

    /// A new UUID string, uppercase as `UUID().uuidString`, such as `E621E1F8-C36C-495A-93FC-0C247A3E6E5F`.
    static func next() -> String {
        let (high, low) = generator.withLock { ($0.next(), $0.next()) }
        return format(high: high, low: low)
    }

    /// Formats 128 bits as a variant-1 UUID of `version` (4 by default; the version and variant bits
    /// are set here).
    static func format(high: UInt64, low: UInt64, version: UInt64 = 4) -> String {
        let high = (high & 0xFFFF_FFFF_FFFF_0FFF) | (version & 0xF) << 12
        let low = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        let digits: StaticString = "0123456789ABCDEF"
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var index = 0
            func put(_ value: UInt64, nibbles: Int) {
                for shift in stride(from: (nibbles - 1) * 4, through: 0, by: -4) {
                    buffer[index] = digits.utf8Start[Int((value >> UInt64(shift)) & 0xF)]
                    index += 1
                }
            }
            func dash() {
                buffer[index] = UInt8(ascii: "-")
                index += 1
            }
            put(high >> 32, nibbles: 8)
            dash()
            put((high >> 16) & 0xFFFF, nibbles: 4)
            dash()
            put(high & 0xFFFF, nibbles: 4)
            dash()
            put(low >> 48, nibbles: 4)
            dash()
            put(low & 0xFFFF_FFFF_FFFF, nibbles: 12)
            return index
        }
    }
}

/// xoshiro256** (Blackman and Vigna): a fast generator with 256 bits of state.
struct Xoshiro256StarStar: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    /// Seeds the state from `source` (never all zero).
    init(seededBy source: some RandomNumberGenerator) {
        var source = source
        repeat {
            state = (source.next(), source.next(), source.next(), source.next())
        } while state == (0, 0, 0, 0)
    }

    mutating func next() -> UInt64 {
        let result = rotate(state.1 &* 5, 7) &* 9
        let shifted = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= shifted
        state.3 = rotate(state.3, 45)
        return result
    }

    private func rotate(_ value: UInt64, _ count: UInt64) -> UInt64 {
        (value << count) | (value >> (64 - count))
    }
}
