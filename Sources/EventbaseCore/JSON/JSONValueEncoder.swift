import Foundation

/// Encodes `Encodable` values directly into a ``JSONValue``, without going through bytes.
///
/// ```swift
/// struct User: Codable { var name: String; var born: Date }
/// let value = try JSONValueEncoder().encode(User(name: "Ann", born: date))
/// // ["name": "Ann", "born": "1990-05-01T00:00:00.000Z"]
/// ```
///
/// - Objects keep the order in which the type encodes its keys (for synthesized `Codable`, the
///   declaration order). `[String: T]` dictionaries, which have no order, encode with sorted keys,
///   so equal values always encode to equal bytes.
/// - `nil` optionals in a keyed container are omitted (synthesized `encodeIfPresent`); elsewhere
///   they encode as `null`.
/// - `Date` follows ``dateEncodingStrategy``; `Data` is a base64 string; `URL` its absolute string;
///   `UUID` its uppercase string; `Decimal` a number.
/// - Integers must be exactly representable as a `Double` (magnitude up to 2^53, or a multiple of a
///   power of two beyond); NaN and infinities cannot be encoded.
/// - Errors are ``EventbaseError`` with code `encodingFailed`, naming the coding path.
public struct JSONValueEncoder: Sendable {
    /// How `Date` values are encoded.
    public enum DateEncodingStrategy: Sendable, Hashable {
        /// An ISO 8601 string in UTC with milliseconds, as JavaScript's `toISOString`: `2024-05-01T12:00:00.000Z`.
        case iso8601
        /// A number: whole milliseconds since 1970-01-01T00:00:00Z (as JavaScript's `Date.getTime`).
        case millisecondsSince1970
        /// A number: seconds since 1970-01-01T00:00:00Z, with fraction.
        case secondsSince1970
    }

    /// How `Date` values are encoded; ``DateEncodingStrategy/iso8601`` by default.
    public var dateEncodingStrategy: DateEncodingStrategy
    /// Values that `Encodable` implementations can read from `encoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable]

    /// Creates an encoder.
    /// - Parameters:
    ///   - dateEncodingStrategy: How `Date` values are encoded.
    ///   - userInfo: Values that `Encodable` implementations can read from `encoder.userInfo`.
    public init(
        dateEncodingStrategy: DateEncodingStrategy = .iso8601, userInfo: [CodingUserInfoKey: any Sendable] = [:]
    ) {
        self.dateEncodingStrategy = dateEncodingStrategy
        self.userInfo = userInfo
    }

    /// Encodes `value` as a ``JSONValue``.
    /// - Parameter value: The value to encode.
    /// - Returns: The JSON value.
    /// - Throws: ``EventbaseError`` with code `encodingFailed`.
    public func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let options = EncoderOptions(dateStrategy: dateEncodingStrategy, userInfo: userInfo)
        do {
            return try JSONValueEncoderImpl.box(value, codingPath: [], options: options).resolved()
        } catch let error as EventbaseError {
            throw error
        } catch let EncodingError.invalidValue(_, context) {
            throw EventbaseError(
                .encodingFailed,
                "Cannot encode the value at \(describeCodingPath(context.codingPath)): \(context.debugDescription)",
                cause: context.underlyingError)
        } catch {
            throw EventbaseError(.encodingFailed, "Cannot encode \(T.self): \(error)", cause: error)
        }
    }
}

/// Renders a coding path for messages: `the top level`, `user.tags[2].name`.
internal func describeCodingPath(_ path: [any CodingKey]) -> String {
    guard !path.isEmpty else { return "the top level" }
    var text = ""
    for key in path {
        if let index = key.intValue {
            text += "[\(index)]"
        } else {
            if !text.isEmpty { text += "." }
            text += key.stringValue
        }
    }
    return text
}

internal struct EncoderOptions {
    let dateStrategy: JSONValueEncoder.DateEncodingStrategy
    let userInfo: [CodingUserInfoKey: any Sendable]
}

