import Foundation

/// Decodes `Decodable` values directly from a ``JSONValue``, without going through bytes.
///
/// ```swift
/// let user = try JSONValueDecoder().decode(User.self, from: ["name": "Ann", "born": "1990-05-01T00:00:00Z"])
/// ```
///
/// - A missing key or `null` decodes as `nil` for optionals (`decodeIfPresent`).
/// - Integer types accept only integral numbers within their range; `Float` accepts numbers within its range.
/// - `Date` follows ``dateDecodingStrategy``; `Data` is read from base64; `URL` and `UUID` from strings;
///   `Decimal` from a number.
/// - Errors are ``EventbaseError`` with code `decodingFailed`, naming the coding path and the expected
///   and found JSON types. Errors thrown by the types' own `init(from:)` are wrapped the same way.
public struct JSONValueDecoder: Sendable {
    /// How `Date` values are decoded.
    public enum DateDecodingStrategy: Sendable, Hashable {
        /// An ISO 8601 string, `YYYY-MM-DDTHH:MM:SS(.fraction)?(Z|±HH:MM)`, with or without fractional seconds.
        case iso8601
        /// A number of milliseconds since 1970-01-01T00:00:00Z.
        case millisecondsSince1970
        /// A number of seconds since 1970-01-01T00:00:00Z.
        case secondsSince1970
    }

    /// How `Date` values are decoded; ``DateDecodingStrategy/iso8601`` by default.
    public var dateDecodingStrategy: DateDecodingStrategy
    /// Values that `Decodable` implementations can read from `decoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable]

    /// Creates a decoder.
    /// - Parameters:
    ///   - dateDecodingStrategy: How `Date` values are decoded.
    ///   - userInfo: Values that `Decodable` implementations can read from `decoder.userInfo`.
    public init(
        dateDecodingStrategy: DateDecodingStrategy = .iso8601, userInfo: [CodingUserInfoKey: any Sendable] = [:]
    ) {
        self.dateDecodingStrategy = dateDecodingStrategy
        self.userInfo = userInfo
    }

    /// Decodes a value of `type` from `value`.
    /// - Parameters:
    ///   - type: The type to decode.
    ///   - value: The JSON value.
    /// - Returns: The decoded value.
    /// - Throws: ``EventbaseError`` with code `decodingFailed`.
    public func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        let options = DecoderOptions(dateStrategy: dateDecodingStrategy, userInfo: userInfo)
        do {
            return try JSONValueDecoderImpl.unbox(value, as: T.self, codingPath: [], options: options)
        } catch let error as EventbaseError {
            throw error
        } catch let error as DecodingError {
            throw EventbaseError(.decodingFailed, Self.describe(error, type: T.self), cause: error)
        } catch {
            throw EventbaseError(.decodingFailed, "Cannot decode \(T.self): \(error)", cause: error)
        }
    }

    private static func describe<T>(_ error: DecodingError, type: T.Type) -> String {
        switch error {
        case .typeMismatch(let expected, let context):
            return "Cannot decode \(expected) at \(describeCodingPath(context.codingPath)): \(context.debugDescription)"
        case .valueNotFound(let expected, let context):
            return "No value for \(expected) at \(describeCodingPath(context.codingPath)): \(context.debugDescription)"
        case .keyNotFound(let key, let context):
            return "Missing key '\(key.stringValue)' at \(describeCodingPath(context.codingPath)): "
                + context.debugDescription
        case .dataCorrupted(let context):
            return "Invalid value at \(describeCodingPath(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "Cannot decode \(T.self): \(error)"
        }
    }
}

internal struct DecoderOptions {
    let dateStrategy: JSONValueDecoder.DateDecodingStrategy
    let userInfo: [CodingUserInfoKey: any Sendable]
}

