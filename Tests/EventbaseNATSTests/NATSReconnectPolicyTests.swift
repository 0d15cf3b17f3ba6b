import EventbaseNATS
import NIOCore
import Testing

@Suite struct NATSReconnectPolicyTests {
    @Test func backoffDoublesUpToTheCapWithBoundedJitter() {
        let base = Duration.milliseconds(50)
        let cap = Duration.seconds(2)
        func delay(_ attempt: Int, random: Double = 0) -> Duration {
            NATSTransport.backoff(attempt: attempt, base: base, max: cap, jitter: 0.2, random: random)
        }
        #expect(delay(0) == .milliseconds(50))
        #expect(delay(1) == .milliseconds(100))
        #expect(delay(3) == .milliseconds(400))
        #expect(delay(10) == .seconds(2))
        #expect(delay(1_000) == .seconds(2))
        #expect(delay(0, random: 1) == .milliseconds(60))
        #expect(delay(10, random: 1) == .milliseconds(2400))
    }

    @Test func serverPoolRotatesAndAddsDiscoveredServersOnce() throws {
        var pool = ServerPool(servers: [
            try NATSServerAddress(parsing: "tls://a:1"), try NATSServerAddress(parsing: "b:2"),
        ])
        #expect(pool.next().host == "a")
        #expect(pool.next().host == "b")
        #expect(pool.next().host == "a")
        pool.add(discovered: [try NATSServerAddress(parsing: "c:3"), try NATSServerAddress(parsing: "a:1")])
        #expect(pool.servers.map(\.host) == ["a", "b", "c"])
        #expect(pool.servers[2].discovered)
        #expect(pool.servers[2].tlsRequired)
    }

    /// After a connection to a server is lost, every other server is tried before it again: a hung
    /// server still accepts TCP connections and would cost a whole connect timeout.
    @Test func reconnectingTriesTheLostServerLast() throws {
        var pool = ServerPool(servers: [
            try NATSServerAddress(parsing: "a:1"), try NATSServerAddress(parsing: "b:2"),
            try NATSServerAddress(parsing: "c:3"),
        ])
        pool.connected(to: try NATSServerAddress(parsing: "a:1"))
        #expect([pool.next(), pool.next(), pool.next()].map(\.host) == ["b", "c", "a"])
        pool.connected(to: try NATSServerAddress(parsing: "c:3"))
        #expect([pool.next(), pool.next()].map(\.host) == ["a", "b"])
        pool.connected(to: try NATSServerAddress(parsing: "unknown:9"))
        #expect(pool.next().host == "c")
    }

    /// The ordered insertion behind request deadlines and resends: appends when last, keeps equal
    /// keys in arrival order, and ignores what lies before `start` (already swept).
    @Test func insertInOrderKeepsTheTailSorted() {
        let base = NIODeadline.uptimeNanoseconds(1_000)
        func at(_ offset: Int64) -> NIODeadline { base + .nanoseconds(offset) }
        var entries: [(due: NIODeadline, name: String)] = [(at(50), "swept"), (at(10), "a"), (at(30), "b")]
        entries.insertInOrder((at(40), "c"), from: 1, by: \.due)
        entries.insertInOrder((at(20), "d"), from: 1, by: \.due)
        entries.insertInOrder((at(30), "e"), from: 1, by: \.due)
        entries.insertInOrder((at(5), "f"), from: 1, by: \.due)
        #expect(entries.map(\.name) == ["swept", "f", "a", "d", "b", "e", "c"])
        var empty: [(due: NIODeadline, name: String)] = []
        empty.insertInOrder((at(1), "only"), from: 0, by: \.due)
        #expect(empty.map(\.name) == ["only"])
    }

    @Test func compactConsumedDropsTheConsumedFrontOnlyWhenItIsWorthIt() {
        var queue = Array(0..<3000)
        var start = 1000
        queue.compactConsumed(start: &start)
        #expect(start == 1000 && queue.count == 3000, "a third consumed: kept")
        start = 2000
        queue.compactConsumed(start: &start)
        #expect(start == 0 && queue.first == 2000 && queue.count == 1000)
        start = 1000
        queue.compactConsumed(start: &start)
        #expect(start == 0 && queue.isEmpty)
    }
}
