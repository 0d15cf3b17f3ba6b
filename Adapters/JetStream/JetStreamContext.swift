public import EventbaseCore
import Foundation

/// A small JetStream API client over any ``Transport``: streams, publishing with acknowledgement,
/// reading messages back, and (for the adapters) consumers.
///
/// Every call is one request with a deadline of ``requestTimeout``. Failures are ``EventbaseError``s:
/// `.timeout` when the server does not answer in time; `.unavailable` when JetStream is not enabled
/// (nothing answers `$JS.API`) or not ready; `.streamNotFound`; `.conflict` for a failed
/// expectation; API errors keep the server's ``JetStreamAPIError`` as the cause.
///
/// ```swift
/// let js = JetStreamContext(transport: transport)
/// let info = try await js.createStreamIfMissing(JetStreamStreamOptions().streamConfig(name: "orders"))
/// let ack = try await js.publish("orders.a", payload: Array("{}".utf8))
/// ```
public struct JetStreamContext: Sendable {
    /// The transport requests go through.
    public let transport: any Transport
    /// The deadline of each request.
    public var requestTimeout: Duration
    /// The API subject prefix: `$JS.API`, or `$JS.<domain>.API`.
    public let apiPrefix: String
    /// While a ``streamInfo(_:)`` request has no answer, it is sent again this often (it only reads);
    /// `nil` (the default) sends it once.
    public var infoResendInterval: Duration?

    /// Creates a client.
    /// - Parameters:
    ///   - transport: A connected (or connecting) transport.
    ///   - requestTimeout: The deadline of each request (default five seconds).
    ///   - domain: The JetStream domain, if the account uses one.
    public init(transport: any Transport, requestTimeout: Duration = .seconds(5), domain: String? = nil) {
        self.transport = transport
        self.requestTimeout = requestTimeout
        self.apiPrefix = domain.map { "$JS.\($0).API" } ?? "$JS.API"
    }

    // MARK: Requests

    /// Sends an API request and returns the JSON response, mapping errors.
    func api(
        _ subject: String, _ body: JSONValue?, resendInterval: Duration? = nil, operation: @autoclosure () -> String
    ) async throws -> JSONValue {
        let reply = try await rawRequest(
            apiPrefix + "." + subject, body?.jsonBytes() ?? [], resendInterval: resendInterval, operation: operation())
        let json: JSONValue
        do {
            json = try JSONValue(jsonBytes: reply.payload)
        } catch {
            throw EventbaseError(
                .protocolError, "\(operation()) got a reply that is not JSON from JetStream.", cause: error)
        }
        if let error = json["error"], !error.isNull {
            throw JetStreamAPIError(json: error).eventbaseError(operation())
        }
        return json
    }

    private func rawRequest(
        _ subject: String, _ payload: [UInt8], headers: MessageHeaders? = nil, resendInterval: Duration? = nil,
        operation: @autoclosure () -> String
    ) async throws -> TransportMessage {
        let reply: TransportMessage
        do {
            reply = try await transport.request(
                subject, payload: payload, headers: headers, timeout: requestTimeout, resendInterval: resendInterval)
        } catch let error as EventbaseError {
            throw Self.map(error, operation: operation(), timeout: requestTimeout)
        }
        if reply.status == 503 {
            throw Self.notEnabled(operation())
        }
        return reply
    }

    static func notEnabled(_ operation: String) -> EventbaseError {
        EventbaseError(
            .unavailable,
            "\(operation) failed: nothing answers the JetStream API. Enable JetStream on the server (nats-server -js, or a jetstream {} block) and for the account."
        )
    }

    static func map(_ error: EventbaseError, operation: String, timeout: Duration) -> EventbaseError {
        switch error.code {
        case .noResponders:
            return EventbaseError(notEnabled(operation).code, notEnabled(operation).message, cause: error)
        case .timeout:
            return EventbaseError(
                .timeout, "\(operation) got no answer from JetStream within \(timeout); check the server, then retry.",
                cause: error)
        default:
            return error
        }
    }

    // MARK: Account and streams

    /// The account's JetStream usage.
    /// - Throws: `.unavailable` when JetStream is not enabled; `.timeout`.
    public func accountInfo() async throws -> JetStreamAccountInfo {
        let json = try await api("INFO", nil, operation: "Reading JetStream account info")
        return JetStreamAccountInfo(
            memory: UInt64(json: json["memory"]),
            storage: UInt64(json: json["storage"]),
            streams: json["streams"]?.intValue ?? 0,
            consumers: json["consumers"]?.intValue ?? 0,
            domain: json["domain"]?.stringValue
        )
    }

