/// Limits applied while parsing JSON, so untrusted input cannot exhaust memory or time.
///
/// Exceeding a limit throws ``EventbaseError`` with code ``EventbaseError/Code/limitExceeded``.
///
/// ```swift
/// let strict = JSONLimits(maxDepth: 16, maxBytes: 64 * 1024)
/// let value = try JSONValue(jsonString: text, limits: strict)
/// ```
public struct JSONLimits: Sendable, Hashable {
    /// The deepest nesting of arrays and objects accepted. `[]` has depth 1; a scalar has depth 0.
    public var maxDepth: Int
    /// The largest document accepted, in bytes of UTF-8.
    public var maxBytes: Int
    /// The longest string (or object key) accepted, in bytes of UTF-8 after unescaping; `nil` for no limit.
    public var maxStringBytes: Int?
    /// The most elements accepted in one array, or members in one object; `nil` for no limit.
    public var maxElements: Int?

    /// Creates limits.
    /// - Parameters:
    ///   - maxDepth: The deepest nesting of arrays and objects accepted (default 128).
    ///   - maxBytes: The largest document accepted, in bytes (default 16 MiB).
    ///   - maxStringBytes: The longest string accepted in UTF-8 bytes, or `nil` for no limit.
    ///   - maxElements: The most elements in one array or members in one object, or `nil` for no limit.
    public init(
        maxDepth: Int = 128, maxBytes: Int = 16 * 1024 * 1024, maxStringBytes: Int? = nil, maxElements: Int? = nil
    ) {
        self.maxDepth = maxDepth
        self.maxBytes = maxBytes
        self.maxStringBytes = maxStringBytes
        self.maxElements = maxElements
    }

    /// Depth 128, 16 MiB, no string or element limit.
    public static let `default` = JSONLimits()
}

extension JSONValue {
    /// Parses a JSON document (RFC 8259, strict) from UTF-8 bytes.
    ///
    /// The parser accepts exactly what `JSON.parse` accepts, with these choices:
    /// - Invalid UTF-8 is an error (`JSON.parse` never sees bytes).
    /// - An escaped lone surrogate (`"\uD800"`) becomes U+FFFD, since a Swift `String` cannot hold it.
    /// - A duplicate object key keeps its first position and its last value.
    /// - A number too large for a `Double` (`1e400`) is an error rather than `Infinity`.
    ///
    /// - Parameters:
    ///   - jsonBytes: The document, in UTF-8. Whitespace may surround the value; nothing else may follow it.
    ///   - limits: Depth and size limits.
    /// - Throws: ``EventbaseError`` with code `invalidJSON` (the message names the byte offset) or `limitExceeded`.
    public init(jsonBytes: [UInt8], limits: JSONLimits = .default) throws {
        self = try jsonBytes.withUnsafeBytes { try JSONValue.parse(buffer: $0, limits: limits) }
    }

    /// Parses a JSON document (RFC 8259, strict) from a string. See ``init(jsonBytes:limits:)``.
    /// - Parameters:
    ///   - jsonString: The document.
    ///   - limits: Depth and size limits.
    /// - Throws: ``EventbaseError`` with code `invalidJSON` or `limitExceeded`.
    public init(jsonString: String, limits: JSONLimits = .default) throws {
        var string = jsonString
        self = try string.withUTF8 { try JSONValue.parse(buffer: UnsafeRawBufferPointer($0), limits: limits) }
    }

    /// Parses a JSON document (RFC 8259, strict) from any collection of UTF-8 bytes. See ``init(jsonBytes:limits:)``.
    /// - Parameters:
    ///   - bytes: The document, in UTF-8.
    ///   - limits: Depth and size limits.
    /// - Throws: ``EventbaseError`` with code `invalidJSON` or `limitExceeded`.
    public init(parsing bytes: some Collection<UInt8>, limits: JSONLimits = .default) throws {
        if let parsed = try bytes.withContiguousStorageIfAvailable({
            try JSONValue.parse(buffer: UnsafeRawBufferPointer($0), limits: limits)
        }) {
            self = parsed
        } else {
            try self.init(jsonBytes: Array(bytes), limits: limits)
        }
    }

    /// The fast path: parses the bytes in `buffer`, which must stay valid for the call.
    internal static func parse(buffer: UnsafeRawBufferPointer, limits: JSONLimits) throws -> JSONValue {
        guard buffer.count <= limits.maxBytes else {
            throw EventbaseError(
                .limitExceeded,
                "JSON document of \(buffer.count) bytes exceeds the limit of \(limits.maxBytes) bytes: "
                    + "send a smaller document or raise JSONLimits.maxBytes")
        }
        let bytes = buffer.assumingMemoryBound(to: UInt8.self)
        var parser = JSONParser(bytes: bytes, limits: limits)
        return try parser.parseDocument()
    }
}

