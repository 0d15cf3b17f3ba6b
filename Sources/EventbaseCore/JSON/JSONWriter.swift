extension JSONValue {
    /// The value as compact JSON in UTF-8, byte-identical to JavaScript's `JSON.stringify(value)`.
    ///
    /// - Object keys appear in insertion order, or, with `sortedKeys`, in the order of Swift's `<` on
    ///   `String` (by Unicode scalar values, which for keys without combining characters is the same
    ///   as the UTF-8 byte order; it can differ from JavaScript's UTF-16 code-unit sort for keys with
    ///   characters beyond U+FFFF).
    /// - Strings escape `"`, `\`, `\b \f \n \r \t` and other control characters as `\u00xx`; everything
    ///   else, including `/` and non-ASCII, is written as raw UTF-8.
    /// - Numbers are formatted as by JavaScript's `Number.prototype.toString`: `1`, `0.1`, `1e+21`,
    ///   `1e-7`; `-0` is written `0`; NaN and infinities (which parsing never produces) are written `null`.
    ///
    /// - Parameter sortedKeys: Whether to write object keys sorted rather than in insertion order.
    /// - Returns: The UTF-8 bytes of the JSON text.
    public func jsonBytes(sortedKeys: Bool = false) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        write(into: &output, sortedKeys: sortedKeys)
        return output
    }

    /// The value as compact JSON text, identical to JavaScript's `JSON.stringify(value)`.
    /// See ``jsonBytes(sortedKeys:)``.
    /// - Parameter sortedKeys: Whether to write object keys sorted rather than in insertion order.
    /// - Returns: The JSON text.
    public func jsonString(sortedKeys: Bool = false) -> String {
        let bytes = jsonBytes(sortedKeys: sortedKeys)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the value as compact JSON to `output`.
    internal func write(into output: inout [UInt8], sortedKeys: Bool) {
        switch self {
        case .null:
            JSONWriter.appendLiteral("null", to: &output)
        case .bool(let value):
            JSONWriter.appendLiteral(value ? "true" : "false", to: &output)
        case .number(let value):
            JSONWriter.writeNumber(value, into: &output)
        case .string(let value):
            JSONWriter.writeString(value, into: &output)
        case .array(let elements):
            output.append(0x5B)
            var first = true
            for element in elements {
                if !first { output.append(0x2C) }
                first = false
                element.write(into: &output, sortedKeys: sortedKeys)
            }
            output.append(0x5D)
        case .object(let object):
            output.append(0x7B)
            if sortedKeys && object.count > 1 {
                let sorted = object.entries.sorted { $0.key < $1.key }
                JSONWriter.writeMembers(sorted, into: &output, sortedKeys: true)
            } else {
                JSONWriter.writeMembers(object.entries, into: &output, sortedKeys: sortedKeys)
            }
            output.append(0x7D)
        }
    }
}

/// The formatting primitives behind ``JSONValue/jsonBytes(sortedKeys:)``.
internal enum JSONWriter {
    @inline(__always)
    static func appendLiteral(_ literal: StaticString, to output: inout [UInt8]) {
        literal.withUTF8Buffer { output.append(contentsOf: $0) }
    }

    static func writeMembers(
        _ entries: [(key: String, value: JSONValue)], into output: inout [UInt8], sortedKeys: Bool
    ) {
        var first = true
        for (key, value) in entries {
            if !first { output.append(0x2C) }
            first = false
            writeString(key, into: &output)
            output.append(0x3A)
            value.write(into: &output, sortedKeys: sortedKeys)
        }
    }

    // MARK: Strings

    private static let hexDigits: StaticString = "0123456789abcdef"

