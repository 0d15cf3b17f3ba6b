package import EventbaseCore
package import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One operation a NATS client sends, with its encoding.
package enum NATSClientOp: Sendable, Hashable {
    /// `CONNECT {json}`. Indirect: sent once per connection, it would otherwise make every queued op as
    /// large as its many fields.
    indirect case connect(NATSConnectInfo)
    /// `PUB` (no headers) or `HPUB` (headers).
    case publish(subject: String, replyTo: String?, headers: MessageHeaders?, payload: [UInt8])
    /// `SUB <subject> [queue] <sid>`.
    case subscribe(subject: String, queue: String?, sid: UInt64)
    /// `UNSUB <sid> [max]`.
    case unsubscribe(sid: UInt64, max: Int?)
    /// `PING`.
    case ping
    /// `PONG`.
    case pong

    /// Appends the wire form to `buffer`.
    /// - Throws: `.invalidArgument` for headers that cannot be encoded; `.encodingFailed` for CONNECT.
    package func encode(into buffer: inout ByteBuffer) throws {
        switch self {
        case .connect(let info):
            let json: [UInt8]
            do {
                json = try NATSJSON.encode(info)
            } catch {
                throw EventbaseError(.encodingFailed, "Could not encode the NATS CONNECT options.", cause: error)
            }
            buffer.writeString("CONNECT ")
            buffer.writeBytes(json)
            buffer.writeString("\r\n")
        case .publish(let subject, let replyTo, let headers, let payload):
            // The hot path: no string interpolation, no intermediate buffers.
            if let headers {
                let block = try NATSHeaderCodec.encode(headers)
                buffer.writeStaticString("HPUB ")
                buffer.writeString(subject)
                buffer.writeInteger(UInt8(ascii: " "))
                if let replyTo {
                    buffer.writeString(replyTo)
                    buffer.writeInteger(UInt8(ascii: " "))
                }
                buffer.writeDecimal(block.count)
                buffer.writeInteger(UInt8(ascii: " "))
                buffer.writeDecimal(block.count + payload.count)
                buffer.writeStaticString("\r\n")
                buffer.writeBytes(block)
            } else {
                buffer.writeNATSPublish(subject: subject, replyTo: replyTo, payload: payload)
                return
            }
            buffer.writeBytes(payload)
            buffer.writeStaticString("\r\n")
        case .subscribe(let subject, let queue, let sid):
            if let queue {
                buffer.writeString("SUB \(subject) \(queue) \(sid)\r\n")
            } else {
                buffer.writeString("SUB \(subject) \(sid)\r\n")
            }
        case .unsubscribe(let sid, let max):
            if let max {
                buffer.writeString("UNSUB \(sid) \(max)\r\n")
            } else {
                buffer.writeString("UNSUB \(sid)\r\n")
            }
        case .ping:
            buffer.writeStaticString("PING\r\n")
        case .pong:
            buffer.writeStaticString("PONG\r\n")
        }
    }

    /// The wire form as a new buffer.
    package func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) throws -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64)
        try encode(into: &buffer)
        return buffer
    }
}