/// The `Decoder` behind ``JSONValueDecoder``.
internal final class JSONValueDecoderImpl: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    let options: DecoderOptions

    var userInfo: [CodingUserInfoKey: Any] { options.userInfo }

    init(value: JSONValue, codingPath: [any CodingKey], options: DecoderOptions) {
        self.value = value
        self.codingPath = codingPath
        self.options = options
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = value else {
            throw Self.mismatch(codingPath, expected: "object", found: value)
        }
        return KeyedDecodingContainer(KeyedContainer<Key>(object: object, codingPath: codingPath, options: options))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else {
            throw Self.mismatch(codingPath, expected: "array", found: value)
        }
        return UnkeyedContainer(elements: elements, codingPath: codingPath, options: options)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleValueContainer(value: value, codingPath: codingPath, options: options)
    }

    // MARK: Errors

    static func failure(_ path: [any CodingKey], _ message: String) -> EventbaseError {
        EventbaseError(.decodingFailed, "Cannot decode the value at \(describeCodingPath(path)): \(message)")
    }

    static func mismatch(_ path: [any CodingKey], expected: String, found value: JSONValue) -> EventbaseError {
        EventbaseError(
            .decodingFailed,
            "Expected \(expected) at \(describeCodingPath(path)) but found \(value.typeName)")
    }

    // MARK: Unboxing

    static func unboxBool(_ value: JSONValue, codingPath: [any CodingKey]) throws -> Bool {
        guard case .bool(let bool) = value else { throw mismatch(codingPath, expected: "boolean", found: value) }
        return bool
    }

    static func unboxString(_ value: JSONValue, codingPath: [any CodingKey]) throws -> String {
        guard case .string(let string) = value else { throw mismatch(codingPath, expected: "string", found: value) }
        return string
    }

    static func unboxDouble(_ value: JSONValue, codingPath: [any CodingKey]) throws -> Double {
        guard case .number(let number) = value else { throw mismatch(codingPath, expected: "number", found: value) }
        return number
    }

    static func unboxFloat(_ value: JSONValue, codingPath: [any CodingKey]) throws -> Float {
        let number = try unboxDouble(value, codingPath: codingPath)
        let float = Float(number)
        guard float.isFinite || !number.isFinite else {
            throw failure(codingPath, "the number \(number) is out of range for Float")
        }
        return float
    }

    static func unboxInteger<I: FixedWidthInteger>(_ value: JSONValue, codingPath: [any CodingKey]) throws -> I {
        let number = try unboxDouble(value, codingPath: codingPath)
        guard number.rounded(.towardZero) == number else {
            throw mismatch(codingPath, expected: "an integer (\(I.self))", found: value).withDetail(number)
        }
        guard let integer = I(exactly: number) else {
            throw failure(
                codingPath, "the number \(JSONValue.number(number).jsonString()) is out of range for \(I.self)")
        }
        return integer
    }

    static func unboxDate(_ value: JSONValue, codingPath: [any CodingKey], options: DecoderOptions) throws -> Date {
        switch options.dateStrategy {
        case .iso8601:
            let text = try unboxString(value, codingPath: codingPath)
            guard let milliseconds = ISO8601.parse(text) else {
                throw failure(
                    codingPath, "expected an ISO 8601 date-time such as 2024-05-01T12:00:00.000Z, found \"\(text)\"")
            }
            return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        case .millisecondsSince1970:
            return Date(timeIntervalSince1970: try unboxDouble(value, codingPath: codingPath) / 1000)
        case .secondsSince1970:
            return Date(timeIntervalSince1970: try unboxDouble(value, codingPath: codingPath))
        }
    }

    static func unbox<T: Decodable>(
        _ value: JSONValue, as type: T.Type, codingPath: [any CodingKey], options: DecoderOptions
    )
        throws -> T
    {
        let decoded: Any
        if T.self == JSONValue.self {
            decoded = value
        } else if T.self == String.self {
            decoded = try unboxString(value, codingPath: codingPath)
        } else if T.self == Date.self {
            decoded = try unboxDate(value, codingPath: codingPath, options: options)
        } else if T.self == Data.self {
            let text = try unboxString(value, codingPath: codingPath)
            guard let data = Data(base64Encoded: text) else {
                throw failure(codingPath, "expected base64-encoded data")
            }
            decoded = data
        } else if T.self == URL.self {
            let text = try unboxString(value, codingPath: codingPath)
            guard let url = URL(string: text) else {
                throw failure(codingPath, "expected a URL, found \"\(text)\"")
            }
            decoded = url
        } else if T.self == UUID.self {
            let text = try unboxString(value, codingPath: codingPath)
            guard let uuid = UUID(uuidString: text) else {
                throw failure(codingPath, "expected a UUID such as E621E1F8-C36C-495A-93FC-0C247A3E6E5F")
            }
            decoded = uuid
        } else if T.self == Decimal.self {
            let number = try unboxDouble(value, codingPath: codingPath)
            guard let decimal = Decimal(string: JSONValue.number(number).jsonString()) else {
                throw failure(codingPath, "the number \(number) cannot be represented as a Decimal")
            }
            decoded = decimal
        } else {
            return try T(from: JSONValueDecoderImpl(value: value, codingPath: codingPath, options: options))
        }
        guard let result = decoded as? T else {
            throw EventbaseError(.internalError, "JSONValueDecoder produced \(Swift.type(of: decoded)) for \(T.self)")
        }
        return result
    }
}

