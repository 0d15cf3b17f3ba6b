import EventbaseCore
import EventbaseNATS
import NIOCore
import NIOTestUtils
import Testing

@Suite struct NATSDecoderTests {
    private func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test func decodesEveryServerOperationWhenSplitAtEveryByte() throws {
        let info =
            #"INFO {"server_id":"S1","version":"2.10.0","max_payload":1048576,"headers":true,"#
            + #""connect_urls":["127.0.0.1:4223"],"nonce":"abc"}"# + "\r\n"
        var expectedInfo = NATSServerInfo(maxPayload: 1_048_576, headers: true)
        expectedInfo.serverID = "S1"
        expectedInfo.version = "2.10.0"
        expectedInfo.connectURLs = ["127.0.0.1:4223"]
        expectedInfo.nonce = "abc"
        let pairs: [(ByteBuffer, [NATSServerOp])] = [
            (buffer(info), [.info(expectedInfo)]),
            (buffer("PING\r\n"), [.ping]),
            (buffer("PONG\r\n"), [.pong]),
            (buffer("+OK\r\n"), [.ok]),
            (buffer("-ERR 'Authorization Violation'\r\n"), [.error("Authorization Violation")]),
            (
                buffer("MSG foo.bar 9 5\r\nhello\r\n"),
                [.message(.init(subject: "foo.bar", sid: 9, payload: Array("hello".utf8)))]
            ),
            (
                buffer("MSG foo 1 _INBOX.x.1 0\r\n\r\n"),
                [.message(.init(subject: "foo", sid: 1, replyTo: "_INBOX.x.1", payload: []))]
            ),
            (
                buffer("HMSG foo 2 reply 24 29\r\nNATS/1.0\r\nA: 1\r\nA: 2\r\n\r\nhello\r\n"),
                [
                    .message(
                        .init(
                            subject: "foo",
                            sid: 2,
                            replyTo: "reply",
                            headers: MessageHeaders(fields: [("A", "1"), ("A", "2")]),
                            payload: Array("hello".utf8)
                        )
                    )
                ]
            ),
            (
                buffer("msg lower 3 2\r\nhi\r\n"),
                [.message(.init(subject: "lower", sid: 3, payload: Array("hi".utf8)))]
            ),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { NATSDecoder() }
    }

    @Test(arguments: [
        ("NATS/1.0 100 Idle Heartbeat\r\n\r\n", 100, "Idle Heartbeat"),
        ("NATS/1.0 100 FlowControl Request\r\n\r\n", 100, "FlowControl Request"),
        ("NATS/1.0 404 No Messages\r\n\r\n", 404, "No Messages"),
        ("NATS/1.0 408 Request Timeout\r\n\r\n", 408, "Request Timeout"),
        ("NATS/1.0 409 Consumer Deleted\r\n\r\n", 409, "Consumer Deleted"),
        ("NATS/1.0 503\r\n\r\n", 503, nil),
    ])
    func decodesStatusLines(block: String, status: Int, description: String?) throws {
        let count = block.utf8.count
        var decoder = NATSDecoder()
        var input = buffer("HMSG _INBOX.a.1 4 \(count) \(count)\r\n\(block)\r\n")
        let op = try decoder.decode(buffer: &input)
        guard case .message(let message) = op else {
            Issue.record("expected a message, got \(String(describing: op))")
            return
        }
        #expect(message.headers?.status == status)
        #expect(message.headers?.statusDescription == description)
        #expect(message.payload.isEmpty)
        #expect(input.readableBytes == 0)
    }

    @Test func decodesManyFramesInOneRead() throws {
        var input = ByteBuffer()
        for index in 0..<1000 {
            input.writeString("MSG s.\(index) \(index) 3\r\nabc\r\nPING\r\n")
        }
        var decoder = NATSDecoder()
        var messages = 0
        var pings = 0
        while let op = try decoder.decode(buffer: &input) {
            switch op {
            case .message(let message):
                #expect(message.sid == UInt64(messages))
                messages += 1
            case .ping: pings += 1
            default: Issue.record("unexpected \(op)")
            }
        }
        #expect(messages == 1000)
        #expect(pings == 1000)
        #expect(input.readableBytes == 0)
    }

    @Test func decodesALargePayloadArrivingInChunks() throws {
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var all = ByteBuffer(string: "MSG big 1 \(payload.count)\r\n")
        all.writeBytes(payload)
        all.writeString("\r\n")
        var decoder = NATSDecoder()
        var input = ByteBuffer()
        var result: NATSServerOp?
        while all.readableBytes > 0 {
            var chunk = all.readSlice(length: min(all.readableBytes, 65_000))!
            input.writeBuffer(&chunk)
            if let op = try decoder.decode(buffer: &input) {
                result = op
            }
        }
        #expect(result == .message(.init(subject: "big", sid: 1, payload: payload)))
    }

    @Test(arguments: [
        "FOO bar\r\n",
        "MSG only-subject\r\n",
        "MSG a notanumber 3\r\nabc\r\n",
        "MSG a 1 x\r\n",
        "MSG a 1 3\r\nabcXY",
        "HMSG a 1 10 5\r\nNATS/1.0\r\n",
        "HMSG a 1 9 9\r\nHTTP/1.1\r\n\r\n",
        "HMSG a 1 16 16\r\nNATS/1.0\r\nnocolon\r\n\r\n",
        "INFO {not json\r\n",
        "MSG a 1 99999999999999999999\r\n",
    ])
    func rejectsMalformedInputWithAProtocolError(input: String) throws {
        var decoder = NATSDecoder()
        var buffer = buffer(input)
        let error = #expect(throws: EventbaseError.self) {
            while try decoder.decode(buffer: &buffer) != nil {}
        }
        #expect(error?.code == .protocolError)
    }

