import Crypto
import EventbaseCore
import EventbaseNATS
import Testing

@Suite struct NATSNKeyTests {
    @Test func seedAndPublicKeyRoundTrip() throws {
        let raw = (0..<32).map { UInt8($0 * 7 % 256) }
        let key = try NATSNKey(rawSeed: raw)
        let seed = key.encodedSeed
        #expect(seed.hasPrefix("SU"))
        #expect(seed.count == 58)
        #expect(key.encodedPublicKey.hasPrefix("U"))
        #expect(key.encodedPublicKey.count == 56)
        let decoded = try NATSNKey(seed: seed)
        #expect(decoded.encodedPublicKey == key.encodedPublicKey)
        #expect(decoded.prefix == NATSNKey.userPrefix)
    }

    @Test func signaturesVerifyWithThePublicKey() throws {
        let key = try NATSNKey(rawSeed: Array(repeating: 9, count: 32))
        let signature = try key.sign(Array("nonce-123".utf8))
        #expect(!signature.contains("="))
        #expect(!signature.contains("+") && !signature.contains("/"))
        #expect(signature.count == 86)  // 64 bytes, base64url without padding
    }

    @Test func rejectsACorruptedSeed() throws {
        let seed = try NATSNKey(rawSeed: Array(repeating: 1, count: 32)).encodedSeed
        var chars = Array(seed)
        chars[10] = chars[10] == "A" ? "B" : "A"
        let error = #expect(throws: EventbaseError.self) { _ = try NATSNKey(seed: String(chars)) }
        #expect(error?.code == .invalidArgument)
        #expect(throws: EventbaseError.self) { _ = try NATSNKey(seed: "not base32!") }
        let publicKey = try NATSNKey(rawSeed: Array(repeating: 1, count: 32)).encodedPublicKey
        #expect(throws: EventbaseError.self) { _ = try NATSNKey(seed: publicKey) }
    }

    @Test func crc16IsXmodem() {
        #expect(NATSNKey.crc16(Array("123456789".utf8)) == 0x31C3)
    }

    @Test(arguments: [
        ([UInt8](), ""), (Array("f".utf8), "Zg"), (Array("fo".utf8), "Zm8"), (Array("foo".utf8), "Zm9v"),
        (Array("foobar".utf8), "Zm9vYmFy"), ([0xFB, 0xFF], "-_8"),
    ])
    func base64URLWithoutPadding(bytes: [UInt8], expected: String) {
        #expect(NATSBase64.urlEncode(bytes) == expected)
    }

    @Test func base32RoundTrips() {
        let bytes: [UInt8] = Array(0...255)
        #expect(NATSBase32.decode(NATSBase32.encode(bytes)) == bytes)
        #expect(NATSBase32.encode(Array("foobar".utf8)) == "MZXW6YTBOI")
    }

    @Test func parsesACredsFile() throws {
        let text = """
            -----BEGIN NATS USER JWT-----
            eyJhbGciOiJlZDI1NTE5In0.payload.sig
            ------END NATS USER JWT------

            ************************* IMPORTANT *************************
            NKEY Seed printed below can be used to sign and prove identity.

            -----BEGIN USER NKEY SEED-----
            SUAGMJH5XLGZKQQWAWKRZJIGMOU4HPFUYLXJMXOO5NLFEO2OOQJ5LPRDPM
            ------END USER NKEY SEED------
            """
        let credentials = try NATSCredentials(parsing: text)
        #expect(credentials.jwt == "eyJhbGciOiJlZDI1NTE5In0.payload.sig")
        #expect(credentials.seed == "SUAGMJH5XLGZKQQWAWKRZJIGMOU4HPFUYLXJMXOO5NLFEO2OOQJ5LPRDPM")
        #expect(throws: EventbaseError.self) { _ = try NATSCredentials(parsing: "nothing here") }
    }
}

@Suite struct NATSServerAddressTests {
    @Test(
        arguments: [
            ("nats://127.0.0.1:4222", "127.0.0.1", 4222, false, nil, nil, nil),
            ("tls://example.com", "example.com", 4222, true, nil, nil, nil),
            ("localhost:5000", "localhost", 5000, false, nil, nil, nil),
            ("nats://alice:s3cr%40t@host:1", "host", 1, false, "alice", "s3cr@t", nil),
            ("nats://tok@host", "host", 4222, false, nil, nil, "tok"),
            ("nats://[::1]:4223", "::1", 4223, false, nil, nil, nil),
        ] as [(String, String, Int, Bool, String?, String?, String?)])
    func parsesServerURLs(
        url: String,
        host: String,
        port: Int,
        tls: Bool,
        user: String?,
        password: String?,
        token: String?
    ) throws {
        let address = try NATSServerAddress(parsing: url)
        #expect(address.host == host)
        #expect(address.port == port)
        #expect(address.tlsRequired == tls)
        #expect(address.user == user)
        #expect(address.password == password)
        #expect(address.token == token)
    }

    @Test func rejectsUnknownSchemesAndPorts() {
        #expect(throws: EventbaseError.self) { _ = try NATSServerAddress(parsing: "http://host") }
        #expect(throws: EventbaseError.self) { _ = try NATSServerAddress(parsing: "nats://host:99999") }
    }
}
