import Eventbase
import EventbaseCore
import EventbaseTestKit
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The harness itself: the checkers catch what they must, and the proxy does what its modes say.
@Suite struct FaultCheckTests {
    let stream = "s"

    func put(_ sequence: UInt64, key: String, op: String, n: Int, id: String? = nil) -> RawStreamMessage {
        let subject = "s.\(Data(key.utf8).base64EncodedString())-put"
        let payload: JSONValue = [
            "type": "PUT", "id": .string(key), "data": ["op": .string(op), "n": .number(Double(n))], "timestamp": 1,
        ]
        return RawStreamMessage(sequence: sequence, subject: subject, messageID: id ?? op, payload: payload.jsonBytes())
    }

    func history(_ ops: [(key: String, op: String, n: Int, outcome: FaultHistory.Outcome)]) -> FaultHistory {
        let history = FaultHistory()
        for op in ops {
            let index = history.invoke(
                key: op.key, value: ["op": .string(op.op), "n": .number(Double(op.n))], opID: op.op)
            history.complete(index, outcome: op.outcome)
        }
        return history
    }

    func report(_ history: FaultHistory, _ messages: [RawStreamMessage], replicas: [String: [String: JSONValue]] = [:])
        -> FaultReport
    {
        FaultReport(
            scenario: "t", seed: 0, history: history, stream: stream, messages: messages, replicas: replicas,
            deadline: .seconds(60))
    }

    @Test func aCleanHistoryPasses() {
        let messages = [put(1, key: "a", op: "1", n: 1), put(2, key: "a", op: "2", n: 2)]
        let fold = IndependentFold(stream: stream, messages: messages)
        let result = report(
            history([("a", "1", 1, .ok), ("a", "2", 2, .unknown)]), messages, replicas: ["r": fold.documents])
        #expect(result.passed)
        #expect(result.unknownApplied == 1)
        #expect(fold.documents["a"] == ["op": "2", "n": 2, "id": "a"])
    }

    @Test func anAcknowledgedWriteMissingFromTheStreamIsLost() {
        let result = report(history([("a", "1", 1, .ok), ("a", "2", 2, .ok)]), [put(1, key: "a", op: "1", n: 1)])
        #expect(result.lost.count == 2)  // missing, and the key ended older than the acknowledged write
        #expect(!result.passed)
    }

    @Test func aWriteStoredTwiceIsADuplicate() {
        let messages = [put(1, key: "a", op: "1", n: 1), put(2, key: "a", op: "1", n: 1, id: "other")]
        let result = report(history([("a", "1", 1, .ok)]), messages)
        #expect(result.duplicated == ["1"])
    }

    @Test func aRejectedWriteInTheStreamIsAPhantom() {
        let result = report(history([("a", "1", 1, .rejected)]), [put(1, key: "a", op: "1", n: 1)])
        #expect(result.phantom == ["1"])
    }