/// A node of the value being built: containers are reference boxes so nested containers and
/// super-encoders can fill them after they are inserted.
internal enum EncodedNode {
    case value(JSONValue)
    case array(EncodedArray)
    case object(EncodedObject)
    /// A super-encoder's output, read when the tree is resolved.
    case deferred(JSONValueEncoderImpl)

    func resolved() -> JSONValue {
        switch self {
        case .value(let value): value
        case .array(let array): .array(array.elements.map { $0.resolved() })
        case .object(let object): .object(object.resolved())
        case .deferred(let encoder): encoder.node?.resolved() ?? .object(JSONObject())
        }
    }
}

internal final class EncodedArray {
    var elements: [EncodedNode] = []
}

internal final class EncodedObject {
    var entries: [(key: String, node: EncodedNode)] = []
    /// Built once the object is large, so replacing a key stays O(1).
    var positions: [String: Int]?

    func set(_ node: EncodedNode, for key: String) {
        if let positions {
            if let position = positions[key] {
                entries[position].node = node
                return
            }
        } else if let position = entries.firstIndex(where: { $0.key == key }) {
            entries[position].node = node
            return
        }
        entries.append((key, node))
        if positions != nil {
            positions?[key] = entries.count - 1
        } else if entries.count > 12 {
            var built = [String: Int](minimumCapacity: entries.count)
            for (offset, entry) in entries.enumerated() {
                built[entry.key] = offset
            }
            positions = built
        }
    }

    func resolved() -> JSONObject {
        var object = JSONObject()
        object.entries.reserveCapacity(entries.count)
        for (key, node) in entries {
            object[key] = node.resolved()
        }
        return object
    }
}

/// Sorts `[String: T]` dictionaries by key when encoding, so their output is deterministic.
private protocol StringKeyedDictionaryEncodable {
    func encodeSorted(codingPath: [any CodingKey], options: EncoderOptions) throws -> EncodedNode
}

extension Dictionary: StringKeyedDictionaryEncodable where Key == String, Value: Encodable {
    fileprivate func encodeSorted(codingPath: [any CodingKey], options: EncoderOptions) throws -> EncodedNode {
        let object = EncodedObject()
        object.entries.reserveCapacity(count)
        for key in keys.sorted() {
            guard let value = self[key] else { continue }
            let path = codingPath + [JSONCodingKey(stringValue: key)]
            object.entries.append((key, try JSONValueEncoderImpl.box(value, codingPath: path, options: options)))
        }
        return .object(object)
    }
}

/// The `Encoder` behind ``JSONValueEncoder``.
internal final class JSONValueEncoderImpl: Encoder {
    let codingPath: [any CodingKey]
    let options: EncoderOptions
    /// What this encoder's value encoded, if anything yet.
    var node: EncodedNode?

    var userInfo: [CodingUserInfoKey: Any] { options.userInfo }

    init(codingPath: [any CodingKey], options: EncoderOptions) {
        self.codingPath = codingPath
        self.options = options
    }

    func storeValue(_ value: JSONValue) {
        node = .value(value)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let object: EncodedObject
        if case .object(let existing) = node {
            object = existing
        } else {
            object = EncodedObject()
            node = .object(object)
        }
        return KeyedEncodingContainer(KeyedContainer<Key>(object: object, codingPath: codingPath, options: options))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let array: EncodedArray
        if case .array(let existing) = node {
            array = existing
        } else {
            array = EncodedArray()
            node = .array(array)
        }
        return UnkeyedContainer(array: array, codingPath: codingPath, options: options)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueContainer(encoder: self)
    }

    // MARK: Boxing

    static func failure(_ path: [any CodingKey], _ message: String) -> EventbaseError {
        EventbaseError(.encodingFailed, "Cannot encode the value at \(describeCodingPath(path)): \(message)")
    }

    static func boxDouble(_ value: Double, codingPath: [any CodingKey]) throws -> JSONValue {
        guard value.isFinite else {
            throw failure(codingPath, "\(value) is not a finite number and JSON has no NaN or Infinity")
        }
        return .number(value)
    }

