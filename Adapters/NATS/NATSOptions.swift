import EventbaseCore

/// How a ``NATSTransport`` connects: servers, credentials, TLS, timeouts and reconnect policy.
///
/// ```swift
/// var options = NATSOptions(servers: ["nats://127.0.0.1:4222"], user: "a", password: "a")
/// options.requestTimeout = .seconds(2)
/// let transport = NATSTransport(options)
/// ```
public struct NATSOptions: Sendable, CustomStringConvertible, CustomReflectable {
    /// Server URLs: `nats://host:port`, `tls://host:port` (TLS required), or `host:port`; credentials may
    /// be given in the URL (`nats://user:password@host`, `nats://token@host`). Port 4222 by default.
    public var servers: [String]
    /// The user name for user/password authentication.
    public var user: String?
    /// The password for user/password authentication.
    public var password: String?
    /// The token for token authentication.
    public var token: String?
    /// An nkey seed (`SU...`) for nkey authentication: the client signs the server's nonce with it.
    public var nkeySeed: String?
    /// The path of a `.creds` file (user JWT and nkey seed) for decentralised JWT authentication.
    public var credentialsFile: String?
    /// TLS settings; `nil` uses TLS only when a server or URL requires it, with the system trust roots.
    public var tls: NATSTLSOptions?
    /// The client name the server shows in its monitoring.
    public var name: String?
    /// How long to wait for a TCP connection plus the NATS handshake. Default 2 s (as the NATS
    /// clients): a hung server still accepts TCP connections, so each reconnect attempt to one costs
    /// this long before the next server is tried.
    public var connectTimeout: Duration = .seconds(2)
    /// The timeout of requests that do not give one. Default 5 s.
    public var requestTimeout: Duration = .seconds(5)
    /// How often to PING the server to detect a dead connection. Default 2 s: with two outstanding
    /// pings a hung server or a half-open connection is given up after 4 to 6 seconds (the fault
    /// scenarios measure it), instead of minutes with the NATS clients' usual 2 minutes.
    public var pingInterval: Duration = .seconds(2)
    /// How many PINGs may go unanswered before the connection is considered dead. Default 2.
    public var maxOutstandingPings: Int = 2
    /// How many reconnect attempts in a row before giving up and closing; `nil` (the default) retries
    /// forever, so that an instance outlives any outage of the server and catches up when it returns
    /// (meanwhile writes fail in time and `Eventbase.health(timeout:)` reports the connection down).
    /// A process that should exit instead (a command-line tool) sets a number.
    public var maxReconnectAttempts: Int? = nil
    /// The first reconnect delay; each failed attempt doubles it up to ``reconnectBackoffMax``. Default 50 ms.
    public var reconnectBackoffBase: Duration = .milliseconds(50)
    /// The longest reconnect delay. Default 2 s.
    public var reconnectBackoffMax: Duration = .seconds(2)
    /// The random extra delay added to each reconnect delay, as a fraction of it (0...1). Default 0.2.
    public var reconnectJitter: Double = 0.2
    /// How many bytes of publishes to keep while disconnected; beyond it publishing throws `.unavailable`.
    /// Default 8 MiB.
    public var reconnectBufferSize: Int = 8 * 1024 * 1024
    /// How many bytes may wait to be written while connected before publishers wait. Default 4 MiB.
    public var writeBufferLimit: Int = 4 * 1024 * 1024
    /// How many undelivered messages a subscription may hold; past it the subscription ends with
    /// `.slowConsumer`. Default 65,536.
    public var pendingMessageLimit: Int = 65_536
    /// Whether to try the servers in random order (spreads clients over a cluster). Default `true`.
    public var randomizeServers: Bool = true
    /// Whether to add the servers that the server announces (`connect_urls`). Default `true`.
    public var discoverServers: Bool = true

    /// The options with every secret (password, token, nkey seed, credentials in URLs) replaced by `***`,
    /// so printing or logging options never reveals a credential.
    public var description: String {
        var fields = ["servers: \(servers.map(NATSServerAddress.redacted))"]
        if let user { fields.append("user: \(user)") }
        if password != nil { fields.append("password: ***") }
        if token != nil { fields.append("token: ***") }
        if nkeySeed != nil { fields.append("nkeySeed: ***") }
        if let credentialsFile { fields.append("credentialsFile: \(credentialsFile)") }
        if tls != nil { fields.append("tls: on") }
        if let name { fields.append("name: \(name)") }
        return "NATSOptions(\(fields.joined(separator: ", ")))"
    }

    /// A mirror without secrets, so `dump(options)` and debuggers do not reveal credentials.
    public var customMirror: Mirror {
        Mirror(self, children: ["description": description], displayStyle: .struct)
    }

