public import EventbaseCore
import Foundation

/// Messages that are not valid events, as a hostile or buggy publisher could put them on a stream,
/// each with the ``InvalidEntryKind`` every replica must classify it as.
///
/// ```swift
/// for poison in PoisonMessage.all(stream: "orders") {
///     try server.publishRaw(stream: "orders", subject: poison.subject, payload: poison.payload,
///                           headers: poison.headers)
/// }
/// ```
public struct PoisonMessage: Sendable, CustomStringConvertible {
    /// A short name for test output.
    public let name: String
    /// The subject it is published on (always one the stream captures: `<stream>.<token>`).
    public let subject: String
    /// The raw payload bytes.
    public let payload: [UInt8]
    /// Headers to publish with it.
    public let headers: [(name: String, value: String)]
    /// How every replica must classify it.
    public let kind: InvalidEntryKind
    /// Text from the payload that must never appear in logs, stats or errors (empty when none).
    public let secret: String

    /// The name.
    public var description: String { name }

    /// One of each kind of poison, for `stream`: non-JSON, JSON of the wrong shape, an unknown type,
    /// a missing key, invalid UTF-8, a header-only message, an unexpected subject, a subject that
    /// contradicts its payload, and a 1 MiB payload nested too deep.
    public static func all(stream: String) -> [PoisonMessage] {
        let putA = "\(stream).\(Data("a".utf8).base64EncodedString())-put"
        func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
        return [
            PoisonMessage(
                name: "non-JSON", subject: putA, payload: bytes("not json: POISON-SECRET-1"), kind: .notJSON,
                secret: "POISON-SECRET-1"),
            PoisonMessage(
                name: "wrong shape", subject: putA, payload: bytes(#"["POISON-SECRET-2"]"#), kind: .wrongShape,
                secret: "POISON-SECRET-2"),
            PoisonMessage(
                name: "unknown type", subject: putA,
                payload: bytes(#"{"type":"PATCH","id":"a","data":{"s":"POISON-SECRET-3"},"timestamp":1}"#),
                kind: .unknownType, secret: "POISON-SECRET-3"),
            PoisonMessage(
                name: "missing key", subject: putA,
                payload: bytes(#"{"type":"PUT","data":{"s":"POISON-SECRET-4"},"timestamp":1}"#), kind: .missingKey,
                secret: "POISON-SECRET-4"),
            PoisonMessage(
                name: "invalid UTF-8", subject: putA,
                payload: bytes(#"{"type":"PUT","id":"a","data":{"s":""#) + [0xFF, 0xFE, 0xC0, 0x80] + bytes(#""}}"#),
                kind: .invalidUTF8, secret: ""),
            PoisonMessage(
                name: "header only", subject: putA, payload: [], headers: [("Poison", "POISON-SECRET-5")],
                kind: .emptyPayload, secret: "POISON-SECRET-5"),
            PoisonMessage(
                name: "unexpected subject", subject: "\(stream).not-an-event",
                payload: bytes(#"{"type":"PUT","id":"a","data":{"s":"POISON-SECRET-6"},"timestamp":1}"#),
                kind: .unexpectedSubject, secret: "POISON-SECRET-6"),
            PoisonMessage(
                name: "subject mismatch", subject: putA,
                payload: bytes(#"{"type":"PUT","id":"b","data":{"s":"POISON-SECRET-7"},"timestamp":1}"#),
                kind: .subjectMismatch, secret: "POISON-SECRET-7"),
            PoisonMessage(
                name: "1 MiB payload", subject: putA, payload: Array(repeating: UInt8(ascii: "["), count: 1 << 20),
                kind: .tooLarge, secret: ""),
        ]
    }

    /// Creates a poison message.
    public init(
        name: String, subject: String, payload: [UInt8], headers: [(name: String, value: String)] = [],
        kind: InvalidEntryKind, secret: String
    ) {
        self.name = name
        self.subject = subject
        self.payload = payload
        self.headers = headers
        self.kind = kind
        self.secret = secret
    }
}
