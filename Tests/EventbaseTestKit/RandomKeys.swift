/// Builds keys from random numbers, for property-based tests of key handling: each number picks a
/// scalar from a class that has broken key handling somewhere (ASCII controls including NUL and
/// newlines, NATS's `.` `*` `>`, combining marks, precomposed letters that NFD decomposes, Hangul
/// syllables, emoji outside the BMP).
///
/// ```swift
/// let keys = Gen<UInt32>.value().array(of: 1...24).map { RandomKeys.key(from: $0) }
/// ```
public enum RandomKeys {
    /// A key with one scalar per number (never empty when `numbers` is not).
    public static func key(from numbers: [UInt32]) -> String {
        var scalars = String.UnicodeScalarView()
        for number in numbers {
            let pick = number >> 8
            let value: UInt32
            switch number % 8 {
            case 0: value = pick % 0x80  // ASCII, controls included
            case 1:
                // NUL \n \r . * > space $ /
                value = [0x00, 0x0A, 0x0D, 0x2E, 0x2A, 0x3E, 0x20, 0x24, 0x2F][Int(pick % 9)]
            case 2: value = 0x300 + pick % 0x70  // combining diacritical marks
            case 3: value = 0xC0 + pick % 0x40  // precomposed Latin-1 letters
            case 4: value = 0xAC00 + pick % 0x2BA4  // Hangul syllables
            case 5: value = 0x1F300 + pick % 0x300  // emoji (4 UTF-8 bytes)
            case 6:
                // canonical singletons, a ligature, separators, BOM, zero-width joiner
                value = [0x212B, 0x2126, 0x1E9B, 0xFB01, 0x2028, 0xFEFF, 0x200D][Int(pick % 7)]
            default: value = 0x61 + pick % 26  // plain letters
            }
            scalars.append(Unicode.Scalar(value) ?? "?")
        }
        return String(scalars)
    }
}
