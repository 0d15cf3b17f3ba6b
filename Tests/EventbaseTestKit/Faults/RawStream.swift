public import EventbaseCore
import Foundation

/// One message of a stream as the server stores it, read without Eventbase's codec or replica.
public struct RawStreamMessage: Sendable, Hashable {
    /// The stream sequence.
    public var sequence: UInt64
    /// The subject.
    public var subject: String
    /// The `Nats-Msg-Id` header, if any.
    public var messageID: String?
    /// The payload.
    public var payload: [UInt8]

    /// Creates a message (tests of the checkers build their own streams).
    public init(sequence: UInt64, subject: String, messageID: String?, payload: [UInt8]) {
        self.sequence = sequence
        self.subject = subject
        self.messageID = messageID
        self.payload = payload
    }
}

/// Reads a whole JetStream stream straight from the server's API (`$JS.API.STREAM.INFO` and
/// `$JS.API.STREAM.MSG.GET` with `next_by_subj`) over any ``Transport``: the independent source the
/// fault checkers compare replicas with. It shares nothing with the JetStream adapters.
public enum RawStreamReader {
    /// Every message of `stream` in sequence order.
    /// - Parameters:
    ///   - stream: The stream's name.
    ///   - transport: A connected transport.
    ///   - timeout: The deadline of each request.
    /// - Throws: `.streamNotFound` when the stream does not exist, `.protocolError` for an answer it
    ///   cannot read, what the transport throws.
    public static func read(_ stream: String, over transport: any Transport, timeout: Duration = .seconds(5))
        async throws -> [RawStreamMessage]
    {
        let info = try await api(transport, "$JS.API.STREAM.INFO.\(stream)", [:], timeout: timeout)
        let lastSequence = UInt64(info?["state"]?["last_seq"]?.doubleValue ?? 0)
        var messages: [RawStreamMessage] = []
        var next: UInt64 = 1
        while next <= lastSequence {
            let request: JSONValue = ["seq": .number(Double(next)), "next_by_subj": .string("\(stream).>")]
            guard let reply = try await api(transport, "$JS.API.STREAM.MSG.GET.\(stream)", request, timeout: timeout)
            else { break }
            guard let message = reply["message"], let sequence = message["seq"]?.doubleValue,
                let subject = message["subject"]?.stringValue
            else {
                throw EventbaseError(.protocolError, "RawStreamReader: a message reply without seq or subject.")
            }
            let payload = message["data"]?.stringValue.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } ?? []
            let headers = message["hdrs"]?.stringValue.flatMap { Data(base64Encoded: $0) }.map {
                String(decoding: $0, as: UTF8.self)
            }
            messages.append(
                RawStreamMessage(
                    sequence: UInt64(sequence), subject: subject, messageID: headers.flatMap(messageID(in:)),
                    payload: payload))
            next = UInt64(sequence) + 1
        }
        return messages
    }

    private static func messageID(in headers: String) -> String? {
        for line in headers.split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].trimmingCharacters(in: .whitespaces) == "Nats-Msg-Id" {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// One API request; a cluster that is still settling ("temporarily unavailable", 10008, or a
    /// timeout) is asked again, for up to 20 tries a quarter of a second apart.
    private static func api(_ transport: any Transport, _ subject: String, _ body: JSONValue, timeout: Duration)
        async throws -> JSONValue?
    {
        var attempt = 1
        while true {
            do {
                return try await apiOnce(transport, subject, body, timeout: timeout)
            } catch let error as EventbaseError where error.code == .unavailable || error.code == .timeout {
                guard attempt < 20 else { throw error }
                attempt += 1
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    private static func apiOnce(_ transport: any Transport, _ subject: String, _ body: JSONValue, timeout: Duration)
        async throws -> JSONValue?
    {
        let reply = try await transport.request(subject, payload: body.jsonBytes(), timeout: timeout)
        let json = try JSONValue(jsonBytes: reply.payload)
        if let error = json["error"], !error.isNull {
            let code = error["err_code"]?.intValue ?? 0
            let text = error["description"]?.stringValue ?? "?"
            if code == 10059 {
                throw EventbaseError(.streamNotFound, "RawStreamReader: \(text)")
            }
            if code == 10037 || error["code"]?.intValue == 404 { return nil }
            if code == 10008 || error["code"]?.intValue == 503 {
                throw EventbaseError(.unavailable, "RawStreamReader: \(text)")
            }
            throw EventbaseError(.protocolError, "RawStreamReader: \(subject) failed: \(text) (\(code))")
        }
        return json
    }
}

/// An independent fold of a raw eventbase v3 stream into documents: a put message stores its
/// payload's `data` with `"id"` set to the key, a delete message removes the key. It decodes
/// subjects and payloads itself (no ``EventCodec``, no ``Replica``), so it can judge them.
public struct IndependentFold: Sendable {
    /// The documents by key.
    public private(set) var documents: [String: JSONValue] = [:]
    /// Messages that are not eventbase events (skipped).
    public private(set) var skipped = 0

    /// Folds `messages` (in sequence order) of `stream`.
    public init(stream: String, messages: [RawStreamMessage]) {
        for message in messages {
            guard message.subject.hasPrefix(stream + ".") else {
                skipped += 1
                continue
            }
            let token = String(message.subject.dropFirst(stream.count + 1))
            let isPut = token.hasSuffix("-put")
            guard isPut || token.hasSuffix("-delete"),
                let keyBytes = Data(base64Encoded: String(token.dropLast(isPut ? 4 : 7))),
                let key = String(data: keyBytes, encoding: .utf8)
            else {
                skipped += 1
                continue
            }
            if isPut {
                guard let payload = try? JSONValue(jsonBytes: message.payload),
                    case .object(var data)? = payload["data"]
                else {
                    skipped += 1
                    continue
                }
                data["id"] = .string(key)
                documents[key] = .object(data)
            } else {
                documents[key] = nil
            }
        }
    }

    /// A hash of the documents that does not depend on key order.
    public var stateHash: Int { Self.hash(documents) }

    /// A hash of `documents` that does not depend on key order.
    public static func hash(_ documents: [String: JSONValue]) -> Int {
        var hasher = Hasher()
        for key in documents.keys.sorted() {
            hasher.combine(key)
            hasher.combine(documents[key])
        }
        return hasher.finalize()
    }
}
