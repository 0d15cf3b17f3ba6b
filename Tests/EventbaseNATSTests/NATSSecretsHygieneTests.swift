import EventbaseCore
import EventbaseNATS
import EventbaseTestKit
import Foundation
import Testing

/// Passwords, tokens, nkey seeds and JWTs never appear in error descriptions, in the options'
/// descriptions or in anything an auth failure produces.
@Suite(.enabled(if: NATSServerFixture.isAvailable), .serialized, .timeLimit(.minutes(1)))
struct NATSSecretsHygieneTests {
    /// Everything a caller could print after a failure: the error (described, reflected, its cause)
    /// and the options (described and dumped).
    private func printable(_ error: (any Error)?, _ options: NATSOptions) -> String {
        var text = ""
        if let error {
            text += String(describing: error) + "\n" + String(reflecting: error) + "\n"
            if let eventbaseError = error as? EventbaseError {
                text += eventbaseError.message + "\n" + String(describing: eventbaseError.cause) + "\n"
            }
        }
        text += String(describing: options) + "\n" + String(reflecting: options) + "\n"
        dump(options, to: &text)
        return text
    }

    private func failure(_ options: NATSOptions) async -> String {
        var options = options
        options.connectTimeout = .seconds(5)
        let transport = NATSTransport(options)
        var caught: (any Error)?
        do {
            try await transport.connect()
            Issue.record("connected with wrong credentials")
        } catch {
            caught = error
            #expect(
                (error as? EventbaseError).map { [.authenticationFailed, .invalidArgument].contains($0.code) } == true,
                "got \(error)")
        }
        await transport.close()
        return printable(caught, options)
    }

    private func expectNoSecrets(_ text: String, _ secrets: [String], _ what: String) {
        for secret in secrets {
            #expect(!text.contains(secret), "\(what) reveals a secret")
        }
    }

    @Test func passwordsAndTokensNeverAppear() async throws {
        let secrets = ["pw-Sup3r-S3cret", "pw-Wr0ng-Gu3ss", "tok-Sup3r-S3cret", "tok-Wr0ng-Gu3ss"]
        try await withNATSServer(.init(users: [.init(user: "alice", password: secrets[0])])) { server in
            let port = server.port
            var collected = await failure(NATSOptions(servers: [server.url], user: "alice", password: secrets[1]))
            collected += await failure(NATSOptions(servers: ["nats://alice:\(secrets[1])@127.0.0.1:\(port)"]))
            collected += await failure(NATSOptions(servers: ["nats://\(secrets[3])@127.0.0.1:\(port)"]))
            collected += await failure(NATSOptions(servers: ["nats://alice:\(secrets[1])@127.0.0.1:99999"]))
            collected += await failure(NATSOptions(servers: ["ftp://alice:\(secrets[1])@127.0.0.1:\(port)"]))
            expectNoSecrets(collected, secrets, "a password failure")
        }
        try await withNATSServer(.init(token: secrets[2])) { server in
            let collected = await failure(NATSOptions(servers: [server.url], token: secrets[3]))
            expectNoSecrets(collected, secrets, "a token failure")
        }
    }

    @Test func nkeySeedsAndJWTsNeverAppear() async throws {
        let key = try NATSNKey(rawSeed: (0..<32).map { _ in UInt8.random(in: 0...255) })
        let other = try NATSNKey(rawSeed: (0..<32).map { _ in UInt8.random(in: 0...255) })
        let secrets = [key.encodedSeed, other.encodedSeed]
        try await withNATSServer(.init(users: [.init(nkey: key.encodedPublicKey)])) { server in
            var collected = await failure(NATSOptions(servers: [server.url], nkeySeed: other.encodedSeed))
            // A mistyped seed: the error must not echo it either.
            let mistyped = String(other.encodedSeed.dropLast()) + "A"
            collected += await failure(NATSOptions(servers: [server.url], nkeySeed: mistyped))
            expectNoSecrets(collected, secrets + [mistyped], "an nkey failure")
        }

        // Creds: a user JWT with someone else's seed, against an operator-mode server.
        let operatorKey = try JWTFactory.randomKey(prefix: NATSNKey.operatorPrefix)
        let accountKey = try JWTFactory.randomKey(prefix: NATSNKey.accountPrefix)
        let userKey = try JWTFactory.randomKey(prefix: NATSNKey.userPrefix)
        let strangerKey = try JWTFactory.randomKey(prefix: NATSNKey.userPrefix)
        let operatorJWT = try JWTFactory.jwt(
            subject: operatorKey.encodedPublicKey, issuer: operatorKey, name: "op",
            nats: ["type": "operator", "version": 2])
        let accountJWT = try JWTFactory.jwt(
            subject: accountKey.encodedPublicKey, issuer: operatorKey, name: "acc",
            nats: [
                "type": "account", "version": 2,
                "limits": ["subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "conn": -1],
            ])
        let userJWT = try JWTFactory.jwt(
            subject: userKey.encodedPublicKey, issuer: accountKey, name: "user",
            nats: ["type": "user", "version": 2, "subs": -1, "data": -1, "payload": -1, "pub": [:], "sub": [:]])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "eventbase-secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let operatorFile = directory.appendingPathComponent("operator.jwt")
        try operatorJWT.write(to: operatorFile, atomically: true, encoding: .utf8)
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
            let collected = await failure(NATSOptions(servers: [server.url], credentialsFile: badCreds.path))
            expectNoSecrets(
                collected, [userJWT, strangerKey.encodedSeed, userKey.encodedSeed, accountJWT], "a creds failure")
        }
    }
}