extension UnsafeRawBufferPointer {
    fileprivate func assumingMemoryBound(to type: UInt8.Type) -> UnsafeBufferPointer<UInt8> {
        guard let base = baseAddress else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: count)
    }
}

private enum ASCII {
    static let quote: UInt8 = 0x22
    static let backslash: UInt8 = 0x5C
    static let slash: UInt8 = 0x2F
    static let comma: UInt8 = 0x2C
    static let colon: UInt8 = 0x3A
    static let openBracket: UInt8 = 0x5B
    static let closeBracket: UInt8 = 0x5D
    static let openBrace: UInt8 = 0x7B
    static let closeBrace: UInt8 = 0x7D
    static let minus: UInt8 = 0x2D
    static let plus: UInt8 = 0x2B
    static let dot: UInt8 = 0x2E
    static let zero: UInt8 = 0x30
    static let nine: UInt8 = 0x39
    static let lowerE: UInt8 = 0x65
    static let upperE: UInt8 = 0x45
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let newline: UInt8 = 0x0A
    static let carriageReturn: UInt8 = 0x0D
}

/// An iterative (non-recursive) JSON parser over a buffer of UTF-8 bytes.
///
/// Open containers live on explicit stacks, so nesting depth costs heap, not call stack; the depth
/// limit is checked before each container is opened.
private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let limits: JSONLimits
    var index = 0
    /// Reused for strings that contain escapes.
    var scratch: [UInt8] = []

    init(bytes: UnsafeBufferPointer<UInt8>, limits: JSONLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    // MARK: Errors

    func invalid(_ what: String, at offset: Int, _ advice: String) -> EventbaseError {
        EventbaseError(.invalidJSON, "\(what) at byte \(offset): \(advice)")
    }

    func describe(_ byte: UInt8) -> String {
        if byte >= 0x20 && byte < 0x7F {
            return "'\(Character(Unicode.Scalar(byte)))'"
        }
        return "byte 0x" + String(byte, radix: 16, uppercase: true)
    }

    func unexpectedEnd(_ expected: String) -> EventbaseError {
        invalid("Unexpected end of input", at: bytes.count, "expected \(expected); the document is truncated")
    }

    // MARK: Document

    @inline(__always)
    mutating func skipWhitespace() {
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == ASCII.space || byte == ASCII.newline || byte == ASCII.carriageReturn || byte == ASCII.tab
            else { return }
            index += 1
        }
    }

    /// An open container: its kind, where its contents start on their stack, and for an object its
    /// pending key and (once the object is large) its table of key positions.
    struct Frame {
        var isObject: Bool
        var start: Int
        var key = ""
        var index: [String: Int]? = nil
    }

    mutating func parseDocument() throws -> JSONValue {
        // Open containers, innermost last. Their contents so far sit on two shared stacks (each open
        // container's from its start up), so a finished container is moved once into storage of its
        // exact size instead of growing its own.
        var frames: [Frame] = []
        var elements = ContentStack<JSONValue>(placeholder: .null)
        var members = ContentStack<(key: String, value: JSONValue)>(placeholder: ("", .null))
        let maxElements = limits.maxElements ?? Int.max

        skipWhitespace()
        while true {
            // Parse a value (or open a container and loop to parse its first value).
            guard index < bytes.count else { throw unexpectedEnd("a JSON value") }
            var value: JSONValue
            let byte = bytes[index]
            switch byte {
            case ASCII.openBrace, ASCII.openBracket:
                guard frames.count < limits.maxDepth else {
                    throw EventbaseError(
                        .limitExceeded,
                        "JSON nesting deeper than \(limits.maxDepth) at byte \(index): "
                            + "flatten the document or raise JSONLimits.maxDepth")
                }
                index += 1
                skipWhitespace()
                if byte == ASCII.openBrace {
                    if index < bytes.count && bytes[index] == ASCII.closeBrace {
                        index += 1
                        value = .object(JSONObject())
                    } else {
                        let key = try parseKey()
                        if frames.capacity == 0 { frames.reserveCapacity(8) }
                        frames.append(Frame(isObject: true, start: members.count, key: key))
                        continue
                    }
                } else {
                    if index < bytes.count && bytes[index] == ASCII.closeBracket {
                        index += 1
                        value = .array([])
                    } else {
                        if frames.capacity == 0 { frames.reserveCapacity(8) }
                        frames.append(Frame(isObject: false, start: elements.count))
                        continue
                    }
                }
            case ASCII.quote:
                value = .string(try parseString())
            case ASCII.minus, ASCII.zero...ASCII.nine:
                value = .number(try parseNumber())
            case UInt8(ascii: "t"):
                try expectLiteral("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try expectLiteral("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try expectLiteral("null")
                value = .null
            case ASCII.closeBracket, ASCII.closeBrace:
                if let previous = previousNonWhitespace(before: index), bytes[previous] == ASCII.comma {
                    throw invalid(
                        "Trailing comma", at: previous,
                        "JSON does not allow a comma before \(describe(byte)); remove it")
                }
                throw invalid("Unexpected \(describe(byte))", at: index, "expected a JSON value")
            default:
                throw invalid(
                    "Unexpected \(describe(byte))", at: index,
                    "expected a JSON value (object, array, string, number, true, false or null)")
            }

            // Attach the value to the open containers, closing those that end here.
            attach: while true {
                let top = frames.count - 1
                guard top >= 0 else {
                    skipWhitespace()
                    guard index == bytes.count else {
                        throw invalid(
                            "Unexpected \(describe(bytes[index])) after the JSON value", at: index,
                            "a document holds exactly one value; remove the trailing data")
                    }
                    return value
                }
                skipWhitespace()
                if frames[top].isObject {
                    let key = frames[top].key
                    let start = frames[top].start
                    // A duplicate key keeps its first position and takes the last value (as JSONObject).
                    let duplicate: Int?
                    if let table = frames[top].index {
                        duplicate = table[key]
                    } else {
                        duplicate = members.firstIndex(from: start) { $0.key == key }
                    }
                    if let duplicate {
                        members.storage[duplicate].value = value
                    } else {
                        members.push((key, value))
                        let count = members.count - start
                        if count > maxElements { throw tooManyElements() }
                        if frames[top].index != nil {
                            frames[top].index![key] = members.count - 1
                        } else if count > JSONObject.indexThreshold {
                            var table = [String: Int](minimumCapacity: count)
                            for position in start..<members.count { table[members.storage[position].key] = position }
                            frames[top].index = table
                        }
                    }
                    guard index < bytes.count else { throw unexpectedEnd("',' or '}'") }
                    let next = bytes[index]
                    if next == ASCII.comma {
                        index += 1
                        skipWhitespace()
                        if index < bytes.count && bytes[index] == ASCII.closeBrace {
                            throw invalid(
                                "Trailing comma", at: index - 1, "JSON does not allow a comma before '}'; remove it")
                        }
                        frames[top].key = try parseKey()
                        break attach
                    } else if next == ASCII.closeBrace {
                        index += 1
                        frames.removeLast()
                        value = .object(JSONObject(uniqueEntries: members.take(from: start)))
                    } else {
                        throw invalid(
                            "Unexpected \(describe(next)) in object", at: index, "expected ',' or '}' after a member")
                    }
                } else {
                    elements.push(value)
                    let start = frames[top].start
                    if elements.count - start > maxElements { throw tooManyElements() }
                    guard index < bytes.count else { throw unexpectedEnd("',' or ']'") }
                    let next = bytes[index]
                    if next == ASCII.comma {
                        index += 1
                        skipWhitespace()
                        break attach
                    } else if next == ASCII.closeBracket {
                        index += 1
                        frames.removeLast()
                        value = .array(elements.take(from: start))
                    } else {
                        throw invalid(
                            "Unexpected \(describe(next)) in array", at: index, "expected ',' or ']' after an element")
                    }
                }
            }
        }
    }

    func previousNonWhitespace(before position: Int) -> Int? {
        var i = position - 1
        while i >= 0 {
            let byte = bytes[i]
            if byte != ASCII.space && byte != ASCII.newline && byte != ASCII.carriageReturn && byte != ASCII.tab {
                return i
            }
            i -= 1
        }
        return nil
    }

    func tooManyElements() -> EventbaseError {
        EventbaseError(
            .limitExceeded,
            "More than \(limits.maxElements ?? Int.max) elements in one array or object at byte \(index): "
                + "split the data or raise JSONLimits.maxElements")
    }

    /// Parses `"key"` and the `:` after it; leaves `index` at the value.
    mutating func parseKey() throws -> String {
        guard index < bytes.count else { throw unexpectedEnd("an object key or '}'") }
        guard bytes[index] == ASCII.quote else {
            throw invalid(
                "Unexpected \(describe(bytes[index])) in object", at: index,
                "expected a double-quoted key (JSON has no unquoted or single-quoted keys)")
        }
        let key = try knownKey() ?? parseString()
        skipWhitespace()
        guard index < bytes.count else { throw unexpectedEnd("':'") }
        guard bytes[index] == ASCII.colon else {
            throw invalid("Unexpected \(describe(bytes[index])) after an object key", at: index, "expected ':'")
        }
        index += 1
        skipWhitespace()
        return key
    }

    /// The keys of every event's envelope, when the key at `index` (its opening quote) is one of them
    /// spelled without escapes: returned as constants rather than made anew, and `index` moved past it.
    @inline(__always)
    mutating func knownKey() throws -> String? {
        let open = index
        guard open + 1 < bytes.count else { return nil }
        let key: String
        switch bytes[open + 1] {
        case UInt8(ascii: "t") where matchesLiteral(#""type""#): key = "type"
        case UInt8(ascii: "t") where matchesLiteral(#""timestamp""#): key = "timestamp"
        case UInt8(ascii: "i") where matchesLiteral(#""id""#): key = "id"
        case UInt8(ascii: "d") where matchesLiteral(#""data""#): key = "data"
        default: return nil
        }
        try checkStringLength(index - open - 2, at: open)
        return key
    }

    mutating func expectLiteral(_ literal: StaticString) throws {
        guard matchesLiteral(literal) else {
            throw invalid(
                "Invalid literal", at: index,
                "expected '\(literal)' (JSON literals are lowercase true, false and null; NaN and Infinity are not JSON)"
            )
        }
    }

    /// Whether `literal` is at `index`; if it is, moves past it.
    @inline(__always)
    mutating func matchesLiteral(_ literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard bytes.count - index >= length else { return false }
        let expected = literal.utf8Start
        for offset in 0..<length where bytes[index + offset] != expected[offset] { return false }
        index += length
        return true
    }

    // MARK: Strings

    /// Parses a string starting at the opening quote; leaves `index` after the closing quote.
    mutating func parseString() throws -> String {
        let open = index
        if let range = try scanUnescapedString() {
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        }
        return try parseEscapedString(open: open, start: open + 1)
    }

    /// Scans the string whose opening quote is at `index` while it has no escapes, validating its
    /// UTF-8 and rejecting control characters. Returns the range of its bytes, with `index` after the
    /// closing quote; or `nil` at its first escape, with `index` at that backslash.
    @inline(__always)
    mutating func scanUnescapedString() throws -> Range<Int>? {
        let open = index
        index += 1
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == ASCII.quote {
                let end = index
                index += 1
                try checkStringLength(end - start, at: open)
                return start..<end
            } else if byte == ASCII.backslash {
                return nil
            } else if byte < 0x20 {
                throw controlCharacter(byte)
            } else if byte < 0x80 {
                index += 1
            } else {
                try skipUTF8Sequence()
            }
        }
        throw invalid("Unterminated string", at: open, "add the closing '\"'")
    }

    func checkStringLength(_ length: Int, at offset: Int) throws {
        if let maxStringBytes = limits.maxStringBytes, length > maxStringBytes {
            throw EventbaseError(
                .limitExceeded,
                "String of \(length) bytes at byte \(offset) exceeds the limit of \(maxStringBytes) bytes: "
                    + "shorten it or raise JSONLimits.maxStringBytes")
        }
    }

    func controlCharacter(_ byte: UInt8) -> EventbaseError {
        invalid(
            "Unescaped control character " + describe(byte) + " in string", at: index,
            "escape it (for example \\n or \\u00" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16) + ")")
    }

    /// Validates one multi-byte UTF-8 sequence at `index` (whose first byte is >= 0x80) and skips it.
    @inline(__always)
    mutating func skipUTF8Sequence() throws {
        let first = bytes[index]
        let length: Int
        var lower: UInt8 = 0x80
        var upper: UInt8 = 0xBF
        switch first {
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            upper = 0x9F
        case 0xF0:
            length = 4
            lower = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            upper = 0x8F
        default:
            throw invalidUTF8(at: index)
        }
        guard bytes.count - index >= length else { throw invalidUTF8(at: index) }
        let second = bytes[index + 1]
        guard second >= lower && second <= upper else { throw invalidUTF8(at: index) }
        if length > 2 {
            guard bytes[index + 2] & 0xC0 == 0x80 else { throw invalidUTF8(at: index) }
            if length > 3 {
                guard bytes[index + 3] & 0xC0 == 0x80 else { throw invalidUTF8(at: index) }
            }
        }
        index += length
    }

    func invalidUTF8(at offset: Int) -> EventbaseError {
        invalid("Invalid UTF-8", at: offset, "JSON text must be encoded as UTF-8")
    }

    /// The slow path for strings with escapes: unescapes into `scratch`.
    mutating func parseEscapedString(open: Int, start: Int) throws -> String {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            if byte == ASCII.quote {
                index += 1
                try checkStringLength(scratch.count, at: open)
                return String(decoding: scratch, as: UTF8.self)
            } else if byte == ASCII.backslash {
                try parseEscape()
            } else if byte < 0x20 {
                throw controlCharacter(byte)
            } else if byte < 0x80 {
                scratch.append(byte)
                index += 1
            } else {
                let sequenceStart = index
                try skipUTF8Sequence()
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[sequenceStart..<index]))
            }
        }
        throw invalid("Unterminated string", at: open, "add the closing '\"'")
    }

    /// Parses one escape at `index` (a backslash) into `scratch`.
    mutating func parseEscape() throws {
        let escapeStart = index
        guard index + 1 < bytes.count else { throw unexpectedEnd("an escape sequence") }
        let letter = bytes[index + 1]
        index += 2
        switch letter {
        case ASCII.quote: scratch.append(ASCII.quote)
        case ASCII.backslash: scratch.append(ASCII.backslash)
        case ASCII.slash: scratch.append(ASCII.slash)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            let unit = try parseHex4(escapeStart: escapeStart)
            var scalar: UInt32
            if unit >= 0xD800 && unit <= 0xDBFF {
                // A high surrogate: combine with a following \uDC00-\uDFFF, else U+FFFD.
                scalar = 0xFFFD
                if index + 6 <= bytes.count && bytes[index] == ASCII.backslash && bytes[index + 1] == UInt8(ascii: "u"),
                    let low = hex4(at: index + 2), low >= 0xDC00 && low <= 0xDFFF
                {
                    scalar = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                    index += 6
                }
            } else if unit >= 0xDC00 && unit <= 0xDFFF {
                scalar = 0xFFFD
            } else {
                scalar = UInt32(unit)
            }
            appendUTF8(scalar)
        default:
            throw invalid(
                "Invalid escape '\\" + (letter >= 0x20 && letter < 0x7F ? String(Unicode.Scalar(letter)) : "?")
                    + "' in string",
                at: escapeStart, "valid escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX")
        }
    }

    mutating func parseHex4(escapeStart: Int) throws -> UInt16 {
        guard index + 4 <= bytes.count, let unit = hex4(at: index) else {
            throw invalid(
                "Invalid \\u escape", at: escapeStart, "\\u must be followed by exactly four hexadecimal digits")
        }
        index += 4
        return unit
    }

    func hex4(at offset: Int) -> UInt16? {
        guard offset + 4 <= bytes.count else { return nil }
        var result: UInt16 = 0
        for i in offset..<offset + 4 {
            let byte = bytes[i]
            let digit: UInt8
            switch byte {
            case ASCII.zero...ASCII.nine: digit = byte - ASCII.zero
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            result = result << 4 | UInt16(digit)
        }
        return result
    }

    mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            scratch.append(UInt8(scalar))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | (scalar >> 6)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | (scalar >> 12)))
            scratch.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        default:
            scratch.append(UInt8(0xF0 | (scalar >> 18)))
            scratch.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }

    // MARK: Numbers

    /// Exact powers of ten for the fast path (10^22 is the largest exactly representable).
    static let powersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
        1e19, 1e20, 1e21, 1e22,
    ]

    /// Parses a number per the RFC 8259 grammar; leaves `index` after it.
    mutating func parseNumber() throws -> Double {
        let start = index
        var negative = false
        if bytes[index] == ASCII.minus {
            negative = true
            index += 1
        }
        guard index < bytes.count else { throw unexpectedEnd("a digit after '-'") }
        // Integer part.
        var mantissa: UInt64 = 0
        var significantDigits = 0
        let first = bytes[index]
        if first == ASCII.zero {
            index += 1
            if index < bytes.count && bytes[index] >= ASCII.zero && bytes[index] <= ASCII.nine {
                throw invalid("Leading zero in number", at: start, "JSON numbers cannot start with 0 unless they are 0")
            }
        } else if first > ASCII.zero && first <= ASCII.nine {
            while index < bytes.count {
                let byte = bytes[index]
                guard byte >= ASCII.zero && byte <= ASCII.nine else { break }
                if significantDigits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(byte &- ASCII.zero)
                }
                significantDigits += 1
                index += 1
            }
        } else {
            throw invalid(
                "Invalid number", at: start, "expected a digit after '-' (JSON has no -Infinity, and no leading '+')")
        }
        var integral = true
        var fractionDigits = 0
        // Fraction.
        if index < bytes.count && bytes[index] == ASCII.dot {
            integral = false
            index += 1
            let fractionStart = index
            while index < bytes.count {
                let byte = bytes[index]
                guard byte >= ASCII.zero && byte <= ASCII.nine else { break }
                if mantissa == 0 && byte == ASCII.zero {
                    fractionDigits += 1  // A leading zero: not significant.
                } else {
                    if significantDigits < 19 {
                        mantissa = mantissa &* 10 &+ UInt64(byte &- ASCII.zero)
                        fractionDigits += 1
                    }
                    significantDigits += 1
                }
                index += 1
            }
            guard index > fractionStart else {
                throw invalid("Invalid number", at: start, "a '.' must be followed by at least one digit")
            }
        }
        // Exponent.
        var exponent = 0
        if index < bytes.count && (bytes[index] == ASCII.lowerE || bytes[index] == ASCII.upperE) {
            integral = false
            index += 1
            var exponentNegative = false
            if index < bytes.count && (bytes[index] == ASCII.plus || bytes[index] == ASCII.minus) {
                exponentNegative = bytes[index] == ASCII.minus
                index += 1
            }
            let exponentStart = index
            while index < bytes.count {
                let byte = bytes[index]
                guard byte >= ASCII.zero && byte <= ASCII.nine else { break }
                if exponent < 100_000 {
                    exponent = exponent * 10 + Int(byte &- ASCII.zero)
                }
                index += 1
            }
            guard index > exponentStart else {
                throw invalid("Invalid number", at: start, "an exponent must have at least one digit")
            }
            if exponentNegative { exponent = -exponent }
        }

        // Fast paths: up to 15 significant digits and a small power of ten are exact in a Double,
        // so one multiplication or division gives the correctly rounded result (Clinger).
        if significantDigits <= 15 {
            let base = Double(mantissa)
            if integral {
                return negative ? -base : base
            }
            let scale = exponent - fractionDigits
            if mantissa == 0 {
                return negative ? -0.0 : 0.0
            }
            if scale >= 0 && scale <= 22 {
                let result = base * JSONParser.powersOfTen[scale]
                return negative ? -result : result
            } else if scale < 0 && scale >= -22 {
                let result = base / JSONParser.powersOfTen[-scale]
                return negative ? -result : result
            }
        }
        // General case: the standard library's correctly rounded conversion.
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw invalid(
                "Number out of range", at: start,
                "the number is too large for a 64-bit float; send it as a string if you need it exactly")
        }
        return value
    }
}

