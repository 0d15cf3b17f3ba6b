import EventbaseCore
import EventbaseNATS
import EventbaseTestKit
import Foundation
import Testing

/// Builds NATS v2 JWTs (operator, account, user) signed with nkeys, as `nsc` would, for tests.
struct JWTFactory {
    static func randomKey(prefix: UInt8) throws -> NATSNKey {
        try NATSNKey(rawSeed: (0..<32).map { _ in UInt8.random(in: 0...255) }, prefix: prefix)
    }

    static func jwt(subject: String, issuer: NATSNKey, name: String, nats: [String: Any]) throws -> String {
        let header = try JSONSerialization.data(
            withJSONObject: ["typ": "JWT", "alg": "ed25519-nkey"], options: [.sortedKeys])
        let claims: [String: Any] = [
            "jti": UUID().uuidString,
            "iat": Int(Date().timeIntervalSince1970),
            "iss": issuer.encodedPublicKey,
            "sub": subject,
            "name": name,
            "nats": nats,
        ]
        let payload = try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])
        let signingInput = NATSBase64.urlEncode(Array(header)) + "." + NATSBase64.urlEncode(Array(payload))
        return signingInput + "." + (try issuer.sign(Array(signingInput.utf8)))
    }

    static func creds(jwt: String, seed: String) -> String {
        """
        -----BEGIN NATS USER JWT-----
        \(jwt)
        ------END NATS USER JWT------

        ************************* IMPORTANT *************************
        NKEY Seed printed below can be used to sign and prove identity.
        NKEYs are sensitive and should be treated as secrets.

        -----BEGIN USER NKEY SEED-----
        \(seed)
        ------END USER NKEY SEED------

        *************************************************************
        """
    }
}

@Suite(.enabled(if: NATSServerFixture.isAvailable), .serialized, .timeLimit(.minutes(1)))
struct NATSCredsIntegrationTests {
    @Test func authenticatesWithACredsFileAndRejectsAWrongOne() async throws {
        let operatorKey = try JWTFactory.randomKey(prefix: NATSNKey.operatorPrefix)
        let accountKey = try JWTFactory.randomKey(prefix: NATSNKey.accountPrefix)
        let userKey = try JWTFactory.randomKey(prefix: NATSNKey.userPrefix)
        let strangerKey = try JWTFactory.randomKey(prefix: NATSNKey.userPrefix)
        #expect(operatorKey.encodedPublicKey.hasPrefix("O"))
        #expect(accountKey.encodedPublicKey.hasPrefix("A"))

        let operatorJWT = try JWTFactory.jwt(
            subject: operatorKey.encodedPublicKey,
            issuer: operatorKey,
            name: "test-operator",
            nats: ["type": "operator", "version": 2]
        )
        let accountJWT = try JWTFactory.jwt(
            subject: accountKey.encodedPublicKey,
            issuer: operatorKey,
            name: "test-account",
            nats: [
                "type": "account", "version": 2,
                "limits": [
                    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": true,
                    "conn": -1, "leaf": -1,
                ],
            ]
        )
        let userJWT = try JWTFactory.jwt(
            subject: userKey.encodedPublicKey,
            issuer: accountKey,
            name: "test-user",
            nats: ["type": "user", "version": 2, "subs": -1, "data": -1, "payload": -1, "pub": [:], "sub": [:]]
        )

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "eventbase-creds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let operatorFile = directory.appendingPathComponent("operator.jwt")
        try operatorJWT.write(to: operatorFile, atomically: true, encoding: .utf8)
        let goodCreds = directory.appendingPathComponent("user.creds")
        try JWTFactory.creds(jwt: userJWT, seed: userKey.encodedSeed).write(
            to: goodCreds, atomically: true, encoding: .utf8)
        // The right JWT with someone else's seed: the nonce signature does not match.
        let badCreds = directory.appendingPathComponent("stranger.creds")
        try JWTFactory.creds(jwt: userJWT, seed: strangerKey.encodedSeed).write(
            to: badCreds, atomically: true, encoding: .utf8)

        let extra = """
            operator: "\(operatorFile.path)"
            resolver: MEMORY
            resolver_preload: {
              \(accountKey.encodedPublicKey): "\(accountJWT)"
            }
            """
        try await withNATSServer(.init(jetStream: false, extra: extra)) { server in
            try await withTransport(NATSOptions(servers: [server.url], credentialsFile: goodCreds.path)) { transport in
                let subscription = try await transport.subscribe("creds.check")
                try await transport.publish("creds.check", payload: [5])
                #expect(try await first(subscription).payload == [5])
            }

            let stranger = NATSTransport(NATSOptions(servers: [server.url], credentialsFile: badCreds.path))
            let error = await #expect(throws: EventbaseError.self) { try await stranger.connect() }
            #expect(error?.code == .authenticationFailed)
            await stranger.close()

            let missing = NATSTransport(
                NATSOptions(servers: [server.url], credentialsFile: directory.appendingPathComponent("none.creds").path)
            )
            let missingError = await #expect(throws: EventbaseError.self) { try await missing.connect() }
            #expect(missingError?.code == .invalidArgument)
            await missing.close()
        }
    }
}
