import EventbaseCore
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A user-space TCP proxy on loopback that injects network faults between a client and a server:
/// the fault harness's stand-in for `tc netem` and `iptables`, which tests cannot use.
///
/// Clients connect to ``port``; each accepted connection gets its own upstream connection to the
/// target and two pump threads (one per direction) that forward bytes according to the current
/// ``Mode``, which can be switched at any time:
///
/// ```swift
/// let proxy = try TCPFaultProxy(targetPort: server.port)
/// // connect the client to nats://127.0.0.1:\(proxy.port)
/// proxy.mode = .blackhole      // half-open: connections stay up, nothing arrives
/// proxy.mode = .pass           // blackholed connections are reset; new ones pass
/// proxy.resetAll()             // every open connection gets a TCP RST
/// proxy.stop()
/// ```
///
/// It uses blocking POSIX sockets and threads (no NIO), so EventbaseTestKit keeps depending on the
/// core only. Every counter it keeps is in ``statistics``. Call ``stop()`` when done (its threads keep
/// it alive until then), or use ``withTCPFaultProxy(to:_:)``.
public final class TCPFaultProxy: Sendable {
    /// How the proxy treats bytes.
    public enum Mode: Sendable, Hashable, CustomStringConvertible {
        /// Forwards everything.
        case pass
        /// Half-open connections: accepts and keeps connections open but forwards nothing in either
        /// direction (bytes read are discarded). Connections that lost bytes this way are reset when
        /// the mode changes again, as a real half-open connection eventually is.
        case blackhole
        /// One-way silence: forwards what the client sends but discards everything the server sends
        /// (acks, replies, heartbeats, pongs), so the client's writes still reach the server. Reset
        /// like ``blackhole`` when the mode changes.
        case blackholeToClient
        /// Resets every connection (open ones at once, new ones on accept).
        case reset
        /// Forwards everything, each chunk after `delay`.
        case delay(Duration)
        /// Forwards `bytes` more bytes on each open or new connection (per direction), then resets it:
        /// a connection cut in the middle of a frame.
        case dropAfter(bytes: Int)
        /// Forwards everything except the next `count` messages from the server (`MSG` or `HMSG`
        /// frames, whole) whose reply subject starts with `replyPrefix`, then passes everything: a
        /// delivery lost in the middle of an intact connection. With `"$JS.ACK.<stream>."` it drops
        /// JetStream deliveries of that stream, leaving heartbeats, flow control and replies alone.
        /// Server-to-client bytes are parsed into frames in this mode, so only whole frames go out.
        case dropMessages(replyPrefix: String, count: Int)

        /// The mode's name, as in the figures (`dropAfter(10)`).
        public var description: String {
            switch self {
            case .pass: "pass"
            case .blackhole: "blackhole"
            case .blackholeToClient: "blackholeToClient"
            case .reset: "reset"
            case .delay(let delay): "delay(\(delay))"
            case .dropAfter(let bytes): "dropAfter(\(bytes))"
            case .dropMessages(let prefix, let count): "dropMessages(\(prefix), \(count))"
            }
        }
    }

    /// What the proxy has done so far.
    public struct Statistics: Sendable, Hashable {
        /// Connections accepted.
        public var accepted = 0
        /// Connections reset by a fault (``Mode/reset``, ``Mode/dropAfter(bytes:)``, ``resetAll()``,
        /// or leaving ``Mode/blackhole``).
        public var resets = 0
        /// Bytes forwarded, both directions.
        public var forwardedBytes = 0
        /// Bytes read and discarded by ``Mode/blackhole``.
        public var discardedBytes = 0
        /// Mode switches.
        public var modeChanges = 0
        /// Messages discarded by ``Mode/dropMessages(replyPrefix:count:)``.
        public var droppedMessages = 0
    }

    private struct Connection {
        var client: Int32
        var upstream: Int32
        /// Bytes still allowed per direction under ``Mode/dropAfter(bytes:)`` (index 0: to the server).
        var budget: [Int?] = [nil, nil]
        var lostBytes = false
        var closed = false
        /// Pump threads still using the sockets; the last one to leave closes them.
        var pumps = 2
        /// Whether the sockets are closed with a TCP RST (a fault) rather than a FIN.
        var abort = false
    }