    @Test func capsTheControlLineLength() throws {
        var decoder = NATSDecoder(maxControlLineLength: 4096)
        var input = buffer("MSG " + String(repeating: "a", count: 5000))
        let error = #expect(throws: EventbaseError.self) { try decoder.decode(buffer: &input) }
        #expect(error?.code == .protocolError)

        var shortDecoder = NATSDecoder(maxControlLineLength: 4096)
        var partial = buffer("MSG " + String(repeating: "a", count: 4000))
        #expect(try shortDecoder.decode(buffer: &partial) == nil)
    }

    @Test func capsThePayloadAtTheServersMaximum() throws {
        var decoder = NATSDecoder()
        var input = buffer(#"INFO {"max_payload":1024}"# + "\r\n")
        _ = try decoder.decode(buffer: &input)
        input.writeString("MSG a 1 \(1024 + 64 * 1024 + 1)\r\n")
        let error = #expect(throws: EventbaseError.self) { try decoder.decode(buffer: &input) }
        #expect(error?.code == .protocolError)
    }
}

@Suite struct NATSEncoderTests {
    private func encoded(_ op: NATSClientOp) throws -> String {
        var buffer = try op.encoded()
        return buffer.readString(length: buffer.readableBytes)!
    }

    @Test func encodesPublishSubscribeAndPings() throws {
        #expect(
            try encoded(.publish(subject: "a.b", replyTo: nil, headers: nil, payload: Array("hi".utf8)))
                == "PUB a.b 2\r\nhi\r\n")
        #expect(try encoded(.publish(subject: "a", replyTo: "r", headers: nil, payload: [])) == "PUB a r 0\r\n\r\n")
        #expect(
            try encoded(.publish(subject: "a", replyTo: "r", headers: ["Nats-Msg-Id": "1"], payload: Array("x".utf8)))
                == "HPUB a r 28 29\r\nNATS/1.0\r\nNats-Msg-Id: 1\r\n\r\nx\r\n"
        )
        #expect(try encoded(.subscribe(subject: "a.>", queue: nil, sid: 4)) == "SUB a.> 4\r\n")
        #expect(try encoded(.subscribe(subject: "a.*", queue: "workers", sid: 5)) == "SUB a.* workers 5\r\n")
        #expect(try encoded(.unsubscribe(sid: 4, max: nil)) == "UNSUB 4\r\n")
        #expect(try encoded(.unsubscribe(sid: 4, max: 1)) == "UNSUB 4 1\r\n")
        #expect(try encoded(.ping) == "PING\r\n")
        #expect(try encoded(.pong) == "PONG\r\n")
    }

    @Test func encodesConnectWithHeadersAndNoResponders() throws {
        var info = NATSConnectInfo(name: "eventbase")
        info.user = "u"
        let text = try encoded(.connect(info))
        #expect(text.hasPrefix("CONNECT {"))
        #expect(text.hasSuffix("}\r\n"))
        for field in [
            #""verbose":false"#, #""pedantic":false"#, #""headers":true"#, #""no_responders":true"#,
            #""lang":"swift""#, #""name":"eventbase""#, #""user":"u""#, #""protocol":1"#,
        ] {
            #expect(text.contains(field), "missing \(field) in \(text)")
        }
    }

    @Test func headersRoundTripThroughTheDecoder() throws {
        let headers = MessageHeaders(fields: [("Nats-Msg-Id", "abc"), ("X", "1"), ("X", "2")])
        var buffer = try NATSClientOp.publish(subject: "s", replyTo: nil, headers: headers, payload: [1, 2, 3])
            .encoded()
        // The server echoes HPUB as HMSG with a subscription id.
        let text = buffer.readString(length: buffer.readableBytes)!
        var echoed = ByteBuffer(string: text.replacingFirst("HPUB s ", with: "HMSG s 7 "))
        var decoder = NATSDecoder()
        #expect(
            try decoder.decode(buffer: &echoed)
                == .message(.init(subject: "s", sid: 7, headers: headers, payload: [1, 2, 3])))
    }

    @Test func refusesHeadersThatWouldBreakTheFraming() {
        let error = #expect(throws: EventbaseError.self) {
            _ = try NATSHeaderCodec.encode(["Bad": "line\r\nbreak"])
        }
        #expect(error?.code == .invalidArgument)
    }
}

extension String {
    fileprivate func replacingFirst(_ target: String, with replacement: String) -> String {
        guard hasPrefix(target) else { return self }
        return replacement + dropFirst(target.count)
    }
}