    @Test func aReplicaThatDiffersFromTheFoldIsDivergent() {
        let messages = [put(1, key: "a", op: "1", n: 1)]
        let deleteA = RawStreamMessage(
            sequence: 2, subject: "s.\(Data("a".utf8).base64EncodedString())-delete", messageID: "d",
            payload: Array(#"{"type":"DELETE","id":"a","timestamp":2}"#.utf8))
        let result = report(
            history([("a", "1", 1, .ok)]), messages + [deleteA],
            replicas: ["stale": ["a": ["op": "1", "n": 1, "id": "a"]], "good": [:]])
        #expect(result.divergent == ["stale"])
    }

    @Test func aPendingOperationIsUnfinished() {
        let history = FaultHistory()
        _ = history.invoke(key: "a", value: ["op": "1", "n": 1], opID: "1")
        #expect(report(history, []).unfinished == ["1 pending"])
    }
}

@Suite(.enabled(if: NATSServerFixture.isAvailable), .serialized, .timeLimit(.minutes(1)))
struct TCPFaultProxyTests {
    /// Connects to `port` with a 5-second receive timeout.
    func connect(_ port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
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
        guard connected == 0 else { throw ScenarioFailure("cannot connect to \(port)") }
        return fd
    }

    /// Reads until the peer closes (or resets, or 5 seconds pass without data).
    func readToEnd(_ fd: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { return bytes }
            bytes += buffer[0..<count]
        }
    }

    /// Reads one line (the server's INFO).
    func readLine(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1 {
            bytes.append(byte)
            if byte == UInt8(ascii: "\n") { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func passForwardsAndDropAfterCutsTheConnectionAtTheByteCount() async throws {
        try await withNATSServer(.init(jetStream: false)) { server in
            try await withTCPFaultProxy(to: server.port) { proxy in
                let passing = try connect(proxy.port)
                #expect(readLine(passing).hasPrefix("INFO {"))
                close(passing)

                proxy.mode = .dropAfter(bytes: 10)
                let cut = try connect(proxy.port)
                let received = readToEnd(cut)
                close(cut)
                #expect(received == Array("INFO {\"ser".utf8))
                #expect(proxy.statistics.resets == 1)
            }
        }
    }

    @Test func resetModeClosesConnectionsAndPassRestoresThem() async throws {
        try await withNATSServer(.init(jetStream: false)) { server in
            try await withTCPFaultProxy(to: server.port) { proxy in
                proxy.mode = .reset
                let refused = try connect(proxy.port)
                #expect(readToEnd(refused).isEmpty)
                close(refused)
                proxy.mode = .pass
                let passing = try connect(proxy.port)
                #expect(readLine(passing).hasPrefix("INFO {"))
                close(passing)
                #expect(proxy.statistics.accepted == 2)
            }
        }
    }

    @Test func dropMessagesDiscardsWholeMessagesWithTheReplyPrefixAndNothingElse() async throws {
        try await withNATSServer(.init(jetStream: false)) { server in
            try await withTCPFaultProxy(to: server.port) { proxy in
                let subscriber = NATSTransport(faultNATSOptions(proxy.url))
                let publisher = NATSTransport(faultNATSOptions(server.url))
                try await subscriber.connect()
                try await publisher.connect()
                let subscription = try await subscriber.subscribe("drops")
                proxy.mode = .dropMessages(replyPrefix: "drop.s.", count: 2)
                // Big payloads, so frames straddle the proxy's reads; one with headers.
                let big = [UInt8](repeating: UInt8(ascii: "x"), count: 100_000)
                let sent: [(reply: String?, payload: [UInt8])] = [
                    ("drop.s.1", big), ("other.1", big), (nil, Array("plain".utf8)), ("drop.s.2", [1]),
                    ("drop.other.3", [2]), ("drop.s.4", big),
                ]
                for (index, message) in sent.enumerated() {
                    let headers: MessageHeaders? = index == 1 ? ["X-Index": "1"] : nil
                    try await publisher.publish(
                        "drops", payload: message.payload, headers: headers, replyTo: message.reply)
                }
                try await publisher.flush(timeout: .seconds(5))
                let received = try await withDeadline(
                    .seconds(10), clock: ContinuousClock(), "reading through the proxy"
                ) {
                    var received: [TransportMessage] = []
                    for try await message in subscription {
                        received.append(message)
                        if received.count == 4 { break }
                    }
                    return received
                }
                #expect(received.count == 4)
                #expect(received.map(\.replyTo) == ["other.1", nil, "drop.other.3", "drop.s.4"])
                #expect(received.map(\.payload.count) == [100_000, 5, 1, 100_000])
                #expect(received[0].headers?["X-Index"] == "1")
                #expect(proxy.statistics.droppedMessages == 2)
                // The connection is intact: a round trip through the proxy still works.
                try await subscriber.flush(timeout: .seconds(5))
                await subscriber.close()
                await publisher.close()
            }
        }
    }
}
