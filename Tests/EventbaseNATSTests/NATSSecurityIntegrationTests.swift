import EventbaseCore
import EventbaseNATS
import EventbaseTestKit
import Foundation
import Testing

/// Permission and TLS failures end in typed errors on the operation that caused them, and the
/// connection stays usable after a permission error.
@Suite(.enabled(if: NATSServerFixture.isAvailable), .serialized, .timeLimit(.minutes(1)))
struct NATSSecurityIntegrationTests {
    /// A subject this user may not subscribe to makes `subscribe()` throw `.permissionDenied`.
    @Test func subscribeThrowsPermissionDenied() async throws {
        let users: [NATSServerFixture.User] = [.init(user: "reader", password: "p", denySubscribe: ["orders.>"])]
        try await withNATSServer(.init(users: users)) { server in
            try await withTransport(NATSOptions(servers: [server.url], user: "reader", password: "p")) { transport in
                for _ in 0..<3 {
                    let error = await #expect(throws: EventbaseError.self) {
                        _ = try await transport.subscribe("orders.new")
                    }
                    #expect(error?.code == .permissionDenied, "got \(String(describing: error))")
                    #expect(error?.cause is NATSServerError)
                }
                let allowed = try await transport.subscribe("invoices.new")
                try await transport.publish("invoices.new", payload: [1])
                #expect(try await first(allowed).payload == [1])
                #expect(transport.isConnected)
            }
        }
    }

    /// When the user may not subscribe to its reply inbox, requests fail at once with
    /// `.permissionDenied` instead of timing out, and later requests try again.
    @Test func aDeniedReplyInboxFailsRequestsWithPermissionDenied() async throws {
        let users: [NATSServerFixture.User] = [.init(user: "mute", password: "p", denySubscribe: ["_INBOX.>"])]
        try await withNATSServer(.init(users: users)) { server in
            try await withTransport(NATSOptions(servers: [server.url], user: "mute", password: "p")) { transport in
                for _ in 0..<2 {
                    let error = await #expect(throws: EventbaseError.self) {
                        _ = try await transport.request("service.echo", payload: [], timeout: .seconds(30))
                    }
                    #expect(error?.code == .permissionDenied, "got \(String(describing: error))")
                }
                try await transport.flush(timeout: .seconds(5))
                #expect(transport.isConnected)
            }
        }
    }

    private func certificates() throws -> (TestCertificates, URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "eventbase-certs-\(UUID().uuidString)")
        return (try TestCertificates.generate(in: directory), directory)
    }

    /// What a TLS client sees when the server's certificate cannot be trusted.
    enum BadCertificate: String, CaseIterable, Sendable {
        case wrongCA, expired, hostnameMismatch
    }

    /// A server certificate from another CA, an expired one and one for another host name each fail
    /// the connect with a typed `.unavailable` error that names TLS, with the TLS error as its cause.
    @Test(arguments: BadCertificate.allCases)
    func untrustedServerCertificatesFailTyped(_ bad: BadCertificate) async throws {
        let (certs, directory) = try certificates()
        defer { try? FileManager.default.removeItem(at: directory) }
        let serverCertificate =
            switch bad {
            case .wrongCA: certs.serverCertificateFile
            case .expired: certs.expiredServerCertificateFile
            case .hostnameMismatch: certs.otherHostServerCertificateFile
            }
        let trusted = bad == .wrongCA ? certs.otherCAFile : certs.caFile
        let tls = NATSServerFixture.TLS(certificateFile: serverCertificate, keyFile: certs.serverKeyFile)
        try await withNATSServer(.init(tls: tls)) { server in
            var options = NATSOptions(servers: [server.url], tls: NATSTLSOptions(caFile: trusted))
            options.connectTimeout = .seconds(5)
            let transport = NATSTransport(options)
            let error = await #expect(throws: EventbaseError.self) { try await transport.connect() }
            #expect(error?.code == .unavailable, "got \(String(describing: error))")
            #expect(error?.message.contains("TLS") == true, "got \(String(describing: error))")
            #expect(error?.cause != nil)
            #expect(!transport.isConnected)
            await transport.close()
        }
    }
}
