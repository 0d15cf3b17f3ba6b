import EventbaseCore
public import Foundation

/// A throwaway CA, server and client certificate for TLS tests, made with the `openssl` command.
public struct TestCertificates: Sendable {
    /// The CA certificate PEM file.
    public let caFile: String
    /// The server certificate PEM file (for `127.0.0.1` and `localhost`).
    public let serverCertificateFile: String
    /// The server key PEM file.
    public let serverKeyFile: String
    /// The client certificate PEM file.
    public let clientCertificateFile: String
    /// The client key PEM file.
    public let clientKeyFile: String
    /// A server certificate (for ``serverKeyFile``, signed by the CA) that has already expired.
    public let expiredServerCertificateFile: String
    /// A server certificate (for ``serverKeyFile``, signed by the CA) for `other.example` only.
    public let otherHostServerCertificateFile: String
    /// The certificate of a second CA that signed none of these.
    public let otherCAFile: String

    /// Generates the certificates into `directory`.
    /// - Throws: `.unavailable` when `openssl` is missing or fails.
    public static func generate(in directory: URL) throws -> TestCertificates {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let extensions = path("server.ext")
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n".write(
            toFile: extensions,
            atomically: true,
            encoding: .utf8
        )
        let otherHostExtensions = path("other.ext")
        try "subjectAltName=DNS:other.example\nextendedKeyUsage=serverAuth\n".write(
            toFile: otherHostExtensions, atomically: true, encoding: .utf8)
        let clientExtensions = path("client.ext")
        try "extendedKeyUsage=clientAuth\n".write(toFile: clientExtensions, atomically: true, encoding: .utf8)
        let commands: [[String]] = [
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                "-subj", "/CN=Eventbase Test CA", "-keyout", path("ca-key.pem"), "-out", path("ca.pem"),
            ],
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
                "-keyout", path("server-key.pem"), "-out", path("server.csr"),
            ],
            [
                "x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca-key.pem"),
                "-CAcreateserial", "-days", "2", "-extfile", extensions, "-out", path("server.pem"),
            ],
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=client",
                "-keyout", path("client-key.pem"), "-out", path("client.csr"),
            ],
            [
                "x509", "-req", "-in", path("client.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca-key.pem"),
                "-CAcreateserial", "-days", "2", "-extfile", clientExtensions, "-out", path("client.pem"),
            ],
            // `-days -1` makes notAfter a day before now: expired (OpenSSL 3.0 has no -not_after).
            [
                "x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca-key.pem"),
                "-CAcreateserial", "-days", "-1", "-extfile", extensions, "-out", path("server-expired.pem"),
            ],
            [
                "x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca-key.pem"),
                "-CAcreateserial", "-days", "2", "-extfile", otherHostExtensions, "-out",
                path("server-other-host.pem"),
            ],
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                "-subj", "/CN=Eventbase Other CA", "-keyout", path("other-ca-key.pem"), "-out", path("other-ca.pem"),
            ],
        ]
        for arguments in commands {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["openssl"] + arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            do {
                try process.run()
            } catch {
                throw EventbaseError(
                    .unavailable, "Cannot run openssl to make test certificates; install openssl.", cause: error)
            }
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw EventbaseError(
                    .unavailable,
                    "openssl \(arguments.prefix(2).joined(separator: " ")) failed with status \(process.terminationStatus)."
                )
            }
        }
        return TestCertificates(
            caFile: path("ca.pem"),
            serverCertificateFile: path("server.pem"),
            serverKeyFile: path("server-key.pem"),
            clientCertificateFile: path("client.pem"),
            clientKeyFile: path("client-key.pem"),
            expiredServerCertificateFile: path("server-expired.pem"),
            otherHostServerCertificateFile: path("server-other-host.pem"),
            otherCAFile: path("other-ca.pem")
        )
    }
}
