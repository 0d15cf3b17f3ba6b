import EventbaseCore
import EventbaseNATS
import EventbaseTestKit
import Foundation
import Testing

@Suite(.enabled(if: NATSServerFixture.isAvailable), .serialized, .timeLimit(.minutes(1)))
struct NATSTLSIntegrationTests {
    private func certificates() throws -> (TestCertificates, URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "eventbase-certs-\(UUID().uuidString)")
        return (try TestCertificates.generate(in: directory), directory)
    }

    private func roundTrip(_ transport: NATSTransport) async throws {
        let subscription = try await transport.subscribe("tls.check")
        try await transport.publish("tls.check", payload: [1, 2, 3])
        #expect(try await first(subscription).payload == [1, 2, 3])
    }

    @Test func connectsToATLSServerTrustingACustomCA() async throws {
        let (certs, directory) = try certificates()
        defer { try? FileManager.default.removeItem(at: directory) }
        let tls = NATSServerFixture.TLS(certificateFile: certs.serverCertificateFile, keyFile: certs.serverKeyFile)
        try await withNATSServer(.init(tls: tls)) { server in
            #expect(server.url.hasPrefix("tls://"))
            try await withTransport(NATSOptions(servers: [server.url], tls: NATSTLSOptions(caFile: certs.caFile))) {
                try await roundTrip($0)
            }
            // Without the CA the server certificate is not trusted.
            let untrusted = NATSTransport(NATSOptions(servers: [server.url]))
            let error = await #expect(throws: EventbaseError.self) { try await untrusted.connect() }
            #expect(error?.code == .unavailable)
            await untrusted.close()
        }
    }

    @Test func presentsAClientCertificateWhenTheServerVerifiesClients() async throws {
        let (certs, directory) = try certificates()
        defer { try? FileManager.default.removeItem(at: directory) }
        let tls = NATSServerFixture.TLS(
            certificateFile: certs.serverCertificateFile,
            keyFile: certs.serverKeyFile,
            caFile: certs.caFile,
            verifyClients: true
        )
        try await withNATSServer(.init(tls: tls)) { server in
            let withCertificate = NATSTLSOptions(
                caFile: certs.caFile,
                certificateFile: certs.clientCertificateFile,
                privateKeyFile: certs.clientKeyFile
            )
            try await withTransport(NATSOptions(servers: [server.url], tls: withCertificate)) {
                try await roundTrip($0)
            }

            var options = NATSOptions(servers: [server.url], tls: NATSTLSOptions(caFile: certs.caFile))
            options.connectTimeout = .seconds(3)
            let anonymous = NATSTransport(options)
            await #expect(throws: EventbaseError.self) { try await anonymous.connect() }
            await anonymous.close()
        }
    }

    @Test(.enabled(if: NATSServerFixture.binaryIsAtLeast([2, 10, 4])))
    func handshakesFirstWithATLSFirstServer() async throws {
        let (certs, directory) = try certificates()
        defer { try? FileManager.default.removeItem(at: directory) }
        let tls = NATSServerFixture.TLS(
            certificateFile: certs.serverCertificateFile, keyFile: certs.serverKeyFile, handshakeFirst: true)
        try await withNATSServer(.init(tls: tls)) { server in
            let options = NATSOptions(
                servers: [server.url], tls: NATSTLSOptions(caFile: certs.caFile, handshakeFirst: true))
            try await withTransport(options) { try await roundTrip($0) }
        }
    }

    @Test func requiringTLSFromAPlainServerFails() async throws {
        try await withNATSServer { server in
            let transport = NATSTransport(NATSOptions(servers: ["tls://127.0.0.1:\(server.port)"]))
            let error = await #expect(throws: EventbaseError.self) { try await transport.connect() }
            #expect(error?.code == .unavailable)
            await transport.close()
        }
    }
}
