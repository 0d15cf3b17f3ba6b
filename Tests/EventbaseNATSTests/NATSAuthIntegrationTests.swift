import EventbaseCore
import EventbaseNATS
import EventbaseTestKit
import Foundation
import Testing

@Suite(.enabled(if: NATSServerFixture.isAvailable), .serialized, .timeLimit(.minutes(1)))
struct NATSAuthIntegrationTests {
    private func expectAuthenticationFailure(_ options: NATSOptions) async {
        var options = options
        options.connectTimeout = .seconds(5)
        let transport = NATSTransport(options)
        let clock = ContinuousClock()
        let start = clock.now
        let error = await #expect(throws: EventbaseError.self) { try await transport.connect() }
        #expect(error?.code == .authenticationFailed, "got \(String(describing: error))")
        #expect(clock.now - start < .seconds(4), "wrong credentials must fail fast")
        await transport.close()
    }

    private func expectRoundTrip(_ options: NATSOptions) async throws {
        try await withTransport(options) { transport in
            let reply = try await transport.subscribe("auth.check")
            try await transport.publish("auth.check", payload: [42])
            let message = try await first(reply)
            #expect(message.payload == [42])
        }
    }

    @Test func userAndPassword() async throws {
        try await withNATSServer(.init(users: [.init(user: "alice", password: "s3cret")])) { server in
            try await expectRoundTrip(NATSOptions(servers: [server.url], user: "alice", password: "s3cret"))
            try await expectRoundTrip(NATSOptions(servers: ["nats://alice:s3cret@127.0.0.1:\(server.port)"]))
            await expectAuthenticationFailure(NATSOptions(servers: [server.url], user: "alice", password: "wrong"))
            await expectAuthenticationFailure(NATSOptions(servers: [server.url]))
        }
    }

    @Test func token() async throws {
        try await withNATSServer(.init(token: "t0ken")) { server in
            try await expectRoundTrip(NATSOptions(servers: [server.url], token: "t0ken"))
            try await expectRoundTrip(NATSOptions(servers: ["nats://t0ken@127.0.0.1:\(server.port)"]))
            await expectAuthenticationFailure(NATSOptions(servers: [server.url], token: "nope"))
        }
    }

    @Test func nkeySeed() async throws {
        let key = try NATSNKey(rawSeed: (0..<32).map { _ in UInt8.random(in: 0...255) })
        let other = try NATSNKey(rawSeed: (0..<32).map { _ in UInt8.random(in: 0...255) })
        try await withNATSServer(.init(users: [.init(nkey: key.encodedPublicKey)])) { server in
            try await expectRoundTrip(NATSOptions(servers: [server.url], nkeySeed: key.encodedSeed))
            await expectAuthenticationFailure(NATSOptions(servers: [server.url], nkeySeed: other.encodedSeed))
        }
    }

    @Test func anInvalidSeedIsAnInvalidArgument() async throws {
        let key = try NATSNKey(rawSeed: Array(repeating: 3, count: 32))
        try await withNATSServer(.init(users: [.init(nkey: key.encodedPublicKey)])) { server in
            let transport = NATSTransport(NATSOptions(servers: [server.url], nkeySeed: "SUNOTAVALIDSEED"))
            let error = await #expect(throws: EventbaseError.self) { try await transport.connect() }
            #expect(error?.code == .invalidArgument)
            await transport.close()
        }
    }

    @Test func permissionViolationsReachTheCaller() async throws {
        let users: [NATSServerFixture.User] = [
            .init(user: "limited", password: "p", denyPublish: ["secret.>"], denySubscribe: ["secret.>"])
        ]
        try await withNATSServer(.init(users: users)) { server in
            try await withTransport(NATSOptions(servers: [server.url], user: "limited", password: "p")) { transport in
                // subscribe() itself throws: it waits for the server to accept the SUB.
                let error = await #expect(throws: EventbaseError.self) {
                    _ = try await transport.subscribe("secret.stuff")
                }
                #expect(error?.code == .permissionDenied)
                // The connection stays usable: an allowed subscription works right after.
                let allowed = try await transport.subscribe("open.stuff")
                try await transport.publish("open.stuff", payload: [7])
                #expect(try await first(allowed).payload == [7])

                let requestError = await #expect(throws: EventbaseError.self) {
                    _ = try await transport.request("secret.service", payload: [], timeout: .seconds(10))
                }
                #expect(requestError?.code == .permissionDenied)
                #expect(transport.lastServerError?.code == .permissionDenied)
                // The connection survives a permission violation.
                try await transport.flush(timeout: .seconds(5))
                #expect(transport.isConnected)
            }
        }
    }
}