    /// A stream's configuration and state.
    /// - Throws: `.streamNotFound`; `.unavailable`; `.timeout`.
    public func streamInfo(_ name: String) async throws -> JetStreamStreamInfo {
        JetStreamStreamInfo(
            json: try await api(
                "STREAM.INFO." + name, nil, resendInterval: infoResendInterval, operation: "Reading stream \(name)"))
    }

    /// Creates a stream.
    /// - Throws: `.conflict` when a stream of that name exists with another configuration; `.unavailable`; `.timeout`.
    public func createStream(_ config: JetStreamStreamConfig) async throws -> JetStreamStreamInfo {
        JetStreamStreamInfo(
            json: try await api(
                "STREAM.CREATE." + config.name, config.jsonValue, operation: "Creating stream \(config.name)"))
    }

    /// Returns the stream's info, creating it with `config` if it does not exist. An existing stream
    /// is used as it is (its configuration is not changed).
    /// - Throws: `.unavailable`; `.timeout`; `.limitExceeded`.
    public func createStreamIfMissing(_ config: JetStreamStreamConfig) async throws -> JetStreamStreamInfo {
        do {
            return try await streamInfo(config.name)
        } catch let error as EventbaseError where error.code == .streamNotFound {
            do {
                return try await createStream(config)
            } catch let error as EventbaseError
                where (error.cause as? JetStreamAPIError)?.errorCode == JetStreamAPIError.Known.streamNameInUse
            {
                // Created by someone else meanwhile.
                return try await streamInfo(config.name)
            }
        }
    }

    /// Changes a stream's configuration.
    /// - Throws: `.streamNotFound`; `.serverError` for a change the server refuses; `.timeout`.
    public func updateStream(_ config: JetStreamStreamConfig) async throws -> JetStreamStreamInfo {
        JetStreamStreamInfo(
            json: try await api(
                "STREAM.UPDATE." + config.name, config.jsonValue, operation: "Updating stream \(config.name)"))
    }

    /// Deletes a stream and its consumers.
    /// - Throws: `.streamNotFound`; `.timeout`.
    public func deleteStream(_ name: String) async throws {
        _ = try await api("STREAM.DELETE." + name, nil, operation: "Deleting stream \(name)")
    }

    /// Purges messages from a stream.
    /// - Parameters:
    ///   - name: The stream.
    ///   - subject: Only messages on this subject (wildcards allowed); `nil` for all.
    ///   - sequence: Only messages with a sequence *below* this one (exclusive, as the server defines it).
    ///   - keep: Keep this many of the newest matching messages. Not together with `sequence`.
    /// - Returns: How many messages were removed.
    /// - Throws: `.streamNotFound`; `.invalidArgument` for `sequence` with `keep`; `.timeout`.
    @discardableResult
    public func purgeStream(_ name: String, subject: String? = nil, sequence: UInt64? = nil, keep: UInt64? = nil)
        async throws -> UInt64
    {
        if sequence != nil, keep != nil {
            throw EventbaseError(.invalidArgument, "A purge takes a sequence or a number to keep, not both.")
        }
        var body = JSONObject()
        if let subject { body["filter"] = .string(subject) }
        if let sequence { body["seq"] = .number(Double(sequence)) }
        if let keep { body["keep"] = .number(Double(keep)) }
        let json = try await api(
            "STREAM.PURGE." + name, body.isEmpty ? nil : .object(body), operation: "Purging stream \(name)")
        return UInt64(json: json["purged"])
    }

    // MARK: Publishing