    /// Writes `string` as a quoted JSON string, escaped exactly as `JSON.stringify` escapes it.
    static func writeString(_ string: String, into output: inout [UInt8]) {
        output.append(0x22)
        let handled =
            string.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
                writeEscaped(bytes, into: &output)
                return true
            } ?? false
        if !handled {
            var copy = string
            copy.withUTF8 { writeEscaped($0, into: &output) }
        }
        output.append(0x22)
    }

    private static func writeEscaped(_ bytes: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) {
        var runStart = 0
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            if byte >= 0x20 && byte != 0x22 && byte != 0x5C {
                index += 1
                continue
            }
            if runStart < index {
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
            }
            output.append(0x5C)
            switch byte {
            case 0x22: output.append(0x22)
            case 0x5C: output.append(0x5C)
            case 0x08: output.append(UInt8(ascii: "b"))
            case 0x0C: output.append(UInt8(ascii: "f"))
            case 0x0A: output.append(UInt8(ascii: "n"))
            case 0x0D: output.append(UInt8(ascii: "r"))
            case 0x09: output.append(UInt8(ascii: "t"))
            default:
                output.append(UInt8(ascii: "u"))
                output.append(UInt8(ascii: "0"))
                output.append(UInt8(ascii: "0"))
                hexDigits.withUTF8Buffer { digits in
                    output.append(digits[Int(byte >> 4)])
                    output.append(digits[Int(byte & 0xF)])
                }
            }
            index += 1
            runStart = index
        }
        if runStart < count {
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<count]))
        }
    }

    // MARK: Numbers

    /// Writes `value` as JavaScript's `Number.prototype.toString()` would (ECMAScript Number::toString).
    static func writeNumber(_ value: Double, into output: inout [UInt8]) {
        guard value.isFinite else {
            appendLiteral("null", to: &output)
            return
        }
        // Fast path: integers below 2^53 print as plain digits.
        if value == value.rounded(.towardZero) && value.magnitude < 9_007_199_254_740_992 {
            writeInteger(Int64(value), into: &output)
            return
        }
        // General case: Swift's description has the shortest round-trip digits; re-lay them out.
        var description = value.description
        description.withUTF8 { text in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: text.count) { digits in
                writeShortest(text: text, digits: digits, into: &output)
            }
        }
    }

    /// Parses Swift's `Double.description` layout (`-1.5e-07`, `0.001`, `123.0`) into its digits and
    /// decimal exponent, then writes them in JavaScript's layout.
    private static func writeShortest(
        text: UnsafeBufferPointer<UInt8>, digits: UnsafeMutableBufferPointer<UInt8>, into output: inout [UInt8]
    ) {
        var digitCount = 0
        var index = 0
        var negative = false
        if index < text.count && text[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var digitsBeforePoint = 0
        var seenPoint = false
        while index < text.count {
            let byte = text[index]
            if byte >= 0x30 && byte <= 0x39 {
                if digitCount == 0 && byte == 0x30 {
                    // A leading zero: shifts the point if it comes after the decimal point.
                    if seenPoint { digitsBeforePoint -= 1 }
                } else if digitCount < digits.count {
                    digits[digitCount] = byte
                    digitCount += 1
                    if !seenPoint { digitsBeforePoint += 1 }
                }
            } else if byte == UInt8(ascii: ".") {
                seenPoint = true
            } else {
                break
            }
            index += 1
        }
        var exponent = 0
        if index < text.count && (text[index] == UInt8(ascii: "e") || text[index] == UInt8(ascii: "E")) {
            index += 1
            var exponentNegative = false
            if index < text.count && (text[index] == UInt8(ascii: "-") || text[index] == UInt8(ascii: "+")) {
                exponentNegative = text[index] == UInt8(ascii: "-")
                index += 1
            }
            while index < text.count && text[index] >= 0x30 && text[index] <= 0x39 && exponent < 100_000 {
                exponent = exponent * 10 + Int(text[index] - 0x30)
                index += 1
            }
            if exponentNegative { exponent = -exponent }
        }
        while digitCount > 0 && digits[digitCount - 1] == 0x30 {
            digitCount -= 1
        }
        guard digitCount > 0 else {
            output.append(0x30)
            return
        }
        if negative { output.append(UInt8(ascii: "-")) }
        layOut(
            digits: UnsafeBufferPointer(rebasing: digits[0..<digitCount]), pointExponent: digitsBeforePoint + exponent,
            into: &output)
    }

    /// ECMAScript Number::toString steps 6-10: `digits` (k of them, no leading or trailing zeros)
    /// scaled so that the value is 0.d1...dk × 10^n.
    static func layOut(digits: UnsafeBufferPointer<UInt8>, pointExponent n: Int, into output: inout [UInt8]) {
        let k = digits.count
        if k <= n && n <= 21 {
            output.append(contentsOf: digits)
            for _ in 0..<(n - k) { output.append(0x30) }
        } else if 0 < n && n <= 21 {
            output.append(contentsOf: UnsafeBufferPointer(rebasing: digits[0..<n]))
            output.append(UInt8(ascii: "."))
            output.append(contentsOf: UnsafeBufferPointer(rebasing: digits[n...]))
        } else if -6 < n && n <= 0 {
            output.append(0x30)
            output.append(UInt8(ascii: "."))
            for _ in 0..<(-n) { output.append(0x30) }
            output.append(contentsOf: digits)
        } else {
            output.append(digits[0])
            if k > 1 {
                output.append(UInt8(ascii: "."))
                output.append(contentsOf: UnsafeBufferPointer(rebasing: digits[1...]))
            }
            output.append(UInt8(ascii: "e"))
            let exponent = n - 1
            output.append(exponent < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            writeInteger(Int64(exponent.magnitude), into: &output)
        }
    }

    /// Writes an integer in decimal (`-0` has no sign, as in JavaScript).
    static func writeInteger(_ value: Int64, into output: inout [UInt8]) {
        var magnitude = value.magnitude
        if value < 0 { output.append(UInt8(ascii: "-")) }
        if magnitude < 10 {
            output.append(0x30 &+ UInt8(truncatingIfNeeded: magnitude))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
            var position = 20
            while magnitude > 0 {
                position -= 1
                buffer[position] = 0x30 &+ UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[position..<20]))
        }
    }
}