    /// Creates options.
    /// - Parameters:
    ///   - servers: Server URLs; default `nats://127.0.0.1:4222`.
    ///   - user: A user name.
    ///   - password: A password.
    ///   - token: An authentication token.
    ///   - nkeySeed: An nkey seed.
    ///   - credentialsFile: The path of a `.creds` file.
    ///   - tls: TLS settings.
    ///   - name: The client name.
    public init(
        servers: [String] = ["nats://127.0.0.1:4222"],
        user: String? = nil,
        password: String? = nil,
        token: String? = nil,
        nkeySeed: String? = nil,
        credentialsFile: String? = nil,
        tls: NATSTLSOptions? = nil,
        name: String? = nil
    ) {
        self.servers = servers
        self.user = user
        self.password = password
        self.token = token
        self.nkeySeed = nkeySeed
        self.credentialsFile = credentialsFile
        self.tls = tls
        self.name = name
    }
}

/// TLS settings of a ``NATSOptions``.
public struct NATSTLSOptions: Sendable, Hashable {
    /// A PEM file of the certificate authorities to trust instead of the system's.
    public var caFile: String?
    /// A PEM file of the client certificate (chain), for servers that verify clients.
    public var certificateFile: String?
    /// The PEM file of the client certificate's private key.
    public var privateKeyFile: String?
    /// Whether to insist on TLS even when the server does not require it.
    public var required: Bool
    /// Whether to start TLS before the server's INFO (`handshake_first` servers, nats-server 2.10.4+).
    public var handshakeFirst: Bool
    /// The host name to verify the server certificate against, when it differs from the URL's host.
    public var serverHostname: String?

    /// Creates TLS settings.
    /// - Parameters:
    ///   - caFile: A PEM file of trusted certificate authorities.
    ///   - certificateFile: A client certificate PEM file.
    ///   - privateKeyFile: The client key PEM file.
    ///   - required: Whether TLS is required even if the server does not ask for it.
    ///   - handshakeFirst: Whether to handshake before the server's INFO.
    ///   - serverHostname: The name to verify the server certificate against.
    public init(
        caFile: String? = nil,
        certificateFile: String? = nil,
        privateKeyFile: String? = nil,
        required: Bool = true,
        handshakeFirst: Bool = false,
        serverHostname: String? = nil
    ) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
        self.required = required
        self.handshakeFirst = handshakeFirst
        self.serverHostname = serverHostname
    }
}

/// A server address parsed from a URL of ``NATSOptions/servers``.
package struct NATSServerAddress: Sendable, Hashable, CustomStringConvertible {
    package var host: String
    package var port: Int
    package var tlsRequired: Bool
    package var user: String?
    package var password: String?
    package var token: String?
    /// Whether it was announced by a server rather than configured.
    package var discovered = false

    package var description: String {
        host.contains(":") ? "nats://[\(host)]:\(port)" : "nats://\(host):\(port)"
    }

    /// Parses `nats://[user[:password]@]host[:port]`, `tls://...` or `host[:port]`.
    /// - Throws: `.invalidArgument` for an unknown scheme or a bad port.
    package init(parsing url: String) throws {
        var rest = Substring(url.trimmingSpaces())
        tlsRequired = false
        if let colon = rest.firstIndex(of: ":"), rest[colon...].hasPrefix("://") {
            let scheme = rest[..<colon].lowercased()
            switch scheme {
            case "nats": break
            case "tls": tlsRequired = true
            default:
                throw EventbaseError(
                    .invalidArgument,
                    "The server URL '\(Self.redacted(url))' has scheme '\(scheme)'; use nats:// or tls://.")
            }
            rest = rest[rest.index(colon, offsetBy: 3)...]
        }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                user = Self.percentDecoded(userInfo[..<colon])
                password = Self.percentDecoded(userInfo[userInfo.index(after: colon)...])
            } else {
                token = Self.percentDecoded(userInfo)
            }
        }
        var portText: Substring?
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            portText = rest[rest.index(after: colon)...]
        } else {
            host = String(rest)
        }
        if host.isEmpty { host = "127.0.0.1" }
        if let portText {
            guard let port = Int(portText), (1...65535).contains(port) else {
                throw EventbaseError(.invalidArgument, "The server URL '\(Self.redacted(url))' has an invalid port.")
            }
            self.port = port
        } else {
            port = 4222
        }
    }

    /// The URL with any user, password or token replaced by `***`, for messages.
    package static func redacted(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@") else { return url }
        var start = url.startIndex
        if let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") {
            start = url.index(colon, offsetBy: 3)
        }
        guard start <= at else { return url }
        return String(url[..<start]) + "***" + String(url[at...])
    }

    private static func percentDecoded(_ text: Substring) -> String {
        var bytes = [UInt8]()
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%"), iterator.count >= 2,
                let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