/// The contents of a parser's open containers: a stack whose popped slots keep their storage (refilled
/// with `placeholder`), so that a finished container's contents are moved into an array of their own,
/// neither copied nor released one by one.
private struct ContentStack<Element> {
    /// The slots; those from `count` on hold `placeholder`.
    var storage: [Element] = []
    private(set) var count = 0
    let placeholder: Element

    init(placeholder: Element) {
        self.placeholder = placeholder
    }

    @inline(__always)
    mutating func push(_ element: Element) {
        if count < storage.count {
            storage[count] = element
        } else {
            if storage.capacity == 0 { storage.reserveCapacity(16) }
            storage.append(element)
        }
        count += 1
    }

    /// The position of the first element from `start` on that satisfies `predicate`.
    @inline(__always)
    func firstIndex(from start: Int, where predicate: (Element) -> Bool) -> Int? {
        var position = start
        while position < count {
            if predicate(storage[position]) { return position }
            position += 1
        }
        return nil
    }

    /// Moves the elements from `start` on, in order, into an array of exactly their number; they
    /// leave the stack.
    @inline(__always)
    mutating func take(from start: Int) -> [Element] {
        let taken = count - start
        guard taken > 0 else { return [] }
        let placeholder = self.placeholder
        count = start
        return storage.withUnsafeMutableBufferPointer { source in
            [Element](unsafeUninitializedCapacity: taken) { target, initialized in
                guard let from = source.baseAddress.map({ $0 + start }), let to = target.baseAddress else { return }
                to.moveInitialize(from: from, count: taken)
                from.initialize(repeating: placeholder, count: taken)
                initialized = taken
            }
        }
    }
}

