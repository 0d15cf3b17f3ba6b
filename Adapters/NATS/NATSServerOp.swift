package import EventbaseCore

/// One operation sent by a NATS server, as decoded by ``NATSDecoder``.
package enum NATSServerOp: Sendable, Hashable {
    /// `INFO {json}`: the server's description, sent on connect and when the cluster changes.
    case info(NATSServerInfo)
    /// `MSG` or `HMSG`: a message for one of this connection's subscriptions.
    case message(NATSInboundMessage)
    /// `PING`: the server checks that the client is alive; answer with `PONG`.
    case ping
    /// `PONG`: the answer to a client `PING`.
    case pong
    /// `+OK`: an acknowledgement (only in verbose mode).
    case ok
    /// `-ERR <text>`: a server error; the text without its quotes.
    case error(String)
}

/// A message delivered by the server (`MSG` or `HMSG`).
package struct NATSInboundMessage: Sendable, Hashable {
    /// The subject it was published on.
    package var subject: String
    /// The subscription id it was delivered for.
    package var sid: UInt64
    /// The reply subject, if any.
    package var replyTo: String?
    /// The headers, for `HMSG`.
    package var headers: MessageHeaders?
    /// The body.
    package var payload: [UInt8]

    package init(subject: String, sid: UInt64, replyTo: String? = nil, headers: MessageHeaders? = nil, payload: [UInt8])
    {
        self.subject = subject
        self.sid = sid
        self.replyTo = replyTo
        self.headers = headers
        self.payload = payload
    }
}

/// The fields of a server `INFO` that the client uses.
package struct NATSServerInfo: Sendable, Hashable, Codable {
    package var serverID: String?
    package var serverName: String?
    package var version: String?
    package var host: String?
    package var port: Int?
    package var headers: Bool?
    package var maxPayload: Int?
    package var proto: Int?
    package var authRequired: Bool?
    package var tlsRequired: Bool?
    package var tlsAvailable: Bool?
    package var connectURLs: [String]?
    package var nonce: String?
    package var jetstream: Bool?
    package var ldm: Bool?

    package init(maxPayload: Int? = nil, headers: Bool? = true) {
        self.maxPayload = maxPayload
        self.headers = headers
    }

    enum CodingKeys: String, CodingKey {
        case serverID = "server_id"
        case serverName = "server_name"
        case version
        case host
        case port
        case headers
        case maxPayload = "max_payload"
        case proto
        case authRequired = "auth_required"
        case tlsRequired = "tls_required"
        case tlsAvailable = "tls_available"
        case connectURLs = "connect_urls"
        case nonce
        case jetstream
        case ldm
    }
}
