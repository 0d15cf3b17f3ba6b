public import Foundation

/// The wire format of events, compatible with eventbase v3 streams.
///
/// - Subject: `<stream>.<base64(key)>-put` or `-delete`; base64 is the standard alphabet with
///   padding over the key's UTF-8 bytes, so `"a"` gives `YQ==-put`.
/// - Payload: compact JSON, fields in the order `type`, `id`, `data`, `timestamp`.
/// - Headers (optional, ignored by eventbase v3): ``changesHeader`` and ``createdHeader`` carry the
///   meta the writer assigned; ``expectationHeader`` the condition of a conditional put;
///   `Nats-Msg-Id` carries ``Event/eventID``.
public enum EventCodec {
    /// The header carrying ``Event/changes``.
    public static let changesHeader = "Eventbase-Changes"
    /// The header carrying ``Event/dateCreated`` (milliseconds since 1970).
    public static let createdHeader = "Eventbase-Created"
    /// The header carrying ``Event/expectation``: a revision in decimal, or `absent`.
    public static let expectationHeader = "Eventbase-Expected-Revision"
    /// The NATS de-duplication header carrying ``Event/eventID``.
    public static let messageIDHeader = "Nats-Msg-Id"

    /// The subject token for a key and kind: `base64(key)-put` or `base64(key)-delete`.
    public static func subjectToken(key: String, kind: Event.Kind) -> String {
        Data(key.utf8).base64EncodedString() + suffix(kind)
    }

    /// The full subject: `<stream>.<base64(key)>-put` or `-delete`.
    public static func subject(stream: String, key: String, kind: Event.Kind) -> String {
        stream + "." + subjectToken(key: key, kind: kind)
    }

    /// The subject filter that matches every event of `stream`: `<stream>.*`.
    public static func wildcardSubject(stream: String) -> String {
        stream + ".*"
    }

    private static func suffix(_ kind: Event.Kind) -> String {
        switch kind {
        case .put: "-put"
        case .delete: "-delete"
        }
    }

    /// Reads the key and kind back from a subject of `stream`, or `nil` if it is not an event subject.
    public static func parseSubject(_ subject: String, stream: String) -> (key: String, kind: Event.Kind)? {
        guard subject.hasPrefix(stream), subject.utf8.count > stream.utf8.count + 1 else { return nil }
        let token = subject.utf8.dropFirst(stream.utf8.count)
        guard token.first == UInt8(ascii: ".") else { return nil }
        let name = String(decoding: token.dropFirst(), as: UTF8.self)
        let kind: Event.Kind
        let encoded: Substring
        if name.hasSuffix("-put") {
            kind = .put
            encoded = name.dropLast(4)
        } else if name.hasSuffix("-delete") {
            kind = .delete
            encoded = name.dropLast(7)
        } else {
            return nil
        }
        guard let bytes = Data(base64Encoded: String(encoded)), let key = String(validating: bytes, as: UTF8.self)
        else { return nil }
        return (key, kind)
    }

    /// Whether `subject` is byte for byte `subject(stream:key:kind:)`, checked without allocating: the
    /// fast path of ``decode(subject:stream:payload:header:limits:)`` (any other spelling that
    /// ``parseSubject(_:stream:)`` accepts is checked there).
    static func subject(_ subject: String, isExactly stream: String, key: String, kind: Event.Kind) -> Bool {
        var (subject, stream, key) = (subject, stream, key)
        return subject.withUTF8 { subject in
            stream.withUTF8 { stream in
                key.withUTF8 { key in
                    let suffix: StaticString = kind == .put ? "-put" : "-delete"
                    let encodedCount = (key.count + 2) / 3 * 4
                    guard subject.count == stream.count + 1 + encodedCount + suffix.utf8CodeUnitCount,
                        subject.starts(with: stream), subject[stream.count] == UInt8(ascii: ".")
                    else { return false }
                    var position = stream.count + 1
                    var index = 0
                    while index < key.count {
                        let remaining = key.count - index
                        let first = key[index]
                        let second = remaining > 1 ? key[index + 1] : 0
                        let third = remaining > 2 ? key[index + 2] : 0
                        let chunk = UInt32(first) << 16 | UInt32(second) << 8 | UInt32(third)
                        for offset in 0..<4 {
                            let expected: UInt8 =
                                offset <= remaining
                                ? base64Alphabet[Int(chunk >> (18 - 6 * UInt32(offset)) & 63)] : UInt8(ascii: "=")
                            guard subject[position] == expected else { return false }
                            position += 1
                        }
                        index += 3
                    }
                    let tail = UnsafeBufferPointer(start: suffix.utf8Start, count: suffix.utf8CodeUnitCount)
                    return UnsafeBufferPointer(rebasing: subject[position...]).elementsEqual(tail)
                }
            }
        }
    }