// MARK: Events decoded straight into packed form

/// An event payload's fields, read without building a ``JSONValue`` tree: its `data` is written
/// straight into the packed encoding that ``PackedRecord`` stores.
struct PackedEventFields {
    var kind: Event.Kind
    var key: String
    var timestamp: Int64
    /// The document of a put; `nil` for a delete.
    var data: PackedDocument?
}

extension JSONValue {
    /// Reads an event payload on the fast path: an object of exactly the envelope's fields (`type`,
    /// `id`, `data`, `timestamp`, each at most once) whose document has no duplicate or non-ASCII or
    /// escaped keys and no object of more than `JSONObject.indexThreshold` keys. Returns `nil` for anything else, malformed payloads included, which
    /// ``EventCodec`` then reads on the general path (that gives the same event, or the error).
    static func packedEvent(buffer: UnsafeRawBufferPointer, limits: JSONLimits) -> PackedEventFields? {
        guard buffer.count <= limits.maxBytes else { return nil }
        var parser = JSONParser(bytes: buffer.assumingMemoryBound(to: UInt8.self), limits: limits)
        return try? parser.packedEvent()
    }
}

extension JSONParser {
    /// Leaves the fast path (caught by ``JSONValue/packedEvent(buffer:limits:)``).
    struct OffFastPath: Error {}