    static func boxFloat(_ value: Float, codingPath: [any CodingKey]) throws -> JSONValue {
        guard value.isFinite else {
            throw failure(codingPath, "\(value) is not a finite number and JSON has no NaN or Infinity")
        }
        // The shortest decimal for the Float, so 0.1 as Float encodes as 0.1, not 0.10000000149011612.
        return .number(Double(value.description) ?? Double(value))
    }

    static func boxInteger<I: BinaryInteger>(_ value: I, codingPath: [any CodingKey]) throws -> JSONValue {
        guard let double = Double(exactly: value) else {
            throw failure(
                codingPath,
                "the integer \(value) (\(I.self)) cannot be represented exactly as a JSON number (a Double); "
                    + "encode it as a String instead")
        }
        return .number(double)
    }

    static func boxDate(_ date: Date, options: EncoderOptions) -> JSONValue {
        switch options.dateStrategy {
        case .iso8601:
            .string(ISO8601.format(millisecondsSince1970: wholeMilliseconds(date)))
        case .millisecondsSince1970:
            .number(Double(wholeMilliseconds(date)))
        case .secondsSince1970:
            .number(date.timeIntervalSince1970)
        }
    }

    /// Milliseconds since 1970, rounded to the nearest millisecond (clamped to ±2^53 for absurd dates).
    static func wholeMilliseconds(_ date: Date) -> Int64 {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded()
        let limit = 9_007_199_254_740_992.0
        guard milliseconds.isFinite else { return 0 }
        return Int64(min(max(milliseconds, -limit), limit))
    }

