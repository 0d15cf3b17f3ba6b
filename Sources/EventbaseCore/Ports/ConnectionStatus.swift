/// What a connection-backed port knows about its connection to the server, for health checks.
///
/// Ports that talk to a server (a ``Transport``, an ``EventLog`` on one) may report it through
/// `connectionStatus`; ports without a connection (in-memory, files) report `nil`.
public struct ConnectionStatus: Sendable, Hashable {
    /// The state of a connection.
    public enum State: String, Sendable, Hashable, CustomStringConvertible {
        /// Not connected yet (before the first connection).
        case idle
        /// Making the first connection.
        case connecting
        /// Connected; operations reach the server.
        case connected
        /// The connection dropped; reconnecting in the background (writes wait or fail with `.unavailable`).
        case reconnecting
        /// Closed for good.
        case closed

        /// The state's name, such as `connected`.
        public var description: String { rawValue }
    }

    /// The connection's state now.
    public var state: State
    /// How many times the connection was re-established after dropping, since it was created.
    public var reconnectCount: Int
    /// The server connected to now, if connected (a URL without credentials).
    public var server: String?

    /// Creates a status.
    /// - Parameters:
    ///   - state: The connection's state.
    ///   - reconnectCount: How many times the connection was re-established.
    ///   - server: The server connected to, without credentials.
    public init(state: State, reconnectCount: Int = 0, server: String? = nil) {
        self.state = state
        self.reconnectCount = reconnectCount
        self.server = server
    }
}