    mutating func packedEvent() throws -> PackedEventFields? {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == ASCII.openBrace, limits.maxDepth > 0 else { return nil }
        index += 1
        skipWhitespace()
        var kind: Event.Kind?
        var key: String?
        var timestamp: Int64 = 0
        var data: PackedDocument?
        var seen = 0
        let maxElements = limits.maxElements ?? Int.max
        while true {
            guard index < bytes.count, bytes[index] == ASCII.quote, let name = try knownKey() else { return nil }
            let bit: Int
            switch name {
            case "type": bit = 1
            case "id": bit = 2
            case "data": bit = 4
            default: bit = 8
            }
            guard seen & bit == 0 else { return nil }
            seen |= bit
            guard seen.nonzeroBitCount <= maxElements else { return nil }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == ASCII.colon else { return nil }
            index += 1
            skipWhitespace()
            guard index < bytes.count else { return nil }
            switch bit {
            case 1:
                // "PUT" or "DELETE", compared in place.
                if matchesLiteral(#""PUT""#) {
                    kind = .put
                } else if matchesLiteral(#""DELETE""#) {
                    kind = .delete
                } else {
                    return nil
                }
            case 2:
                guard bytes[index] == ASCII.quote else { return nil }
                key = try parseString()
            case 4:
                data = try packValue()
            default:
                if bytes[index] == UInt8(ascii: "n") {
                    try expectLiteral("null")
                } else {
                    let number = try parseNumber()
                    guard number.isFinite, abs(number) < 9e15 else { return nil }
                    timestamp = Int64(number.rounded(.down))
                }
            }
            skipWhitespace()
            guard index < bytes.count else { return nil }
            if bytes[index] == ASCII.comma {
                index += 1
                skipWhitespace()
            } else if bytes[index] == ASCII.closeBrace {
                index += 1
                break
            } else {
                return nil
            }
        }
        skipWhitespace()
        guard index == bytes.count, let kind, let key else { return nil }
        if kind == .put, data == nil { return nil }
        return PackedEventFields(kind: kind, key: key, timestamp: timestamp, data: kind == .put ? data : nil)
    }