    /// Publishes a message to a stream and waits for the server to store it.
    /// - Returns: The ack, with ``JetStreamPubAck/duplicate`` set for a repeated `Nats-Msg-Id`.
    /// - Throws: `.conflict` when an expectation fails; `.streamNotFound` when no stream captures the
    ///   subject; `.timeout` (the message may or may not be stored: retry with the same message id);
    ///   `.limitExceeded`; `.closed`.
    public func publish(
        _ subject: String, payload: [UInt8], headers: MessageHeaders? = nil,
        options: JetStreamPublishOptions = JetStreamPublishOptions()
    ) async throws -> JetStreamPubAck {
        var headers = headers
        func set(_ name: String, _ value: String?) {
            guard let value else { return }
            if headers == nil { headers = MessageHeaders(fields: []) }
            headers?[name] = value
        }
        set("Nats-Msg-Id", options.messageID)
        set("Nats-Expected-Last-Subject-Sequence", options.expectedLastSubjectSequence.map { String($0) })
        set("Nats-Expected-Last-Sequence", options.expectedLastSequence.map { String($0) })
        set("Nats-Expected-Stream", options.expectedStream)
        let deduplicated = headers?[EventCodec.messageIDHeader] != nil
        let resend = deduplicated ? options.resendInterval : nil
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: requestTimeout)
        while true {
            let reply: TransportMessage
            do {
                reply = try await transport.request(
                    subject, payload: payload, headers: headers, timeout: clock.now.duration(to: deadline),
                    resendInterval: resend)
            } catch let error as EventbaseError where error.code == .noResponders {
                throw EventbaseError(
                    .streamNotFound, "No stream captures subject \(subject); create the stream first.", cause: error)
            } catch let error as EventbaseError {
                throw Self.map(error, operation: "Publishing to \(subject)", timeout: requestTimeout)
            }
            if reply.status == 503 {
                throw EventbaseError(
                    .streamNotFound, "No stream captures subject \(subject); create the stream first.")
            }
            do {
                return try Self.parsePubAck(reply.payload, subject: subject)
            } catch let error as EventbaseError
                where deduplicated
                && (error.cause as? JetStreamAPIError)?.errorCode == JetStreamAPIError.Known.duplicateInProcess
            {
                // A copy with this message id is still being stored (a replicated stream's commit
                // outlasted the resend interval): it is neither stored nor refused yet. Ask again
                // until the first copy's outcome comes back as a duplicate ack, within the deadline.
                let pause = min(options.resendInterval ?? .milliseconds(50), .milliseconds(50))
                guard clock.now.advanced(by: pause) < deadline else {
                    throw EventbaseError(
                        .timeout,
                        "Publishing to \(subject): the server was still storing an earlier copy of this write after \(requestTimeout); it may or may not be stored. Retry with the same message id.",
                        cause: error)
                }
                try await clock.sleep(for: pause)
            }
        }
    }

    /// Parses a `PubAck` (or the API error in its place).
    static func parsePubAck(_ payload: [UInt8], subject: String) throws -> JetStreamPubAck {
        if let ack = commonPubAck(payload) { return ack }
        let json: JSONValue
        do {
            json = try JSONValue(jsonBytes: payload)
        } catch {
            throw EventbaseError(
                .protocolError, "Publishing to \(subject) got a reply that is not a PubAck.", cause: error)
        }
        if let error = json["error"], !error.isNull {
            throw JetStreamAPIError(json: error).eventbaseError("Publishing to \(subject)")
        }
        guard let stream = json["stream"]?.stringValue, let number = json["seq"]?.doubleValue,
            number >= 1, number < 1.8e19, let sequence = UInt64(exactly: number.rounded(.towardZero))
        else {
            throw EventbaseError(
                .protocolError, "Publishing to \(subject) got a PubAck without a stream and a valid sequence.")
        }
        return JetStreamPubAck(
            stream: stream, sequence: sequence, duplicate: json["duplicate"]?.boolValue ?? false,
            domain: json["domain"]?.stringValue)
    }

    /// The PubAck of nearly every publish, `{"stream":"<ASCII name>","seq":<n>}` (optionally with
    /// `,"duplicate":true` before the `}`), read without building a JSON value; `nil` for anything else
    /// (an error, a domain, other fields), which ``parsePubAck(_:subject:)`` then reads as JSON.
    static func commonPubAck(_ payload: [UInt8]) -> JetStreamPubAck? {
        payload.withUnsafeBufferPointer { bytes -> JetStreamPubAck? in
            let streamKey = #"{"stream":""#.utf8
            let sequenceKey = #"","seq":"#.utf8
            let duplicateKey = #","duplicate":true"#.utf8
            guard bytes.starts(with: streamKey) else { return nil }
            var index = streamKey.count
            let nameStart = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                // Escapes, control characters and non-ASCII names take the JSON path.
                guard bytes[index] >= 0x20, bytes[index] < 0x80, bytes[index] != UInt8(ascii: "\\") else { return nil }
                index += 1
            }
            let name = UnsafeBufferPointer(rebasing: bytes[nameStart..<index])
            guard !name.isEmpty, UnsafeBufferPointer(rebasing: bytes[index...]).starts(with: sequenceKey) else {
                return nil
            }
            index += sequenceKey.count
            let digitsStart = index
            var sequence: UInt64 = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                let (product, overflow) = sequence.multipliedReportingOverflow(by: 10)
                let (sum, carry) = product.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
                guard !overflow, !carry else { return nil }
                sequence = sum
                index += 1
            }
            let digits = index - digitsStart
            // Sequence 0 is never a stored message: the JSON path rejects it.
            guard digits > 0, bytes[digitsStart] != UInt8(ascii: "0") else { return nil }
            var duplicate = false
            if UnsafeBufferPointer(rebasing: bytes[index...]).starts(with: duplicateKey) {
                duplicate = true
                index += duplicateKey.count
            }
            guard index == bytes.count - 1, bytes[index] == UInt8(ascii: "}") else { return nil }
            return JetStreamPubAck(
                stream: String(decoding: name, as: UTF8.self), sequence: sequence, duplicate: duplicate)
        }
    }

    // MARK: Reading messages

    /// The message at `sequence`, or (with `nextOnSubject`) the first message at or after `sequence`
    /// on that subject; `nil` when there is none.
    /// - Parameters:
    ///   - stream: The stream.
    ///   - sequence: The sequence.
    ///   - nextOnSubject: A subject filter (wildcards allowed) to read the next matching message instead.
    ///   - direct: Use a direct get (the stream must allow it), which any replica can answer.
    /// - Throws: `.streamNotFound`; `.timeout`.
    public func message(stream: String, sequence: UInt64, nextOnSubject: String? = nil, direct: Bool = false)
        async throws -> JetStreamStoredMessage?
    {
        var body: JSONObject = ["seq": .number(Double(sequence))]
        if let nextOnSubject { body["next_by_subj"] = .string(nextOnSubject) }
        return try await getMessage(stream: stream, body: body, direct: direct)
    }

    /// The newest message on `subject`, or `nil` when the subject holds none.
    /// - Throws: `.streamNotFound`; `.timeout`.
    public func lastMessage(stream: String, subject: String, direct: Bool = false) async throws
        -> JetStreamStoredMessage?
    {
        try await getMessage(stream: stream, body: ["last_by_subj": .string(subject)], direct: direct)
    }

    private func getMessage(stream: String, body: JSONObject, direct: Bool) async throws -> JetStreamStoredMessage? {
        let operation = "Reading a message of stream \(stream)"
        if direct {
            let reply = try await rawRequest(
                apiPrefix + ".DIRECT.GET." + stream, JSONValue.object(body).jsonBytes(), operation: operation)
            switch reply.status {
            case 404?: return nil
            case let status? where status >= 300:
                let text = reply.headers?.statusDescription ?? "status \(status)"
                throw EventbaseError(.serverError, "\(operation) failed: \(text).")
            default:
                let headers = reply.headers
                guard let subject = headers?["Nats-Subject"],
                    let sequence = headers?["Nats-Sequence"].flatMap({ UInt64($0) })
                else {
                    throw EventbaseError(.protocolError, "\(operation): a direct get reply lacked its headers.")
                }
                let time = headers?["Nats-Time-Stamp"].flatMap(ISO8601.parse).map { Date(millisecondsSince1970: $0) }
                return JetStreamStoredMessage(
                    subject: subject, sequence: sequence, time: time, headers: headers, payload: reply.payload)
            }
        }
        let json: JSONValue
        do {
            json = try await api("STREAM.MSG.GET." + stream, .object(body), operation: operation)
        } catch let error as EventbaseError
            where (error.cause as? JetStreamAPIError)?.errorCode == JetStreamAPIError.Known.noMessageFound
        {
            return nil
        }
        guard let message = json["message"], let subject = message["subject"]?.stringValue else {
            throw EventbaseError(.protocolError, "\(operation): the reply held no message.")
        }
        let payload = message["data"]?.stringValue.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } ?? []
        let headers = message["hdrs"]?.stringValue.flatMap { Data(base64Encoded: $0) }.flatMap {
            Self.parseHeaders([UInt8]($0))
        }
        return JetStreamStoredMessage(
            subject: subject,
            sequence: UInt64(json: message["seq"]),
            time: message["time"]?.stringValue.flatMap(ISO8601.parse).map { Date(millisecondsSince1970: $0) },
            headers: headers,
            payload: payload
        )
    }

    /// Parses a `NATS/1.0` header block.
    static func parseHeaders(_ bytes: [UInt8]) -> MessageHeaders? {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.components(separatedBy: "\r\n")
        guard let first = lines.first, first.hasPrefix("NATS/1.0") else { return nil }
        lines.removeFirst()
        var headers = MessageHeaders(fields: [])
        let status = first.dropFirst("NATS/1.0".count).trimmingCharacters(in: .whitespaces)
        if !status.isEmpty {
            let parts = status.split(separator: " ", maxSplits: 1)
            headers.status = parts.first.flatMap { Int($0) }
            headers.statusDescription = parts.count > 1 ? String(parts[1]) : nil
        }
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon])
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers.append(value, for: name)
        }
        return headers
    }
}
