package import EventbaseCore
package import NIOCore

/// Decodes the bytes a NATS server sends into ``NATSServerOp``s.
///
/// A pure state machine over bytes: no I/O. It never consumes a partial frame, so frames split at any
/// byte boundary decode the same as whole ones. It bounds what it buffers: a control line longer than
/// ``maxControlLineLength`` or a message larger than ``maxPayload`` (learned from `INFO`) is a
/// `.protocolError`, as is anything malformed.
package struct NATSDecoder: NIOSingleStepByteToMessageDecoder {
    package typealias InboundOut = NATSServerOp

    /// The longest control line accepted, without its `\r\n`.
    package var maxControlLineLength: Int
    /// The largest message (headers and payload) accepted.
    package var maxPayload: Int

    /// Creates a decoder.
    /// - Parameters:
    ///   - maxControlLineLength: The longest control line accepted (default 64 KiB, room for large `INFO`s).
    ///   - maxPayload: The largest message accepted until an `INFO` says otherwise (default 64 MiB,
    ///     the most a server can be configured with).
    package init(maxControlLineLength: Int = 64 * 1024, maxPayload: Int = 64 * 1024 * 1024) {
        self.maxControlLineLength = maxControlLineLength
        self.maxPayload = maxPayload
    }

    package mutating func decode(buffer: inout ByteBuffer) throws -> NATSServerOp? {
        let start = buffer.readerIndex
        let readable = buffer.readableBytes
        let searchLength = min(readable, maxControlLineLength + 2)
        guard
            let newline = buffer.withUnsafeReadableBytes({ bytes in
                bytes[0..<searchLength].firstIndex(of: UInt8(ascii: "\n"))
            })
        else {
            if readable > maxControlLineLength + 1 {
                throw Self.error("a control line is longer than \(maxControlLineLength) bytes")
            }
            return nil
        }
        var lineEnd = newline
        if lineEnd > 0, buffer.getInteger(at: start + lineEnd - 1, as: UInt8.self) == UInt8(ascii: "\r") {
            lineEnd -= 1
        }
        let line = buffer.getBytes(at: start, length: lineEnd) ?? []
        let afterLine = newline + 1
        let (verb, rest) = Self.splitVerb(line)
        switch verb {
        case "MSG":
            let args = Self.fields(rest)
            guard args.count == 3 || args.count == 4, let size = Self.integer(args[args.count - 1]) else {
                throw Self.error("malformed MSG line")
            }
            guard let sid = Self.uint(args[1]) else { throw Self.error("malformed MSG subscription id") }
            guard let body = try takeBody(&buffer, start: start, afterLine: afterLine, size: size) else { return nil }
            return .message(
                NATSInboundMessage(
                    subject: String(decoding: args[0], as: UTF8.self),
                    sid: sid,
                    replyTo: args.count == 4 ? String(decoding: args[2], as: UTF8.self) : nil,
                    payload: body
                )
            )
        case "HMSG":
            let args = Self.fields(rest)
            guard args.count == 4 || args.count == 5,
                let headerSize = Self.integer(args[args.count - 2]),
                let size = Self.integer(args[args.count - 1])
            else {
                throw Self.error("malformed HMSG line")
            }
            guard headerSize <= size else { throw Self.error("HMSG header size is larger than its total size") }
            guard let sid = Self.uint(args[1]) else { throw Self.error("malformed HMSG subscription id") }
            guard let body = try takeBody(&buffer, start: start, afterLine: afterLine, size: size) else { return nil }
            let headers = try NATSHeaderCodec.decode(body[0..<headerSize])
            return .message(
                NATSInboundMessage(
                    subject: String(decoding: args[0], as: UTF8.self),
                    sid: sid,
                    replyTo: args.count == 5 ? String(decoding: args[2], as: UTF8.self) : nil,
                    headers: headers,
                    payload: Array(body[headerSize...])
                )
            )
        case "PING":
            buffer.moveReaderIndex(forwardBy: afterLine)
            return .ping
        case "PONG":
            buffer.moveReaderIndex(forwardBy: afterLine)
            return .pong
        case "+OK":
            buffer.moveReaderIndex(forwardBy: afterLine)
            return .ok
        case "-ERR":
            buffer.moveReaderIndex(forwardBy: afterLine)
            var text = String(decoding: rest, as: UTF8.self).trimmingSpaces()
            if text.count >= 2, text.hasPrefix("'"), text.hasSuffix("'") {
                text = String(text.dropFirst().dropLast())
            }
            return .error(text)
        case "INFO":
            let info: NATSServerInfo
            do {
                info = try NATSJSON.decode(NATSServerInfo.self, from: rest)
            } catch {
                throw EventbaseError(.protocolError, "The server sent an INFO that is not valid JSON.", cause: error)
            }
            buffer.moveReaderIndex(forwardBy: afterLine)
            if let max = info.maxPayload, max > 0 {
                // Room for headers the server adds (JetStream metadata) on top of the client limit.
                maxPayload = max + 64 * 1024
            }
            return .info(info)
        default:
            throw Self.error("unknown operation '\(String(decoding: verb.utf8.prefix(16), as: UTF8.self))'")
        }
    }

    package mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> NATSServerOp? {
        try decode(buffer: &buffer)
    }

    /// Returns the `size` body bytes after the control line and consumes the frame, or `nil` (consuming
    /// nothing) when they have not all arrived.
    private func takeBody(_ buffer: inout ByteBuffer, start: Int, afterLine: Int, size: Int) throws -> [UInt8]? {
        guard size <= maxPayload else {
            throw Self.error("a message of \(size) bytes is larger than the maximum of \(maxPayload)")
        }
        guard buffer.readableBytes >= afterLine + size + 2 else { return nil }
        guard buffer.getInteger(at: start + afterLine + size, as: UInt8.self) == UInt8(ascii: "\r"),
            buffer.getInteger(at: start + afterLine + size + 1, as: UInt8.self) == UInt8(ascii: "\n")
        else {
            throw Self.error("a message payload is not followed by CRLF")
        }
        let body = buffer.getBytes(at: start + afterLine, length: size) ?? []
        buffer.moveReaderIndex(forwardBy: afterLine + size + 2)
        return body
    }

    private static func splitVerb(_ line: [UInt8]) -> (String, ArraySlice<UInt8>) {
        let end = line.firstIndex { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") } ?? line.endIndex
        let verb = String(decoding: line[..<end], as: UTF8.self).uppercased()
        return (verb, line[end...])
    }

    private static func fields(_ bytes: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        bytes.split { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
    }

    private static func integer(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func uint(_ bytes: ArraySlice<UInt8>) -> UInt64? {
        integer(bytes).map { UInt64($0) }
    }

    static func error(_ what: String) -> EventbaseError {
        EventbaseError(
            .protocolError, "The NATS server sent invalid data: \(what). Check that the URL points at a NATS server.")
    }
}

/// Encodes and decodes the `NATS/1.0` header block of `HPUB` and `HMSG`.
package enum NATSHeaderCodec {
    /// Decodes a header block (`NATS/1.0[ code[ description]]\r\n(name: value\r\n)*\r\n`).
    /// - Throws: `.protocolError` when it is malformed.
    package static func decode(_ bytes: ArraySlice<UInt8>) throws -> MessageHeaders {
        var lines = [ArraySlice<UInt8>]()
        var lineStart = bytes.startIndex
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bytes[index] == UInt8(ascii: "\n") {
                var end = index
                if end > lineStart, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                lines.append(bytes[lineStart..<end])
                lineStart = index + 1
            }
            index += 1
        }
        if lineStart < bytes.endIndex { lines.append(bytes[lineStart...]) }
        guard let first = lines.first else { throw NATSDecoder.error("an empty header block") }
        let version = Array("NATS/1.0".utf8)
        guard first.starts(with: version) else { throw NATSDecoder.error("a header block without NATS/1.0") }
        var headers = MessageHeaders(fields: [])
        let statusText = String(decoding: first.dropFirst(version.count), as: UTF8.self).trimmingSpaces()
        if !statusText.isEmpty {
            let parts = statusText.split(separator: " ", maxSplits: 1)
            guard let code = Int(parts[0]) else { throw NATSDecoder.error("a malformed header status line") }
            headers.status = code
            if parts.count > 1 { headers.statusDescription = String(parts[1]).trimmingSpaces() }
        }
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                throw NATSDecoder.error("a header line without ':'")
            }
            let name = String(decoding: line[..<colon], as: UTF8.self).trimmingSpaces()
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingSpaces()
            guard !name.isEmpty else { throw NATSDecoder.error("a header with an empty name") }
            headers.append(value, for: name)
        }
        return headers
    }

    /// Encodes headers as a `NATS/1.0` block.
    /// - Throws: `.invalidArgument` for a name or value that contains CR or LF, or a name with ':'.
    package static func encode(_ headers: MessageHeaders) throws -> [UInt8] {
        var out = Array("NATS/1.0".utf8)
        if let status = headers.status {
            out += Array(" \(status)".utf8)
            if let description = headers.statusDescription { out += Array(" \(description)".utf8) }
        }
        out += [13, 10]
        for (name, value) in headers.fields {
            guard !name.isEmpty, !name.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 58 || $0 == 32 }),
                !value.utf8.contains(where: { $0 == 13 || $0 == 10 })
            else {
                throw EventbaseError(
                    .invalidArgument,
                    "A header name must be non-empty without spaces, ':' or line breaks, and a value without line breaks."
                )
            }
            out += Array(name.utf8)
            out += [58, 32]
            out += Array(value.utf8)
            out += [13, 10]
        }
        out += [13, 10]
        return out
    }
}

extension String {
    func trimmingSpaces() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}
