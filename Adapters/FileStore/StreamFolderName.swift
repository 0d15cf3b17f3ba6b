/// Turns any stream name into a safe, unique folder name.
///
/// ASCII letters, digits, `_` and `-` stay as they are; every other UTF-8 byte (including `.`,
/// `/`, `%` and spaces) becomes `%HH`, so `..` or `a/b` can never leave the store's directory and
/// two names never share a folder. The empty name is `%`. A name whose escaped form is longer than
/// 200 bytes keeps its first 180 bytes followed by `~` and a 64-bit FNV-1a hash of the whole name.
enum StreamFolderName {
    /// The folder name for `stream`.
    static func escape(_ stream: String) -> String {
        if stream.isEmpty { return "%" }
        var escaped = ""
        escaped.reserveCapacity(stream.utf8.count)
        for byte in stream.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                escaped.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                escaped += "%" + hex(byte)
            }
        }
        guard escaped.utf8.count > 200 else { return escaped }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in stream.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let digest = String(hash, radix: 16)
        return String(escaped.prefix(180)) + "~" + String(repeating: "0", count: 16 - digest.count) + digest
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }
}
