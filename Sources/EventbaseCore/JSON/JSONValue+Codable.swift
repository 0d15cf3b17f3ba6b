extension JSONValue: Codable {
    /// Decodes any JSON value.
    ///
    /// With ``JSONValueDecoder`` the value is taken as is, keeping object key order. With other
    /// decoders it tries, in order: `null`, a Boolean, a number, a string, an array, an object (whose
    /// keys are then sorted, since generic decoders do not report key order).
    public init(from decoder: any Decoder) throws {
        if let decoder = decoder as? JSONValueDecoderImpl {
            self = decoder.value
            return
        }
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(JSONObject(value))
        } else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "Expected a JSON value (null, boolean, number, string, array or object)")
        }
    }

    /// Encodes the value; objects encode as keyed containers in key insertion order.
    public func encode(to encoder: any Encoder) throws {
        if let encoder = encoder as? JSONValueEncoderImpl {
            encoder.storeValue(self)
            return
        }
        switch self {
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case .bool(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .number(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .string(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .array(let elements):
            var container = encoder.unkeyedContainer()
            for element in elements {
                try container.encode(element)
            }
        case .object(let object):
            try object.encode(to: encoder)
        }
    }
}

extension JSONObject: Codable {
    /// Decodes a JSON object. See ``JSONValue/init(from:)`` for key order.
    public init(from decoder: any Decoder) throws {
        if let decoder = decoder as? JSONValueDecoderImpl, case .object(let object) = decoder.value {
            self = object
            return
        }
        let container = try decoder.singleValueContainer()
        self.init(try container.decode([String: JSONValue].self))
    }

    /// Encodes the object as a keyed container, in key insertion order.
    public func encode(to encoder: any Encoder) throws {
        if let encoder = encoder as? JSONValueEncoderImpl {
            encoder.storeValue(.object(self))
            return
        }
        var container = encoder.container(keyedBy: JSONCodingKey.self)
        for (key, value) in entries {
            try container.encode(value, forKey: JSONCodingKey(stringValue: key))
        }
    }
}

/// A coding key for any string or integer.
internal struct JSONCodingKey: CodingKey, Sendable {
    let stringValue: String
    let intValue: Int?

    init(stringValue: String) {
        self.stringValue = stringValue
        self.intValue = nil
    }

    init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }

    init(index: Int) {
        self.stringValue = "Index \(index)"
        self.intValue = index
    }

    static let superKey = JSONCodingKey(stringValue: "super")
}