    /// Encodes any value, handling the types with a special JSON form.
    static func box<T: Encodable>(_ value: T, codingPath: [any CodingKey], options: EncoderOptions) throws
        -> EncodedNode
    {
        switch value {
        case let value as JSONValue:
            return .value(value)
        case let value as JSONObject:
            return .value(.object(value))
        case let value as String:
            return .value(.string(value))
        case let value as Date:
            return .value(boxDate(value, options: options))
        case let value as Data:
            return .value(.string(value.base64EncodedString()))
        case let value as URL:
            return .value(.string(value.absoluteString))
        case let value as UUID:
            return .value(.string(value.uuidString))
        case let value as Decimal:
            guard value.isFinite, let double = Double(value.description), double.isFinite else {
                throw failure(codingPath, "the Decimal \(value) is not a finite number")
            }
            return .value(.number(double))
        case let value as any StringKeyedDictionaryEncodable:
            return try value.encodeSorted(codingPath: codingPath, options: options)
        default:
            let encoder = JSONValueEncoderImpl(codingPath: codingPath, options: options)
            try value.encode(to: encoder)
            return encoder.node ?? .object(EncodedObject())
        }
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let object: EncodedObject
    let codingPath: [any CodingKey]
    let options: EncoderOptions

    private func path(_ key: Key) -> [any CodingKey] { codingPath + [key] }

    mutating func encodeNil(forKey key: Key) throws { object.set(.value(.null), for: key.stringValue) }
    mutating func encode(_ value: Bool, forKey key: Key) throws {
        object.set(.value(.bool(value)), for: key.stringValue)
    }
    mutating func encode(_ value: String, forKey key: Key) throws {
        object.set(.value(.string(value)), for: key.stringValue)
    }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        object.set(.value(try JSONValueEncoderImpl.boxDouble(value, codingPath: path(key))), for: key.stringValue)
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        object.set(.value(try JSONValueEncoderImpl.boxFloat(value, codingPath: path(key))), for: key.stringValue)
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { try encodeInteger(value, forKey: key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try encodeInteger(value, forKey: key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try encodeInteger(value, forKey: key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try encodeInteger(value, forKey: key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try encodeInteger(value, forKey: key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try encodeInteger(value, forKey: key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try encodeInteger(value, forKey: key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try encodeInteger(value, forKey: key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try encodeInteger(value, forKey: key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try encodeInteger(value, forKey: key) }

    private func encodeInteger<I: BinaryInteger>(_ value: I, forKey key: Key) throws {
        object.set(.value(try JSONValueEncoderImpl.boxInteger(value, codingPath: path(key))), for: key.stringValue)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        object.set(try JSONValueEncoderImpl.box(value, codingPath: path(key), options: options), for: key.stringValue)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let nested = EncodedObject()
        object.set(.object(nested), for: key.stringValue)
        return KeyedEncodingContainer(
            KeyedContainer<NestedKey>(object: nested, codingPath: path(key), options: options))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = EncodedArray()
        object.set(.array(nested), for: key.stringValue)
        return UnkeyedContainer(array: nested, codingPath: path(key), options: options)
    }

    mutating func superEncoder() -> any Encoder {
        superEncoder(key: JSONCodingKey.superKey)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        superEncoder(key: key)
    }

    private func superEncoder(key: any CodingKey) -> any Encoder {
        let encoder = JSONValueEncoderImpl(codingPath: codingPath + [key], options: options)
        object.set(.deferred(encoder), for: key.stringValue)
        return encoder
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let array: EncodedArray
    let codingPath: [any CodingKey]
    let options: EncoderOptions

    var count: Int { array.elements.count }

    private var nextPath: [any CodingKey] { codingPath + [JSONCodingKey(index: array.elements.count)] }

    mutating func encodeNil() throws { array.elements.append(.value(.null)) }
    mutating func encode(_ value: Bool) throws { array.elements.append(.value(.bool(value))) }
    mutating func encode(_ value: String) throws { array.elements.append(.value(.string(value))) }
    mutating func encode(_ value: Double) throws {
        array.elements.append(.value(try JSONValueEncoderImpl.boxDouble(value, codingPath: nextPath)))
    }
    mutating func encode(_ value: Float) throws {
        array.elements.append(.value(try JSONValueEncoderImpl.boxFloat(value, codingPath: nextPath)))
    }
    mutating func encode(_ value: Int) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int8) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int16) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int32) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int64) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt8) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt16) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt32) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt64) throws { try encodeInteger(value) }

    private func encodeInteger<I: BinaryInteger>(_ value: I) throws {
        array.elements.append(.value(try JSONValueEncoderImpl.boxInteger(value, codingPath: nextPath)))
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        array.elements.append(try JSONValueEncoderImpl.box(value, codingPath: nextPath, options: options))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
        -> KeyedEncodingContainer<NestedKey>
    {
        let nested = EncodedObject()
        let path = nextPath
        array.elements.append(.object(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(object: nested, codingPath: path, options: options))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = EncodedArray()
        let path = nextPath
        array.elements.append(.array(nested))
        return UnkeyedContainer(array: nested, codingPath: path, options: options)
    }

    mutating func superEncoder() -> any Encoder {
        let encoder = JSONValueEncoderImpl(codingPath: nextPath, options: options)
        array.elements.append(.deferred(encoder))
        return encoder
    }
}

private struct SingleValueContainer: SingleValueEncodingContainer {
    let encoder: JSONValueEncoderImpl

    var codingPath: [any CodingKey] { encoder.codingPath }

    private func store(_ value: JSONValue) { encoder.node = .value(value) }

    mutating func encodeNil() throws { store(.null) }
    mutating func encode(_ value: Bool) throws { store(.bool(value)) }
    mutating func encode(_ value: String) throws { store(.string(value)) }
    mutating func encode(_ value: Double) throws {
        store(try JSONValueEncoderImpl.boxDouble(value, codingPath: codingPath))
    }
    mutating func encode(_ value: Float) throws {
        store(try JSONValueEncoderImpl.boxFloat(value, codingPath: codingPath))
    }
    mutating func encode(_ value: Int) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int8) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int16) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int32) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int64) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt8) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt16) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt32) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt64) throws { try encodeInteger(value) }

    private func encodeInteger<I: BinaryInteger>(_ value: I) throws {
        store(try JSONValueEncoderImpl.boxInteger(value, codingPath: codingPath))
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        encoder.node = try JSONValueEncoderImpl.box(value, codingPath: codingPath, options: encoder.options)
    }
}
