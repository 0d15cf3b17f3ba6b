import Crypto
import EventbaseCore
import EventbaseNATS
import Foundation
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

/// The client handler driven over a test channel: the test plays the server.
@Suite struct NATSChannelHandlerTests {
    private struct Harness {
        let transport: NATSTransport
        let channel: NIOAsyncTestingChannel
        let handshake: EventLoopPromise<NATSServerInfo>

        init(options: NATSOptions = NATSOptions(servers: ["nats://127.0.0.1:4222"])) async throws {
            transport = NATSTransport(options)
            channel = NIOAsyncTestingChannel()
            handshake = channel.eventLoop.makePromise(of: NATSServerInfo.self)
            let server = try NATSServerAddress(parsing: options.servers[0])
            let setup = try NATSConnectionSetup(options: options)
            let (transport, channel, handshake) = (transport, channel, handshake)
            try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(
                    NATSChannelHandler(transport: transport, server: server, setup: setup, handshake: handshake))
            }.get()
            #expect(transport.attachForTesting(channel))
            try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4222))
        }

        func serverSends(_ text: String) async throws {
            try await channel.writeInbound(ByteBuffer(string: text))
        }

        func clientWrote() async throws -> String {
            var buffer = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            return buffer.readString(length: buffer.readableBytes) ?? ""
        }

        func handshake(info: String = #"{"server_id":"S","max_payload":2048,"headers":true}"#) async throws -> String {
            try await serverSends("INFO \(info)\r\n")
            let connect = try await clientWrote()
            try await serverSends("PONG\r\n")
            _ = try await handshake.futureResult.get()
            return connect
        }
    }

    @Test func handshakesThenCarriesPublishesSubscriptionsAndPings() async throws {
        let harness = try await Harness()
        let connect = try await harness.handshake()
        #expect(connect.hasPrefix("CONNECT {"))
        #expect(connect.hasSuffix("PING\r\n"))
        #expect(connect.contains(#""no_responders":true"#))
        #expect(harness.transport.isConnected)
        #expect(harness.transport.maxPayload == 2048)

        // subscribe() returns once the server has answered the PING sent after the SUB (a refused
        // SUB would have been answered with -ERR first).
        let transport = harness.transport
        let subscribing = Task { try await transport.subscribe("orders.*") }
        var written = ""
        while !written.hasSuffix("PING\r\n") { written += try await harness.clientWrote() }
        #expect(written == "SUB orders.* 1\r\nPING\r\n")
        try await harness.serverSends("PONG\r\n")
        let subscription = try await subscribing.value
        try await harness.transport.publish("orders.1", payload: Array("hi".utf8))
        #expect(try await harness.clientWrote() == "PUB orders.1 2\r\nhi\r\n")

        try await harness.serverSends("MSG orders.1 1 2\r\nhi\r\nPING\r\n")
        #expect(try await harness.clientWrote() == "PONG\r\n")
        var iterator = subscription.makeAsyncIterator()
        #expect(try await iterator.next()?.payload == Array("hi".utf8))

        await harness.transport.close()
    }

    /// The handler decodes what it reads itself: frames split at every byte, or many in one read, or a
    /// large one over many reads, arrive whole and in order.
    @Test(arguments: [1, 3, 7, 64, 100_000])
    func framesSplitAcrossReadsArriveWholeAndInOrder(chunk: Int) async throws {
        let harness = try await Harness(
            options: NATSOptions(servers: ["nats://127.0.0.1:4222"]))
        _ = try await harness.handshake(info: #"{"server_id":"S","max_payload":100000,"headers":true}"#)
        let transport = harness.transport
        let subscribing = Task { try await transport.subscribe("orders.*") }
        var written = ""
        while !written.hasSuffix("PING\r\n") { written += try await harness.clientWrote() }
        try await harness.serverSends("PONG\r\n")
        let subscription = try await subscribing.value

        let large = String(repeating: "x", count: 5_000)
        var payloads = (0..<20).map { "message \($0)" }
        payloads.insert(large, at: 7)
        var stream = ""
        for (index, payload) in payloads.enumerated() {
            if index % 2 == 0 {
                stream += "MSG orders.\(index) 1 \(payload.utf8.count)\r\n\(payload)\r\n"
            } else {
                let headers = "NATS/1.0\r\nNats-Msg-Id: m\(index)\r\n\r\n"
                stream +=
                    "HMSG orders.\(index) 1 \(headers.utf8.count) \(headers.utf8.count + payload.utf8.count)\r\n"
                    + "\(headers)\(payload)\r\n"
            }
        }
        let bytes = Array(stream.utf8)
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + chunk, bytes.count)
            try await harness.channel.writeInbound(ByteBuffer(bytes: bytes[offset..<end]))
            offset = end
        }
        var iterator = subscription.makeAsyncIterator()
        for (index, payload) in payloads.enumerated() {
            let message = try await iterator.next()
            #expect(message?.subject == "orders.\(index)")
            #expect(message?.payload == Array(payload.utf8))
            if index % 2 == 1 { #expect(message?.headers?["Nats-Msg-Id"] == "m\(index)") }
        }
        await harness.transport.close()
    }

    @Test func anUnwritableChannelHoldsWritesAndBoundsTheBuffer() async throws {
        var options = NATSOptions(servers: ["nats://127.0.0.1:4222"])
        options.writeBufferLimit = 100
        let harness = try await Harness(options: options)
        _ = try await harness.handshake()
        harness.channel.isWritable = false

        try await harness.transport.publish("a", payload: Array(repeating: 1, count: 60))
        let finished = Mutex(false)
        let blocked = Task {
            // Over the 100-byte limit with 60+ bytes pending: waits until the channel takes the first batch.
            try await harness.transport.publish("b", payload: Array(repeating: 2, count: 60))
            finished.withLock { $0 = true }
        }
        await harness.channel.testingEventLoop.run()
        #expect(try await harness.channel.readOutbound(as: ByteBuffer.self) == nil)

        harness.channel.isWritable = true
        harness.channel.pipeline.fireChannelWritabilityChanged()
        let first = try await harness.clientWrote()
        #expect(first.hasPrefix("PUB a 60\r\n"))
        try await blocked.value
        #expect(finished.withLock { $0 })
        let second = try await harness.clientWrote()
        #expect(second.hasPrefix("PUB b 60\r\n"))
        await harness.transport.close()
    }

    @Test func anAuthorizationErrorDuringTheHandshakeFailsItWithAuthenticationFailed() async throws {
        let harness = try await Harness()
        try await harness.serverSends(#"INFO {"server_id":"S","auth_required":true}"# + "\r\n")
        _ = try await harness.clientWrote()
        try await harness.serverSends("-ERR 'Authorization Violation'\r\n")
        let error = await #expect(throws: EventbaseError.self) { _ = try await harness.handshake.futureResult.get() }
        #expect(error?.code == .authenticationFailed)
        await harness.transport.close()
    }

    @Test func garbageFromTheServerFailsTheHandshakeWithAProtocolError() async throws {
        let harness = try await Harness()
        try await harness.serverSends("HTTP/1.1 400 Bad Request\r\n")
        let error = await #expect(throws: EventbaseError.self) { _ = try await harness.handshake.futureResult.get() }
        #expect(error?.code == .protocolError)
        await harness.transport.close()
    }

    @Test func aSilentServerTimesOutTheHandshake() async throws {
        var options = NATSOptions(servers: ["nats://127.0.0.1:4222"])
        options.connectTimeout = .seconds(2)
        let harness = try await Harness(options: options)
        await harness.channel.testingEventLoop.advanceTime(by: .seconds(3))
        let error = await #expect(throws: EventbaseError.self) { _ = try await harness.handshake.futureResult.get() }
        #expect(error?.code == .timeout)
        await harness.transport.close()
    }

    @Test func signsTheServerNonceWithTheNKey() async throws {
        let key = try NATSNKey(rawSeed: (0..<32).map { UInt8($0) })
        let setup = try NATSConnectionSetup(options: NATSOptions(nkeySeed: key.encodedSeed))
        var info = NATSServerInfo()
        info.nonce = "a-nonce-to-sign"
        let connect = try setup.connectInfo(info: info, server: NATSServerAddress(parsing: "127.0.0.1"))
        #expect(connect.nkey == key.encodedPublicKey)
        let signature = try #require(connect.sig.flatMap(Self.base64URLDecode))
        let publicKeyBytes = try #require(NATSBase32.decode(key.encodedPublicKey))
        let publicKey = try Curve25519.Signing.PublicKey(rawRepresentation: publicKeyBytes[1..<33])
        #expect(publicKey.isValidSignature(signature, for: Array("a-nonce-to-sign".utf8)))
    }

    private static func base64URLDecode(_ text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