extension ByteBuffer {
    /// Appends `PUB <subject> [reply-to] <size>\r\n<payload>\r\n`, with one capacity check and plain copies:
    /// the publish hot path.
    mutating func writeNATSPublish(subject: String, replyTo: String?, payload: [UInt8]) {
        var subject = subject
        var reply = replyTo ?? ""
        let hasReply = replyTo != nil
        let size = payload.count
        var digits = 1
        var rest = size / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        subject.withUTF8 { subjectBytes in
            reply.withUTF8 { replyBytes in
                payload.withUnsafeBytes { payloadBytes in
                    let total =
                        4 + subjectBytes.count + 1 + (hasReply ? replyBytes.count + 1 : 0) + digits + 2 + size + 2
                    writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
                        var index = 0
                        func put(_ bytes: UnsafeRawBufferPointer) {
                            guard bytes.count > 0 else { return }
                            UnsafeMutableRawBufferPointer(rebasing: out[index..<(index + bytes.count)])
                                .copyMemory(from: bytes)
                            index += bytes.count
                        }
                        func put(_ byte: UInt8) {
                            out[index] = byte
                            index += 1
                        }
                        put(UInt8(ascii: "P"))
                        put(UInt8(ascii: "U"))
                        put(UInt8(ascii: "B"))
                        put(UInt8(ascii: " "))
                        put(UnsafeRawBufferPointer(subjectBytes))
                        put(UInt8(ascii: " "))
                        if hasReply {
                            put(UnsafeRawBufferPointer(replyBytes))
                            put(UInt8(ascii: " "))
                        }
                        var remaining = size
                        var position = index + digits
                        while position > index {
                            position -= 1
                            out[position] = UInt8(truncatingIfNeeded: remaining % 10) &+ UInt8(ascii: "0")
                            remaining /= 10
                        }
                        index += digits
                        put(UInt8(ascii: "\r"))
                        put(UInt8(ascii: "\n"))
                        put(payloadBytes)
                        put(UInt8(ascii: "\r"))
                        put(UInt8(ascii: "\n"))
                        return index
                    }
                }
            }
        }
    }

    /// Appends `HPUB <subject> [reply-to] <header size> <total size>\r\n<headers><payload>\r\n` with headers
    /// already encoded (by ``NATSHeaderCodec/encode(_:)``).
    mutating func writeNATSHeaderPublish(subject: String, replyTo: String?, headerBlock: [UInt8], payload: [UInt8]) {
        reserveCapacity(
            minimumWritableBytes: subject.utf8.count + (replyTo?.utf8.count ?? 0) + headerBlock.count + payload.count
                + 48)
        writeStaticString("HPUB ")
        writeString(subject)
        writeInteger(UInt8(ascii: " "))
        if let replyTo {
            writeString(replyTo)
            writeInteger(UInt8(ascii: " "))
        }
        writeDecimal(headerBlock.count)
        writeInteger(UInt8(ascii: " "))
        writeDecimal(headerBlock.count + payload.count)
        writeStaticString("\r\n")
        writeBytes(headerBlock)
        writeBytes(payload)
        writeStaticString("\r\n")
    }

    /// Appends a non-negative integer in decimal ASCII without going through a `String`.
    mutating func writeDecimal(_ value: Int) {
        precondition(value >= 0, "NATS sizes are never negative")
        if value < 10 {
            writeInteger(UInt8(truncatingIfNeeded: value) &+ UInt8(ascii: "0"))
            return
        }
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        var remaining = value
        writeWithUnsafeMutableBytes(minimumWritableBytes: digits) { pointer in
            var index = digits
            while index > 0 {
                index -= 1
                pointer[index] = UInt8(truncatingIfNeeded: remaining % 10) &+ UInt8(ascii: "0")
                remaining /= 10
            }
            return digits
        }
    }
}

/// The options a client sends in `CONNECT`.
package struct NATSConnectInfo: Sendable, Hashable, Codable {
    package var verbose = false
    package var pedantic = false
    package var tlsRequired = false
    package var name: String?
    package var lang = "swift"
    package var version = NATSConnectInfo.clientVersion
    package var protocolVersion = 1
    package var headers = true
    package var noResponders = true
    package var echo = true
    package var user: String?
    package var pass: String?
    package var authToken: String?
    package var nkey: String?
    package var sig: String?
    package var jwt: String?

    /// The version this client reports.
    package static let clientVersion = "0.1.0"

    package init(name: String? = nil) {
        self.name = name
    }

    enum CodingKeys: String, CodingKey {
        case verbose
        case pedantic
        case tlsRequired = "tls_required"
        case name
        case lang
        case version
        case protocolVersion = "protocol"
        case headers
        case noResponders = "no_responders"
        case echo
        case user
        case pass
        case authToken = "auth_token"
        case nkey
        case sig
        case jwt
    }
}

/// JSON for `INFO` and `CONNECT`.
enum NATSJSON {
    static func decode<T: Decodable>(_ type: T.Type, from bytes: ArraySlice<UInt8>) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes))
    }

    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }
}

/// Checks subjects and queue names before they are put on the wire.
enum NATSValidation {
    static func isValidSubject(_ subject: String) -> Bool {
        // One pass over the bytes: this runs on every publish.
        var subject = subject
        return subject.withUTF8 { bytes in
            guard let last = bytes.last else { return false }
            var previous = UInt8(ascii: ".")
            for byte in bytes {
                switch byte {
                case 32, 9, 13, 10, 0:
                    return false
                case UInt8(ascii: "."):
                    if previous == UInt8(ascii: ".") { return false }  // a leading dot or an empty token
                default:
                    break
                }
                previous = byte
            }
            return last != UInt8(ascii: ".")
        }
    }

    static func subject(_ subject: String, what: String = "subject") throws {
        guard isValidSubject(subject) else {
            throw EventbaseError(
                .invalidArgument,
                "The \(what) '\(subject.prefix(64))' is not a valid NATS subject: it must be non-empty tokens separated by '.', without spaces or line breaks."
            )
        }
    }
}
