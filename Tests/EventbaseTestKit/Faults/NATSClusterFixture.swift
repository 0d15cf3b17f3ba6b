public import EventbaseCore
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A cluster of `nats-server` processes with JetStream for fault tests: each node a
/// ``NATSServerFixture`` (its own loopback client port, store and log) joined by routes, with a
/// monitoring port used to wait for a JetStream meta leader.
///
/// ```swift
/// try await withNATSCluster { cluster in
///     // connect to cluster.urls, create a replicas-3 stream, then:
///     let leader = try await cluster.streamLeader("orders", over: transport)
///     await cluster.nodes[leader!].crash()
/// }
/// ```
///
/// Nodes keep their ports and stores across ``NATSServerFixture/crash()`` and
/// ``NATSServerFixture/startAgain()``, so a restarted node rejoins.
public final class NATSClusterFixture: Sendable {
    /// The nodes, in start order.
    public let nodes: [NATSServerFixture]
    /// Each node's monitoring port (`/jsz`), by node index.
    public let monitoringPorts: [Int]

    /// Every node's client URL.
    public var urls: [String] { nodes.map(\.url) }

    private init(nodes: [NATSServerFixture], monitoringPorts: [Int]) {
        self.nodes = nodes
        self.monitoringPorts = monitoringPorts
    }

    /// Starts `size` nodes and waits until they agree on a JetStream meta leader.
    /// - Throws: `.unavailable` when there is no binary or a node does not start; `.timeout` when no
    ///   meta leader is elected within `timeout`.
    public static func start(size: Int = 3, timeout: Duration = .seconds(60)) async throws -> NATSClusterFixture {
        // A port found free can be taken before a node binds it (by another node's client port, or
        // another process): such a start fails with "address already in use" and is tried again.
        var attempt = 1
        while true {
            do {
                return try await startOnce(size: size, timeout: timeout)
            } catch let error as EventbaseError
                where error.code == .unavailable && error.message.contains("address already in use") && attempt < 3
            {
                attempt += 1
            }
        }
    }

    private static func startOnce(size: Int, timeout: Duration) async throws -> NATSClusterFixture {
        var picked: [Int] = []
        while picked.count < 2 * size {
            let port = try NATSServerFixture.freePort()
            if !picked.contains(port) { picked.append(port) }
        }
        let routePorts = Array(picked[0..<size])
        let monitoringPorts = Array(picked[size...])
        var nodes: [NATSServerFixture] = []
        do {
            for index in 0..<size {
                let routes = routePorts.enumerated().filter { $0.offset != index }.map {
                    "nats-route://127.0.0.1:\($0.element)"
                }
                let extra = """
                    http: 127.0.0.1:\(monitoringPorts[index])
                    cluster {
                      name: eventbase_faults
                      listen: 127.0.0.1:\(routePorts[index])
                      routes: [\(routes.joined(separator: ", "))]
                    }
                    """
                nodes.append(try await NATSServerFixture.start(.init(extra: extra)))
            }
            let cluster = NATSClusterFixture(nodes: nodes, monitoringPorts: monitoringPorts)
            try await cluster.waitForMetaLeader(timeout: timeout)
            return cluster
        } catch {
            for node in nodes { await node.stopAndRemove() }
            throw error
        }
    }

    /// Waits until every running node reports the same JetStream meta leader (from `/jsz`), and the
    /// leader sees every other running node as a current peer (so streams can be placed on them).
    /// - Returns: The meta leader's server name.
    /// - Throws: `.timeout` after `timeout`.
    @discardableResult
    public func waitForMetaLeader(timeout: Duration = .seconds(60)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let leader = agreedMetaLeader() { return leader }
            // Elections are only observable by asking: poll the monitoring ports.
            try await Task.sleep(for: .milliseconds(100))
        }
        throw EventbaseError(.timeout, "The cluster elected no JetStream meta leader within \(timeout).")
    }

    private func agreedMetaLeader() -> String? {
        var leaders: Set<String> = []
        var views: [String: JSONValue] = [:]
        let running = nodes.enumerated().filter { $0.element.isRunning }
        for (index, node) in running {
            guard let jsz = Self.httpGetJSON(port: monitoringPorts[index], path: "/jsz"),
                let leader = jsz["meta_cluster"]?["leader"]?.stringValue, !leader.isEmpty
            else { return nil }
            leaders.insert(leader)
            views["fixture_\(node.port)"] = jsz["meta_cluster"]
        }
        guard leaders.count == 1, let leader = leaders.first, let view = views[leader] else { return nil }
        let current = (view["replicas"]?.arrayValue ?? []).filter { $0["current"] == true }.compactMap {
            $0["name"]?.stringValue
        }
        let others = running.map { "fixture_\($0.element.port)" }.filter { $0 != leader }
        return others.allSatisfy(current.contains) ? leader : nil
    }

    /// The index of the node leading `stream`, from the stream's info (`cluster.leader`).
    /// - Returns: `nil` while the stream has no leader.
    /// - Throws: what the request throws.
    public func streamLeader(_ stream: String, over transport: any Transport) async throws -> Int? {
        let reply = try await transport.request(
            "$JS.API.STREAM.INFO.\(stream)", payload: [], timeout: .seconds(5))
        let info = try JSONValue(jsonBytes: reply.payload)
        guard let leader = info["cluster"]?["leader"]?.stringValue else { return nil }
        return nodes.firstIndex { "fixture_\($0.port)" == leader }
    }

    /// Waits until `stream` has a leader other than `excluded` (after a leader was killed).
    /// - Returns: The new leader's index.
    /// - Throws: `.timeout` after `timeout`.
    public func waitForStreamLeader(
        _ stream: String, over transport: any Transport, excluding excluded: Int? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let leader = try? await streamLeader(stream, over: transport), leader != excluded { return leader }
            // Leader elections are only observable by asking.
            try await Task.sleep(for: .milliseconds(100))
        }
        throw EventbaseError(.timeout, "Stream \(stream) got no new leader within \(timeout).")
    }

    /// Stops every node and removes their files.
    public func stopAndRemove() async {
        for node in nodes { await node.stopAndRemove() }
    }

    // MARK: Monitoring

    /// `GET http://127.0.0.1:<port><path>` as JSON, or `nil` on any failure.
    static func httpGetJSON(port: Int, path: String) -> JSONValue? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
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
        guard connected == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count
        else { return nil }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            response += buffer[0..<count]
        }
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let start = response.indices.first(where: { response[$0...].starts(with: separator) }) else { return nil }
        return try? JSONValue(jsonBytes: Array(response[(start + 4)...]))
    }
}

/// Starts a cluster, runs `body` with it, and stops it (removing its files) even when `body` throws.
public func withNATSCluster<T: Sendable>(size: Int = 3, _ body: (NATSClusterFixture) async throws -> T)
    async throws -> T
{
    let cluster = try await NATSClusterFixture.start(size: size)
    do {
        let result = try await body(cluster)
        await cluster.stopAndRemove()
        return result
    } catch {
        await cluster.stopAndRemove()
        throw error
    }
}
