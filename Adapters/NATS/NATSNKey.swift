package import Crypto
import EventbaseCore

/// NATS nkeys: Ed25519 keys written in base32 with a type prefix and a CRC16 checksum.
///
/// A seed (`SU...` for a user) holds the 32-byte Ed25519 seed; a public key (`U...` for a user)
/// holds the 32-byte public key. Both end with a little-endian CRC16/XMODEM of what precedes it.
package struct NATSNKey: Sendable {
    /// The prefix byte of a user key (`U`).
    package static let userPrefix: UInt8 = 20 << 3
    /// The prefix byte of an account key (`A`).
    package static let accountPrefix: UInt8 = 0
    /// The prefix byte of an operator key (`O`).
    package static let operatorPrefix: UInt8 = 14 << 3
    private static let seedPrefix: UInt8 = 18 << 3

    /// The signing key.
    package let privateKey: Curve25519.Signing.PrivateKey
    /// The key type's prefix byte.
    package let prefix: UInt8

    /// Decodes a seed (`SU...`, `SA...`, `SO...`).
    /// - Throws: `.invalidArgument` when it is not valid base32, has a bad checksum or is not a seed.
    package init(seed: String) throws {
        let trimmed = seed.trimmingSpaces()
        guard let raw = NATSBase32.decode(trimmed), raw.count == 36 else {
            throw EventbaseError(.invalidArgument, "The nkey seed is not valid base32 of the right length.")
        }
        try Self.checkCRC(raw)
        guard raw[0] & 0b1111_1000 == Self.seedPrefix else {
            throw EventbaseError(.invalidArgument, "The nkey is not a seed: a seed starts with 'S'.")
        }
        let prefix = ((raw[0] & 0b0000_0111) << 5) | ((raw[1] & 0b1111_1000) >> 3)
        do {
            privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: raw[2..<34])
        } catch {
            throw EventbaseError(.invalidArgument, "The nkey seed is not a valid Ed25519 seed.", cause: error)
        }
        self.prefix = prefix
    }

    /// Creates a key from 32 seed bytes (for tests and tools).
    package init(rawSeed: [UInt8], prefix: UInt8 = NATSNKey.userPrefix) throws {
        privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: rawSeed)
        self.prefix = prefix
    }

    /// The seed, encoded (`SU...` for a user).
    package var encodedSeed: String {
        var raw: [UInt8] = [Self.seedPrefix | (prefix >> 5), (prefix & 0b0001_1111) << 3]
        raw += Array(privateKey.rawRepresentation)
        return NATSBase32.encode(Self.appendingCRC(raw))
    }

    /// The public key, encoded (`U...` for a user).
    package var encodedPublicKey: String {
        Self.encodePublicKey(Array(privateKey.publicKey.rawRepresentation), prefix: prefix)
    }

    /// Signs `bytes` (a server nonce) and returns the signature as base64url without padding.
    package func sign(_ bytes: [UInt8]) throws -> String {
        let signature = try privateKey.signature(for: bytes)
        return NATSBase64.urlEncode(Array(signature))
    }

    /// Encodes a 32-byte public key with its prefix and checksum.
    package static func encodePublicKey(_ key: [UInt8], prefix: UInt8) -> String {
        NATSBase32.encode(appendingCRC([prefix] + key))
    }

    private static func appendingCRC(_ raw: [UInt8]) -> [UInt8] {
        let crc = crc16(raw)
        return raw + [UInt8(crc & 0xFF), UInt8(crc >> 8)]
    }

    private static func checkCRC(_ raw: [UInt8]) throws {
        let body = Array(raw[0..<(raw.count - 2)])
        let expected = UInt16(raw[raw.count - 2]) | (UInt16(raw[raw.count - 1]) << 8)
        guard crc16(body) == expected else {
            throw EventbaseError(.invalidArgument, "The nkey's checksum does not match: it was mistyped or truncated.")
        }
    }

    /// CRC-16/XMODEM (polynomial 0x1021, initial value 0), as nkeys use.
    package static func crc16(_ bytes: [UInt8]) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 {
                crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
            }
        }
        return crc
    }
}

/// RFC 4648 base32 without padding, as nkeys use.
package enum NATSBase32 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// Encodes bytes without padding.
    package static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes base32 (padding optional); `nil` for any other character.
    package static func decode(_ text: String) -> [UInt8]? {
        var out = [UInt8]()
        var buffer: UInt32 = 0
        var bits = 0
        for char in text.utf8 where char != UInt8(ascii: "=") {
            let value: UInt8
            switch char {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = char - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = char - UInt8(ascii: "a")
            case UInt8(ascii: "2")...UInt8(ascii: "7"): value = char - UInt8(ascii: "2") + 26
            default: return nil
            }
            buffer = (buffer << 5) | UInt32(value)
            bits += 5
            if bits >= 8 {
                out.append(UInt8((buffer >> UInt32(bits - 8)) & 0xFF))
                bits -= 8
            }
        }
        return out
    }
}

/// Base64 in the URL-safe alphabet without padding, as NATS signatures and JWTs use.
package enum NATSBase64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Encodes bytes as base64url without padding.
    package static func urlEncode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out += [18, 12, 6, 0].map { alphabet[Int((value >> $0) & 63)] }
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let value = UInt32(bytes[index]) << 16
            out += [18, 12].map { alphabet[Int((value >> $0) & 63)] }
        } else if rest == 2 {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out += [18, 12, 6].map { alphabet[Int((value >> $0) & 63)] }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The two parts of a NATS `.creds` file.
package struct NATSCredentials: Sendable, Hashable {
    /// The user JWT.
    package var jwt: String
    /// The user nkey seed (`SU...`).
    package var seed: String

    /// Parses the text of a `.creds` file: a `BEGIN NATS USER JWT` block and a `BEGIN USER NKEY SEED` block.
    /// - Throws: `.invalidArgument` when either block is missing.
    package init(parsing text: String) throws {
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map { String($0).trimmingSpaces() }
        func block(after marker: String) -> String? {
            guard let start = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN") && $0.contains(marker) }) else {
                return nil
            }
            return lines[(start + 1)...].first { !$0.isEmpty && !$0.hasPrefix("---") }
        }
        guard let jwt = block(after: "JWT"), let seed = block(after: "SEED") else {
            throw EventbaseError(
                .invalidArgument,
                "The credentials file has no user JWT or no nkey seed block; use a file made by `nsc` or the NATS CLI."
            )
        }
        self.jwt = jwt
        self.seed = seed
    }
}
