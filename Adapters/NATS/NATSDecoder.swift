package import EventbaseCore
package import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Decodes the bytes a NATS server sends into ``NATSServerOp``s.
///
/// A pure state machine over bytes: no I/O. It never consumes a partial frame, so frames split at any
/// byte boundary decode the same as whole ones. It bounds what it buffers: a control line longer than
/// ``maxControlLineLength`` or a message larger than ``maxPayload`` (learned from `INFO`) is a
/// `.protocolError`, as is anything malformed.
///
/// Messages are parsed in place in the read buffer: the only allocations per message are its subject,
/// reply subject and payload (and the header values that do not fit in a small string).
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

    /// One decoded frame and how many bytes it took, or `nil` when it has not all arrived.
    private typealias Frame = (op: NATSServerOp, length: Int)

    package mutating func decode(buffer: inout ByteBuffer) throws -> NATSServerOp? {
        let (maxLine, maxPayload) = (maxControlLineLength, self.maxPayload)
        guard
            let frame = try buffer.withUnsafeReadableBytes({
                try Self.frame($0, maxControlLineLength: maxLine, maxPayload: maxPayload)
            })
        else { return nil }
        buffer.moveReaderIndex(forwardBy: frame.length)
        if case .info(let info) = frame.op, let max = info.maxPayload, max > 0 {
            // Room for headers the server adds (JetStream metadata) on top of the client limit.
            self.maxPayload = max + 64 * 1024
        }
        return frame.op
    }

    package mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> NATSServerOp? {
        try decode(buffer: &buffer)
    }

    private static func frame(_ bytes: UnsafeRawBufferPointer, maxControlLineLength: Int, maxPayload: Int) throws
        -> Frame?
    {
        let readable = bytes.count
        let searchLength = min(readable, maxControlLineLength + 2)
        // memchr: the control line (with a JetStream reply subject, ~100 bytes) is searched by words.
        guard let base = bytes.baseAddress, searchLength > 0,
            let found = memchr(base, Int32(UInt8(ascii: "\n")), searchLength)
        else {
            if readable > maxControlLineLength + 1 {
                throw error("a control line is longer than \(maxControlLineLength) bytes")
            }
            return nil
        }
        let newline = base.distance(to: UnsafeRawPointer(found))
        var lineEnd = newline
        if lineEnd > 0, bytes[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
        let afterLine = newline + 1
        var verbEnd = 0
        while verbEnd < lineEnd, !isSpace(bytes[verbEnd]) { verbEnd += 1 }
        let verb = UnsafeRawBufferPointer(rebasing: bytes[0..<verbEnd])
        var cursor = verbEnd
        if isVerb(verb, "MSG") {
            let subject = token(bytes, &cursor, end: lineEnd)
            let sidToken = token(bytes, &cursor, end: lineEnd)
            let third = token(bytes, &cursor, end: lineEnd)
            let fourth = token(bytes, &cursor, end: lineEnd)
            let extra = token(bytes, &cursor, end: lineEnd)
            guard let subject, let sidToken, let third, extra == nil,
                let size = integer(bytes, fourth ?? third)
            else {
                throw error("malformed MSG line")
            }
            guard let sid = integer(bytes, sidToken) else { throw error("malformed MSG subscription id") }
            guard let body = try body(bytes, afterLine: afterLine, size: size, maxPayload: maxPayload) else {
                return nil
            }
            let message = NATSInboundMessage(
                subject: string(bytes, subject),
                sid: UInt64(sid),
                replyTo: fourth == nil ? nil : string(bytes, third),
                payload: Array(UnsafeRawBufferPointer(rebasing: bytes[body]))
            )
            return (.message(message), body.upperBound + 2)
        }
        if isVerb(verb, "HMSG") {
            let subject = token(bytes, &cursor, end: lineEnd)
            let sidToken = token(bytes, &cursor, end: lineEnd)
            let third = token(bytes, &cursor, end: lineEnd)
            let fourth = token(bytes, &cursor, end: lineEnd)
            let fifth = token(bytes, &cursor, end: lineEnd)
            let extra = token(bytes, &cursor, end: lineEnd)
            guard let subject, let sidToken, let third, let fourth, extra == nil,
                let headerSize = integer(bytes, fifth == nil ? third : fourth),
                let size = integer(bytes, fifth ?? fourth)
            else {
                throw error("malformed HMSG line")
            }
            guard headerSize <= size else { throw error("HMSG header size is larger than its total size") }
            guard let sid = integer(bytes, sidToken) else { throw error("malformed HMSG subscription id") }
            guard let body = try body(bytes, afterLine: afterLine, size: size, maxPayload: maxPayload) else {
                return nil
            }
            let split = body.lowerBound + headerSize
            let headers = try NATSHeaderCodec.decode(UnsafeRawBufferPointer(rebasing: bytes[body.lowerBound..<split]))
            let message = NATSInboundMessage(
                subject: string(bytes, subject),
                sid: UInt64(sid),
                replyTo: fifth == nil ? nil : string(bytes, third),
                headers: headers,
                payload: Array(UnsafeRawBufferPointer(rebasing: bytes[split..<body.upperBound]))
            )
            return (.message(message), body.upperBound + 2)
        }
        if isVerb(verb, "PING") { return (.ping, afterLine) }
        if isVerb(verb, "PONG") { return (.pong, afterLine) }
        if isVerb(verb, "+OK") { return (.ok, afterLine) }
        let rest = Array(UnsafeRawBufferPointer(rebasing: bytes[verbEnd..<lineEnd]))
        if isVerb(verb, "-ERR") {
            var text = String(decoding: rest, as: UTF8.self).trimmingSpaces()
            if text.count >= 2, text.hasPrefix("'"), text.hasSuffix("'") {
                text = String(text.dropFirst().dropLast())
            }
            return (.error(text), afterLine)
        }
        if isVerb(verb, "INFO") {
            let info: NATSServerInfo
            do {
                info = try NATSJSON.decode(NATSServerInfo.self, from: rest[...])
            } catch {
                throw EventbaseError(.protocolError, "The server sent an INFO that is not valid JSON.", cause: error)
            }
            return (.info(info), afterLine)
        }
        let shown = String(decoding: verb.prefix(16), as: UTF8.self).uppercased()
        throw error("unknown operation '\(String(decoding: shown.utf8.prefix(16), as: UTF8.self))'")
    }

    /// The range of the `size` body bytes after the control line, or `nil` when they have not all arrived.
    private static func body(_ bytes: UnsafeRawBufferPointer, afterLine: Int, size: Int, maxPayload: Int) throws
        -> Range<Int>?
    {
        guard size <= maxPayload else {
            throw error("a message of \(size) bytes is larger than the maximum of \(maxPayload)")
        }
        guard bytes.count >= afterLine + size + 2 else { return nil }
        guard bytes[afterLine + size] == UInt8(ascii: "\r"), bytes[afterLine + size + 1] == UInt8(ascii: "\n") else {
            throw error("a message payload is not followed by CRLF")
        }
        return afterLine..<(afterLine + size)
    }

    @inline(__always)
    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    /// Whether `verb` is `name` (upper case ASCII), ignoring case.
    @inline(__always)
    private static func isVerb(_ verb: UnsafeRawBufferPointer, _ name: StaticString) -> Bool {
        guard verb.count == name.utf8CodeUnitCount else { return false }
        let expected = name.utf8Start
        for index in 0..<verb.count {
            var byte = verb[index]
            if byte >= UInt8(ascii: "a"), byte <= UInt8(ascii: "z") { byte -= 32 }
            if byte != expected[index] { return false }
        }
        return true
    }

    /// The next space-separated token of the control line, moving `cursor` past it.
    @inline(__always)
    private static func token(_ bytes: UnsafeRawBufferPointer, _ cursor: inout Int, end: Int) -> Range<Int>? {
        var start = cursor
        while start < end, isSpace(bytes[start]) { start += 1 }
        guard start < end else {
            cursor = end
            return nil
        }
        var stop = start
        while stop < end, !isSpace(bytes[stop]) { stop += 1 }
        cursor = stop
        return start..<stop
    }

    private static func string(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    private static func integer(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.count <= 18 else { return nil }
        var value = 0
        for index in range {
            let byte = bytes[index]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
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
        try bytes.withUnsafeBytes { try decode($0) }
    }

    /// Decodes a header block in place (see ``decode(_:)-(ArraySlice<UInt8>)``).
    /// - Throws: `.protocolError` when it is malformed.
    package static func decode(_ bytes: UnsafeRawBufferPointer) throws -> MessageHeaders {
        var headers = MessageHeaders()
        var lineStart = 0
        var isFirst = true
        var index = 0
        let count = bytes.count
        while lineStart < count {
            index = lineStart
            while index < count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
            var end = index
            if index < count, end > lineStart, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<end])
            if isFirst {
                isFirst = false
                try statusLine(line, into: &headers)
            } else if !line.isEmpty {
                guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                    throw NATSDecoder.error("a header line without ':'")
                }
                let name = trimmed(UnsafeRawBufferPointer(rebasing: line[..<colon]))
                guard !name.isEmpty else { throw NATSDecoder.error("a header with an empty name") }
                let value = trimmed(UnsafeRawBufferPointer(rebasing: line[(colon + 1)...]))
                headers.append(String(decoding: value, as: UTF8.self), for: knownName(name))
            }
            lineStart = index + 1
        }
        if isFirst { throw NATSDecoder.error("an empty header block") }
        return headers
    }

    private static func statusLine(_ line: UnsafeRawBufferPointer, into headers: inout MessageHeaders) throws {
        let version = "NATS/1.0".utf8
        guard line.starts(with: version) else { throw NATSDecoder.error("a header block without NATS/1.0") }
        let status = trimmed(UnsafeRawBufferPointer(rebasing: line[version.count...]))
        guard !status.isEmpty else { return }
        let space = status.firstIndex(of: UInt8(ascii: " ")) ?? status.endIndex
        guard let code = Int(String(decoding: UnsafeRawBufferPointer(rebasing: status[..<space]), as: UTF8.self))
        else {
            throw NATSDecoder.error("a malformed header status line")
        }
        headers.status = code
        if space < status.endIndex {
            let description = trimmed(UnsafeRawBufferPointer(rebasing: status[(space + 1)...]))
            headers.statusDescription = String(decoding: description, as: UTF8.self)
        }
    }

    /// `bytes` without leading and trailing spaces and tabs.
    private static func trimmed(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0
        var end = bytes.count
        while start < end, bytes[start] == UInt8(ascii: " ") || bytes[start] == UInt8(ascii: "\t") { start += 1 }
        while end > start, bytes[end - 1] == UInt8(ascii: " ") || bytes[end - 1] == UInt8(ascii: "\t") { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }

    /// Header names longer than a small string that JetStream and Eventbase send on every message, shared
    /// instead of allocated for each one.
    private static let longNames = [
        EventCodec.changesHeader, EventCodec.createdHeader, "Nats-Last-Consumer", "Nats-Last-Stream",
        "Nats-Consumer-Stalled", "Nats-Time-Stamp", "Nats-Num-Pending", "Nats-Last-Sequence",
        "Nats-Expected-Last-Subject-Sequence",
    ]

    private static func knownName(_ bytes: UnsafeRawBufferPointer) -> String {
        if bytes.count > 15 {
            for name in longNames where name.utf8.count == bytes.count && name.utf8.elementsEqual(bytes) {
                return name
            }
        }
        return String(decoding: bytes, as: UTF8.self)
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