extension EventbaseError {
    fileprivate func withDetail(_ number: Double) -> EventbaseError {
        EventbaseError(code, message + " \(JSONValue.number(number).jsonString())", cause: cause)
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let object: JSONObject
    let codingPath: [any CodingKey]
    let options: DecoderOptions

    var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

    private func path(_ key: Key) -> [any CodingKey] { codingPath + [key] }

    private func value(for key: Key) throws -> JSONValue {
        guard let value = object[key.stringValue] else {
            throw EventbaseError(
                .decodingFailed,
                "Missing key '\(key.stringValue)' at \(describeCodingPath(codingPath)): "
                    + "the object has no such key; make the property optional or add the key")
        }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool { try value(for: key).isNull }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
        try JSONValueDecoderImpl.unboxBool(value(for: key), codingPath: path(key))
    }
    func decode(_ type: String.Type, forKey key: Key) throws -> String {
        try JSONValueDecoderImpl.unboxString(value(for: key), codingPath: path(key))
    }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
        try JSONValueDecoderImpl.unboxDouble(value(for: key), codingPath: path(key))
    }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float {
        try JSONValueDecoderImpl.unboxFloat(value(for: key), codingPath: path(key))
    }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decodeInteger(key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decodeInteger(key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decodeInteger(key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decodeInteger(key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decodeInteger(key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decodeInteger(key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decodeInteger(key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decodeInteger(key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decodeInteger(key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decodeInteger(key) }

    private func decodeInteger<I: FixedWidthInteger>(_ key: Key) throws -> I {
        try JSONValueDecoderImpl.unboxInteger(value(for: key), codingPath: path(key))
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try JSONValueDecoderImpl.unbox(value(for: key), as: T.self, codingPath: path(key), options: options)
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        let value = try value(for: key)
        guard case .object(let nested) = value else {
            throw JSONValueDecoderImpl.mismatch(path(key), expected: "object", found: value)
        }
        return KeyedDecodingContainer(
            KeyedContainer<NestedKey>(object: nested, codingPath: path(key), options: options))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        let value = try value(for: key)
        guard case .array(let elements) = value else {
            throw JSONValueDecoderImpl.mismatch(path(key), expected: "array", found: value)
        }
        return UnkeyedContainer(elements: elements, codingPath: path(key), options: options)
    }

    func superDecoder() throws -> any Decoder {
        let key = JSONCodingKey.superKey
        return JSONValueDecoderImpl(
            value: object[key.stringValue] ?? .null, codingPath: codingPath + [key], options: options)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        JSONValueDecoderImpl(value: object[key.stringValue] ?? .null, codingPath: path(key), options: options)
    }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let elements: [JSONValue]
    let codingPath: [any CodingKey]
    let options: DecoderOptions
    var currentIndex = 0

    init(elements: [JSONValue], codingPath: [any CodingKey], options: DecoderOptions) {
        self.elements = elements
        self.codingPath = codingPath
        self.options = options
    }

    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    private var currentPath: [any CodingKey] { codingPath + [JSONCodingKey(index: currentIndex)] }

    /// The element at `currentIndex`, without advancing.
    private mutating func next() throws -> JSONValue {
        guard currentIndex < elements.count else {
            throw EventbaseError(
                .decodingFailed,
                "Expected more elements at \(describeCodingPath(codingPath)): the array has only \(elements.count)")
        }
        let element = elements[currentIndex]
        return element
    }

    private mutating func decoded<T>(_ body: (JSONValue, [any CodingKey]) throws -> T) throws -> T {
        let result = try body(try next(), currentPath)
        currentIndex += 1
        return result
    }

    mutating func decodeNil() throws -> Bool {
        guard try next().isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try decoded(JSONValueDecoderImpl.unboxBool) }
    mutating func decode(_ type: String.Type) throws -> String { try decoded(JSONValueDecoderImpl.unboxString) }
    mutating func decode(_ type: Double.Type) throws -> Double { try decoded(JSONValueDecoderImpl.unboxDouble) }
    mutating func decode(_ type: Float.Type) throws -> Float { try decoded(JSONValueDecoderImpl.unboxFloat) }
    mutating func decode(_ type: Int.Type) throws -> Int { try decodeInteger() }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try decodeInteger() }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try decodeInteger() }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try decodeInteger() }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try decodeInteger() }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try decodeInteger() }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeInteger() }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeInteger() }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeInteger() }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeInteger() }

    private mutating func decodeInteger<I: FixedWidthInteger>() throws -> I {
        try decoded { value, path in try JSONValueDecoderImpl.unboxInteger(value, codingPath: path) }
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let options = options
        return try decoded { value, path in
            try JSONValueDecoderImpl.unbox(value, as: T.self, codingPath: path, options: options)
        }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type
    ) throws -> KeyedDecodingContainer<NestedKey> {
        let options = options
        return try decoded { value, path in
            guard case .object(let nested) = value else {
                throw JSONValueDecoderImpl.mismatch(path, expected: "object", found: value)
            }
            return KeyedDecodingContainer(KeyedContainer<NestedKey>(object: nested, codingPath: path, options: options))
        }
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let options = options
        return try decoded { value, path in
            guard case .array(let nested) = value else {
                throw JSONValueDecoderImpl.mismatch(path, expected: "array", found: value)
            }
            return UnkeyedContainer(elements: nested, codingPath: path, options: options)
        }
    }

    mutating func superDecoder() throws -> any Decoder {
        let options = options
        return try decoded { value, path in JSONValueDecoderImpl(value: value, codingPath: path, options: options) }
    }
}