    private static let base64Alphabet: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// The payload of an event as compact JSON bytes, byte-for-byte what eventbase v3 writes.
    public static func encodePayload(_ event: Event) -> [UInt8] {
        var object = JSONObject()
        object["type"] = .string(event.kind.rawValue)
        object["id"] = .string(event.key)
        if event.kind == .put {
            object["data"] = event.data ?? .object([:])
        }
        object["timestamp"] = .number(Double(event.timestamp))
        for (name, value) in event.extraFields where object[name] == nil {
            object[name] = value
        }
        return JSONValue.object(object).jsonBytes()
    }

    /// The headers an event carries beside its payload (may be empty).
    public static func headers(for event: Event) -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        if let eventID = event.eventID { fields.append((messageIDHeader, eventID)) }
        if let changes = event.changes { fields.append((changesHeader, String(changes))) }
        if let created = event.dateCreated { fields.append((createdHeader, String(created))) }
        switch event.expectation {
        case .revision(let revision)?: fields.append((expectationHeader, String(revision)))
        case .absent?: fields.append((expectationHeader, "absent"))
        case nil: break
        }
        return fields
    }

    /// Decodes an event from its subject, payload and headers.
    ///
    /// Unknown payload fields are kept in ``Event/extraFields``; unknown headers are ignored.
    /// - Parameters:
    ///   - subject: The subject it was published on; its key must match the payload's `id`. Pass `nil` to skip that check.
    ///   - stream: The stream name, to parse `subject`.
    ///   - payload: The JSON payload.
    ///   - header: Looks up a header value by name.
    ///   - limits: Limits on the JSON's size and depth.
    /// - Throws: `.invalidJSON` when the payload is not a valid event; `.limitExceeded` past `limits`.
    public static func decode(
        subject: String?,
        stream: String,
        payload: [UInt8],
        header: (String) -> String? = { _ in nil },
        limits: JSONLimits = .default
    ) throws -> Event {
        switch classify(subject: subject, stream: stream, payload: payload, header: header, limits: limits) {
        case .success(let event):
            return event
        case .failure(let failure):
            throw failure.error
        }
    }

    /// Decodes a message read from the log into an entry: a well-formed event, or an `.invalid`
    /// entry that says why not (the same on every replica; the reason never quotes the payload).
    /// - Parameters:
    ///   - sequence: The log's sequence for the message.
    ///   - time: The log's time for the message.
    ///   - subject: The subject it was published on.
    ///   - stream: The stream name.
    ///   - payload: The payload bytes.
    ///   - header: Looks up a header value by name.
    ///   - limits: Limits on the JSON's size and depth.
    /// - Returns: The entry.
    public static func entry(
        sequence: UInt64,
        time: Date,
        subject: String,
        stream: String,
        payload: [UInt8],
        header: (String) -> String? = { _ in nil },
        limits: JSONLimits = .default
    ) -> LogEntry {
        switch classify(subject: subject, stream: stream, payload: payload, header: header, limits: limits) {
        case .success(let event):
            return LogEntry(sequence: sequence, time: time, event: event)
        case .failure(let failure):
            return LogEntry(
                sequence: sequence, time: time,
                payload: .invalid(subject: subject, reason: failure.error.message, kind: failure.kind))
        }
    }

    /// Why a payload is not an event: the error to throw and its kind.
    struct DecodeFailure: Error {
        let kind: InvalidEntryKind
        let error: EventbaseError

        init(_ kind: InvalidEntryKind, _ message: String, code: EventbaseError.Code = .invalidJSON) {
            self.kind = kind
            self.error = EventbaseError(code, message)
        }
    }

    private static func classify(
        subject: String?,
        stream: String,
        payload: [UInt8],
        header: (String) -> String?,
        limits: JSONLimits
    ) -> Result<Event, DecodeFailure> {
        // A payload that fails is reported as a foreign subject first, when its subject is not an event
        // subject of the stream; the subject of a well-formed event is compared byte for byte, without
        // decoding it, and only parsed when that comparison fails.
        func fail(_ failure: DecodeFailure) -> Result<Event, DecodeFailure> {
            if let subject, parseSubject(subject, stream: stream) == nil {
                return .failure(
                    DecodeFailure(.unexpectedSubject, "The subject is not an event subject of stream \(stream)."))
            }
            return .failure(failure)
        }
        func withHeaders(_ event: Event) -> Event {
            var event = event
            event.eventID = header(messageIDHeader)
            if let text = header(changesHeader), let changes = Int(text), changes > 0 {
                event.changes = changes
            }
            if let text = header(createdHeader), let created = Int64(text) {
                event.dateCreated = created
            }
            // Only puts are checked as they are applied; a value that is neither leaves the event
            // unconditional, on every replica alike.
            if event.kind == .put, let text = header(expectationHeader) {
                if text == "absent" {
                    event.expectation = .absent
                } else if let revision = UInt64(text), revision > 0 {
                    event.expectation = .revision(revision)
                }
            }
            return event
        }
        // The fast path: an envelope of the known fields, its document packed without a tree.
        if let fields = payload.withUnsafeBytes({ JSONValue.packedEvent(buffer: $0, limits: limits) }) {
            if let subject, !Self.subject(subject, isExactly: stream, key: fields.key, kind: fields.kind) {
                guard let parsed = parseSubject(subject, stream: stream) else {
                    return fail(DecodeFailure(.unexpectedSubject, ""))
                }
                guard parsed.key == fields.key, parsed.kind == fields.kind else {
                    return .failure(
                        DecodeFailure(.subjectMismatch, "The subject does not match the payload's type and id."))
                }
            }
            return .success(
                withHeaders(
                    Event(kind: fields.kind, key: fields.key, packedData: fields.data, timestamp: fields.timestamp)))
        }
        let value: JSONValue
        do {
            value = try JSONValue(jsonBytes: payload, limits: limits)
        } catch let error as EventbaseError {
            if error.code == .limitExceeded {
                return fail(DecodeFailure(.tooLarge, error.message, code: .limitExceeded))
            }
            if payload.isEmpty {
                return fail(DecodeFailure(.emptyPayload, "The event payload is empty."))
            }
            if String(validating: payload, as: UTF8.self) == nil {
                return fail(DecodeFailure(.invalidUTF8, "The event payload is not valid UTF-8."))
            }
            return fail(DecodeFailure(.notJSON, error.message))
        } catch {
            return fail(DecodeFailure(.notJSON, "The event payload is not JSON: \(error)"))
        }
        guard case .object = value else {
            return fail(
                DecodeFailure(.wrongShape, "An event payload must be a JSON object, found \(value.typeName)."))
        }
        // Consumed, and its members read in one pass: the event's four fields picked out, any other
        // kept in order as extra fields.
        guard case .object(let object) = consume value else { preconditionFailure("checked above") }
        var typeValue: JSONValue?
        var keyValue: JSONValue?
        var data: JSONValue?
        var timestampValue: JSONValue?
        var extra: [(key: String, value: JSONValue)] = []
        for (name, member) in object.entries {
            switch name {
            case "type": typeValue = member
            case "id": keyValue = member
            case "data": data = member
            case "timestamp": timestampValue = member
            default: extra.append((name, member))
            }
        }
        guard let typeName = typeValue?.stringValue, let kind = Event.Kind(rawValue: typeName) else {
            return fail(DecodeFailure(.unknownType, "An event payload needs \"type\": \"PUT\" or \"DELETE\"."))
        }
        guard let key = keyValue?.stringValue else {
            return fail(DecodeFailure(.missingKey, "An event payload needs a string \"id\" (the key)."))
        }
        if let subject, !Self.subject(subject, isExactly: stream, key: key, kind: kind) {
            guard let parsed = parseSubject(subject, stream: stream) else {
                return fail(DecodeFailure(.unexpectedSubject, ""))
            }
            guard parsed.key == key, parsed.kind == kind else {
                return .failure(
                    DecodeFailure(.subjectMismatch, "The subject does not match the payload's type and id."))
            }
        }
        if kind == .put, data == nil {
            return .failure(DecodeFailure(.wrongShape, "A PUT event payload needs \"data\"."))
        }
        let timestamp: Int64
        switch timestampValue {
        case .number(let number)? where number.isFinite && abs(number) < 9e15:
            timestamp = Int64(number.rounded(.down))
        case nil, .null?:
            timestamp = 0
        default:
            return .failure(
                DecodeFailure(.wrongShape, "An event's \"timestamp\" must be milliseconds since 1970."))
        }
        var event = Event(kind: kind, key: key, data: kind == .put ? data : nil, timestamp: timestamp)
        if !extra.isEmpty { event.extraFields = JSONObject(uniqueEntries: extra) }
        return .success(withHeaders(event))
    }
}
