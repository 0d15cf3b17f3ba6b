import EventbaseCore
import NIOCore
import NIOSSL

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What one connection attempt needs from ``NATSOptions``, with files (creds) already read.
package struct NATSConnectionSetup: Sendable {
    var name: String?
    var connectTimeout: Duration
    var pingInterval: Duration
    var tls: NATSTLSOptions?
    var user: String?
    var password: String?
    var token: String?
    var nkeySeed: String?
    var credentials: NATSCredentials?

    var tlsFirst: Bool { tls?.handshakeFirst == true }

    /// Reads the options; loads the creds file.
    /// - Throws: `.invalidArgument` when the creds file cannot be read or parsed.
    package init(options: NATSOptions) throws {
        name = options.name
        connectTimeout = options.connectTimeout
        pingInterval = options.pingInterval
        tls = options.tls
        user = options.user
        password = options.password
        token = options.token
        nkeySeed = options.nkeySeed
        if let path = options.credentialsFile {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: path))
            } catch {
                throw EventbaseError(
                    .invalidArgument, "Cannot read the NATS credentials file at \(path).", cause: error)
            }
            credentials = try NATSCredentials(parsing: String(decoding: data, as: UTF8.self))
        }
    }

    /// The CONNECT options for a server that sent `info`.
    /// - Throws: `.invalidArgument` for an invalid nkey seed; `.authenticationFailed` when the server
    ///   asks for a signature but sent no nonce.
    package func connectInfo(info: NATSServerInfo, server: NATSServerAddress) throws -> NATSConnectInfo {
        var connect = NATSConnectInfo(name: name)
        connect.tlsRequired = tls != nil || server.tlsRequired || info.tlsRequired == true
        connect.headers = true
        connect.noResponders = true
        if let user = user ?? server.user {
            connect.user = user
            connect.pass = password ?? server.password
        }
        if let token = token ?? server.token {
            connect.authToken = token
        }
        if let credentials {
            connect.jwt = credentials.jwt
            connect.sig = try sign(nonce: info.nonce, seed: credentials.seed)
        } else if let nkeySeed {
            let key = try NATSNKey(seed: nkeySeed)
            connect.nkey = key.encodedPublicKey
            connect.sig = try sign(nonce: info.nonce, seed: nkeySeed)
        }
        return connect
    }

    private func sign(nonce: String?, seed: String) throws -> String {
        guard let nonce else {
            throw EventbaseError(
                .authenticationFailed,
                "The NATS server sent no nonce to sign; it is not set up for nkey or JWT authentication.")
        }
        return try NATSNKey(seed: seed).sign(Array(nonce.utf8))
    }

    /// A TLS handler for `server`, per the TLS options.
    /// - Throws: `.invalidArgument` when a certificate or key file cannot be loaded.
    func makeTLSHandler(server: NATSServerAddress) throws -> NIOSSLClientHandler {
        var configuration = TLSConfiguration.makeClientConfiguration()
        do {
            if let caFile = tls?.caFile {
                configuration.trustRoots = .file(caFile)
            }
            if let certificateFile = tls?.certificateFile {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map {
                    .certificate($0)
                }
            }
            if let privateKeyFile = tls?.privateKeyFile {
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: privateKeyFile, format: .pem))
            }
            let context = try NIOSSLContext(configuration: configuration)
            let hostname = tls?.serverHostname ?? server.host
            let isIP = hostname.contains(":") || hostname.allSatisfy { $0.isNumber || $0 == "." }
            return try NIOSSLClientHandler(context: context, serverHostname: isIP ? nil : hostname)
        } catch let error as EventbaseError {
            throw error
        } catch {
            throw EventbaseError(
                .invalidArgument, "Could not set up TLS: check the CA, certificate and key files.", cause: error)
        }
    }
}