    private struct State {
        var mode: Mode = .pass
        var stopped = false
        var connections: [Int: Connection] = [:]
        var nextID = 0
        var statistics = Statistics()
        /// Messages ``Mode/dropMessages(replyPrefix:count:)`` still drops.
        var dropsLeft = 0
    }

    /// The loopback port clients connect to.
    public let port: Int
    /// The loopback port connections are forwarded to.
    public let targetPort: Int
    private let listener: Int32
    private let state = Mutex(State())

    /// Starts a proxy to `127.0.0.1:targetPort` on a free loopback port.
    /// - Throws: `.unavailable` when a socket cannot be created or bound.
    public init(targetPort: Int) throws {
        self.targetPort = targetPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw EventbaseError(.unavailable, "TCPFaultProxy: cannot create a socket.") }
        var reuse: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw EventbaseError(.unavailable, "TCPFaultProxy: cannot bind or listen (errno \(errno)).")
        }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else {
            close(fd)
            throw EventbaseError(.unavailable, "TCPFaultProxy: cannot read the bound port.")
        }
        self.listener = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "TCPFaultProxy.accept"
        thread.start()
    }

    /// `nats://127.0.0.1:<port>`.
    public var url: String { "nats://127.0.0.1:\(port)" }

    /// The current mode; setting it applies to open connections at once.
    public var mode: Mode {
        get { state.withLock { $0.mode } }
        set { setMode(newValue) }
    }

    /// What the proxy has done so far.
    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// How many connections are open.
    public var openConnections: Int { state.withLock { $0.connections.values.count { !$0.closed } } }

    private func setMode(_ mode: Mode) {
        let toReset = state.withLock { state -> [Int] in
            let leavingBlackhole =
                (state.mode == .blackhole || state.mode == .blackholeToClient) && mode != state.mode
            state.mode = mode
            state.statistics.modeChanges += 1
            if case .dropMessages(_, let count) = mode { state.dropsLeft = count }
            var reset: [Int] = []
            for (id, var connection) in state.connections {
                switch mode {
                case .reset:
                    reset.append(id)
                case .dropAfter(let bytes):
                    connection.budget = [bytes, bytes]
                    state.connections[id] = connection
                default:
                    if leavingBlackhole, connection.lostBytes { reset.append(id) }
                }
            }
            return reset
        }
        for id in toReset { resetConnection(id) }
    }

    /// Resets every open connection (TCP RST to both sides), whatever the mode.
    public func resetAll() {
        let ids = state.withLock { state in state.connections.filter { !$0.value.closed }.map(\.key) }
        for id in ids { resetConnection(id) }
    }

    /// Stops accepting and closes every connection. Idempotent.
    public func stop() {
        let first = state.withLock { state -> Bool in
            defer { state.stopped = true }
            return !state.stopped
        }
        guard first else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        resetAll()
    }

    // MARK: Threads

    private func acceptLoop() {
        while !state.withLock({ $0.stopped }) {
            var pollFD = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pollFD, 1, 100)
            if ready <= 0 { continue }
            let client = accept(listener, nil, nil)
            if client < 0 { continue }
            guard let upstream = Self.connect(port: targetPort) else {
                Self.abort(client)
                continue
            }
            let admitted = state.withLock { state -> (Int, Bool)? in
                guard !state.stopped else { return nil }
                let id = state.nextID
                state.nextID += 1
                state.statistics.accepted += 1
                var connection = Connection(client: client, upstream: upstream)
                if case .dropAfter(let bytes) = state.mode { connection.budget = [bytes, bytes] }
                state.connections[id] = connection
                return (id, state.mode == .reset)
            }
            guard let (id, resetNow) = admitted else {
                Self.abort(client)
                Self.abort(upstream)
                continue
            }
            if resetNow {
                state.withLock { $0.connections[id] = nil }
                state.withLock { $0.statistics.resets += 1 }
                Self.abort(client)
                Self.abort(upstream)
                continue
            }
            for direction in 0..<2 {
                let thread = Thread { [self] in
                    pump(
                        id: id, from: direction == 0 ? client : upstream, to: direction == 0 ? upstream : client,
                        direction: direction)
                }
                thread.name = "TCPFaultProxy.pump"
                thread.start()
            }
        }
    }

    private enum Step {
        case forward(Int, delay: Duration?)
        case discard
        case reset
        case stop
    }

    private func pump(id: Int, from source: Int32, to destination: Int32, direction: Int) {
        defer { leave(id) }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        // Server-to-client bytes held back until their frame is complete (``Mode/dropMessages``).
        var held: [UInt8] = []
        while true {
            var pollFD = pollfd(fd: source, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pollFD, 1, 100)
            if isClosed(id) { return }
            if ready == 0 { continue }
            if ready < 0 {
                if errno == EINTR { continue }
                closeConnection(id)
                return
            }
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if count <= 0 {
                // The peer closed or failed: close both sides (an orderly close, not a fault).
                closeConnection(id)
                return
            }
            if direction == 1 {
                let framing = state.withLock { state -> Bool? in
                    if case .dropMessages = state.mode { return true }
                    return held.isEmpty ? false : (state.mode == .pass ? true : nil)
                }
                if framing == true {
                    held.append(contentsOf: buffer[0..<count])
                    let kept = takeFrames(&held)
                    guard writeAll(destination, kept, count: kept.count, connection: id) else {
                        closeConnection(id)
                        return
                    }
                    continue
                }
                if framing == nil {
                    // Another mode took over in the middle of a frame: let the held bytes go first.
                    guard writeAll(destination, held, count: held.count, connection: id) else {
                        closeConnection(id)
                        return
                    }
                    held = []
                }
            }
            let step = state.withLock { state -> Step in
                guard var connection = state.connections[id], !connection.closed else { return .stop }
                defer { state.connections[id] = connection }
                switch state.mode {
                case .blackholeToClient where direction == 1:
                    connection.lostBytes = true
                    state.statistics.discardedBytes += count
                    return .discard
                case .pass, .delay, .dropAfter, .blackholeToClient, .dropMessages:
                    var allowed = count
                    if let budget = connection.budget[direction] {
                        allowed = min(count, budget)
                        connection.budget[direction] = budget - allowed
                        if allowed < count || budget - allowed == 0 {
                            state.statistics.forwardedBytes += allowed
                            return allowed > 0 ? .forward(allowed, delay: nil) : .reset
                        }
                    }
                    state.statistics.forwardedBytes += allowed
                    if case .delay(let delay) = state.mode { return .forward(allowed, delay: delay) }
                    return .forward(allowed, delay: nil)
                case .blackhole:
                    connection.lostBytes = true
                    state.statistics.discardedBytes += count
                    return .discard
                case .reset:
                    return .reset
                }
            }
            switch step {
            case .stop:
                return
            case .discard:
                continue
            case .reset:
                resetConnection(id)
                return
            case .forward(let allowed, let delay):
                if let delay {
                    let (seconds, attoseconds) = delay.components
                    var time = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
                    nanosleep(&time, nil)
                }
                guard writeAll(destination, buffer, count: allowed, connection: id) else {
                    closeConnection(id)
                    return
                }
                let exhausted = state.withLock { $0.connections[id]?.budget[direction] == 0 }
                if exhausted {
                    resetConnection(id)
                    return
                }
            }
        }
    }

    /// Removes the complete server frames at the front of `held` and returns those to forward: all of
    /// them but the messages ``Mode/dropMessages(replyPrefix:count:)`` still drops. An incomplete
    /// frame stays in `held`.
    private func takeFrames(_ held: inout [UInt8]) -> [UInt8] {
        var kept: [UInt8] = []
        kept.reserveCapacity(held.count)
        var offset = 0
        while let frame = Self.frame(in: held, at: offset) {
            let drop =
                frame.replyTo.map { reply in
                    state.withLock { state -> Bool in
                        guard case .dropMessages(let prefix, _) = state.mode, state.dropsLeft > 0,
                            reply.starts(with: prefix.utf8)
                        else { return false }
                        state.dropsLeft -= 1
                        state.statistics.droppedMessages += 1
                        return true
                    }
                } ?? false
            if !drop { kept.append(contentsOf: held[offset..<frame.end]) }
            offset = frame.end
        }
        held.removeFirst(offset)
        state.withLock { $0.statistics.forwardedBytes += kept.count }
        return kept
    }

    /// The server frame starting at `start` in `bytes`: where it ends, and the reply subject when it
    /// is a message (`MSG subject sid [reply] size` or `HMSG subject sid [reply] headerSize size`,
    /// followed by the payload and CRLF). `nil` while the frame is incomplete.
    static func frame(in bytes: [UInt8], at start: Int) -> (end: Int, replyTo: ArraySlice<UInt8>?)? {
        var lineEnd = start
        while lineEnd + 1 < bytes.count, !(bytes[lineEnd] == 13 && bytes[lineEnd + 1] == 10) { lineEnd += 1 }
        guard lineEnd + 1 < bytes.count else { return nil }
        let line = bytes[start..<lineEnd]
        let isMessage = line.starts(with: "MSG ".utf8)
        guard isMessage || line.starts(with: "HMSG ".utf8) else { return (lineEnd + 2, nil) }
        let fields = line.split(separator: 32, omittingEmptySubsequences: true)
        let withReply = isMessage ? 5 : 6
        guard let last = fields.last, let size = Int(String(decoding: last, as: UTF8.self)) else {
            return (lineEnd + 2, nil)
        }
        let end = lineEnd + 2 + size + 2
        guard end <= bytes.count else { return nil }
        return (end, fields.count == withReply ? fields[3] : nil)
    }

    /// Marks a connection closed and wakes its pumps; the last pump to leave closes the sockets
    /// (so a descriptor is never closed while another thread may still poll it).
    private func end(_ id: Int, abort: Bool) {
        let sockets = state.withLock { state -> (Int32, Int32)? in
            guard var connection = state.connections[id], !connection.closed else { return nil }
            connection.closed = true
            connection.abort = abort
            state.connections[id] = connection
            if abort { state.statistics.resets += 1 }
            return (connection.client, connection.upstream)
        }
        guard let (client, upstream) = sockets else { return }
        shutdown(client, Int32(SHUT_RD))
        shutdown(upstream, Int32(SHUT_RD))
    }

    private func resetConnection(_ id: Int) { end(id, abort: true) }

    private func closeConnection(_ id: Int) { end(id, abort: false) }

    /// Called by each pump as it exits.
    private func leave(_ id: Int) {
        let last = state.withLock { state -> Connection? in
            guard var connection = state.connections[id] else { return nil }
            connection.pumps -= 1
            if connection.pumps > 0 {
                state.connections[id] = connection
                return nil
            }
            state.connections[id] = nil
            return connection
        }
        guard let last else { return }
        if last.abort {
            Self.abort(last.client)
            Self.abort(last.upstream)
        } else {
            close(last.client)
            close(last.upstream)
        }
    }

    private func isClosed(_ id: Int) -> Bool {
        state.withLock { $0.connections[id]?.closed ?? true }
    }

    // MARK: Sockets

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private static func connect(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            return nil
        }
        var noDelay: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    /// Closes with `SO_LINGER` 0, so the peer gets a TCP RST instead of an orderly FIN.
    private static func abort(_ fd: Int32) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
    }

    /// Writes everything, giving up when the connection is ended meanwhile (a write to a peer that
    /// does not read must not block the pump forever).
    private func writeAll(_ fd: Int32, _ buffer: [UInt8], count: Int, connection id: Int) -> Bool {
        var written = 0
        while written < count {
            var pollFD = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&pollFD, 1, 100)
            if isClosed(id) { return false }
            if ready == 0 || (ready < 0 && errno == EINTR) { continue }
            let result = buffer.withUnsafeBytes {
                send(fd, $0.baseAddress! + written, count - written, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if result < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return false
            }
            written += result
        }
        return true
    }
}

/// Starts a proxy to `targetPort`, runs `body` with it, and stops it even when `body` throws.
public func withTCPFaultProxy<T: Sendable>(to targetPort: Int, _ body: (TCPFaultProxy) async throws -> T)
    async throws -> T
{
    let proxy = try TCPFaultProxy(targetPort: targetPort)
    defer { proxy.stop() }
    return try await body(proxy)
}