    /// Packs the JSON value at `index` (inside the envelope, so one level deep), or throws
    /// ``OffFastPath`` for what the general path must read.
    mutating func packValue() throws -> PackedDocument {
        /// An open container: where its one-byte count placeholder sits in `output`, its count so far,
        /// and (objects) where its keys start in `keys`.
        struct Open {
            var isObject: Bool
            var countAt: Int
            var count = 0
            var keysStart = 0
        }
        var output: [UInt8] = []
        // Packed is mostly smaller than JSON (small numbers and doubles can be larger).
        output.reserveCapacity(bytes.count - index + 64)
        var open: [Open] = []
        open.reserveCapacity(8)
        // The keys of open objects, as ranges of the input (ASCII, without escapes).
        var keys: [Range<Int>] = []
        keys.reserveCapacity(16)
        var hasID = false
        let maxElements = limits.maxElements ?? Int.max

        /// Reads an object key (ASCII, no escapes, not a duplicate) and the `:` after it; returns whether
        /// it is `id`. Keys are compared with each earlier one, so an object past
        /// `JSONObject.indexThreshold` keys goes to the general path, which compares them by hash.
        func key(_ parser: inout JSONParser, _ object: Open, _ keys: inout [Range<Int>], _ output: inout [UInt8])
            throws -> Bool
        {
            guard keys.count - object.keysStart < JSONObject.indexThreshold else { throw OffFastPath() }
            let bytes = parser.bytes
            guard parser.index < bytes.count, bytes[parser.index] == ASCII.quote else { throw OffFastPath() }
            let start = parser.index + 1
            var end = start
            while end < bytes.count {
                let byte = bytes[end]
                if byte == ASCII.quote { break }
                guard byte >= 0x20, byte < 0x80, byte != ASCII.backslash else { throw OffFastPath() }
                end += 1
            }
            guard end < bytes.count else { throw OffFastPath() }
            let length = end - start
            try parser.checkStringLength(length, at: start - 1)
            let candidate = UnsafeBufferPointer(rebasing: bytes[start..<end])
            for earlier in keys[object.keysStart...] where earlier.count == length {
                if UnsafeBufferPointer(rebasing: bytes[earlier]).elementsEqual(candidate) { throw OffFastPath() }
            }
            keys.append(start..<end)
            parser.index = end + 1
            parser.skipWhitespace()
            guard parser.index < bytes.count, bytes[parser.index] == ASCII.colon else { throw OffFastPath() }
            parser.index += 1
            parser.skipWhitespace()
            PackedJSON.appendVarint(UInt64(length), to: &output)
            output.append(contentsOf: candidate)
            return length == 2 && candidate[0] == UInt8(ascii: "i") && candidate[1] == UInt8(ascii: "d")
        }

        while true {
            guard index < bytes.count else { throw OffFastPath() }
            let byte = bytes[index]
            switch byte {
            case ASCII.openBrace, ASCII.openBracket:
                // The envelope is open too, as the general parser counts.
                guard open.count + 1 < limits.maxDepth else { throw OffFastPath() }
                index += 1
                skipWhitespace()
                let isObject = byte == ASCII.openBrace
                output.append(isObject ? PackedJSON.Tag.object.rawValue : PackedJSON.Tag.array.rawValue)
                output.append(0)
                guard index < bytes.count else { throw OffFastPath() }
                if bytes[index] == (isObject ? ASCII.closeBrace : ASCII.closeBracket) {
                    index += 1
                } else {
                    let container = Open(isObject: isObject, countAt: output.count - 1, keysStart: keys.count)
                    if isObject, try key(&self, container, &keys, &output), open.isEmpty { hasID = true }
                    open.append(container)
                    continue
                }
            case ASCII.quote:
                output.append(PackedJSON.Tag.string.rawValue)
                let quoteAt = index
                if let range = try scanUnescapedString() {
                    PackedJSON.appendVarint(UInt64(range.count), to: &output)
                    output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[range]))
                } else {
                    let string = try parseEscapedString(open: quoteAt, start: quoteAt + 1)
                    PackedJSON.appendVarint(UInt64(string.utf8.count), to: &output)
                    output.append(contentsOf: string.utf8)
                }
            case ASCII.minus, ASCII.zero...ASCII.nine:
                PackedJSON.appendNumber(try parseNumber(), to: &output)
            case UInt8(ascii: "t"):
                try expectLiteral("true")
                output.append(PackedJSON.Tag.true.rawValue)
            case UInt8(ascii: "f"):
                try expectLiteral("false")
                output.append(PackedJSON.Tag.false.rawValue)
            case UInt8(ascii: "n"):
                try expectLiteral("null")
                output.append(PackedJSON.Tag.null.rawValue)
            default:
                throw OffFastPath()
            }

            // Count the value in the open containers, closing those that end here.
            while true {
                let top = open.count - 1
                guard top >= 0 else {
                    return PackedDocument(bytes: output, hasIDMember: hasID)
                }
                open[top].count += 1
                guard open[top].count <= maxElements else { throw OffFastPath() }
                skipWhitespace()
                guard index < bytes.count else { throw OffFastPath() }
                let next = bytes[index]
                if next == ASCII.comma {
                    index += 1
                    skipWhitespace()
                    if open[top].isObject, try key(&self, open[top], &keys, &output), top == 0 { hasID = true }
                    break
                }
                guard next == (open[top].isObject ? ASCII.closeBrace : ASCII.closeBracket) else { throw OffFastPath() }
                index += 1
                let closed = open.removeLast()
                if closed.isObject { keys.removeSubrange(closed.keysStart...) }
                PackedJSON.setCount(closed.count, at: closed.countAt, in: &output)
            }
        }
    }
}