private struct SingleValueContainer: SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [any CodingKey]
    let options: DecoderOptions

    func decodeNil() -> Bool { value.isNull }
    func decode(_ type: Bool.Type) throws -> Bool { try JSONValueDecoderImpl.unboxBool(value, codingPath: codingPath) }
    func decode(_ type: String.Type) throws -> String {
        try JSONValueDecoderImpl.unboxString(value, codingPath: codingPath)
    }
    func decode(_ type: Double.Type) throws -> Double {
        try JSONValueDecoderImpl.unboxDouble(value, codingPath: codingPath)
    }
    func decode(_ type: Float.Type) throws -> Float {
        try JSONValueDecoderImpl.unboxFloat(value, codingPath: codingPath)
    }
    func decode(_ type: Int.Type) throws -> Int { try decodeInteger() }
    func decode(_ type: Int8.Type) throws -> Int8 { try decodeInteger() }
    func decode(_ type: Int16.Type) throws -> Int16 { try decodeInteger() }
    func decode(_ type: Int32.Type) throws -> Int32 { try decodeInteger() }
    func decode(_ type: Int64.Type) throws -> Int64 { try decodeInteger() }
    func decode(_ type: UInt.Type) throws -> UInt { try decodeInteger() }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeInteger() }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeInteger() }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeInteger() }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeInteger() }

    private func decodeInteger<I: FixedWidthInteger>() throws -> I {
        try JSONValueDecoderImpl.unboxInteger(value, codingPath: codingPath)
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONValueDecoderImpl.unbox(value, as: T.self, codingPath: codingPath, options: options)
    }
}
