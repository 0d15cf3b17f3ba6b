import Foundation
import Testing

@testable import EventbaseCore

@Suite struct CodableTests {
    enum Role: String, Codable, Equatable { case admin, member }
    enum Level: Int, Codable, Equatable {
        case low = 1
        case high = 3
    }

    struct Address: Codable, Equatable {
        var street: String
        var zip: String?
    }

    struct User: Codable, Equatable {
        var name: String
        var age: Int
        var score: Double
        var ratio: Float
        var active: Bool
        var role: Role
        var level: Level
        var tags: [String]
        var address: Address
        var previous: [Address]
        var nickname: String?
        var born: Date
        var attributes: [String: Int]
        var matrix: [[Int8]]
        var optionals: [Int?]
        var avatar: Data
        var homepage: URL
        var id: UUID
        var balance: Decimal
        var extra: JSONValue
        var small: UInt8
        var big: Int64
    }

    static let user = User(
        name: "Ann", age: 31, score: 98.6, ratio: 0.1, active: true, role: .admin, level: .high,
        tags: ["a", "b"], address: Address(street: "Main St 1", zip: nil),
        previous: [Address(street: "Old Rd", zip: "12345")], nickname: nil,
        born: Date(timeIntervalSince1970: 1_714_564_800.123), attributes: ["z": 1, "a": 2, "m": 3],
        matrix: [[1, 2], [], [-3]], optionals: [1, nil, 3], avatar: Data([0, 1, 2, 255]),
        homepage: URL(string: "https://example.com/a?b=c")!,
        id: UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!,
        balance: Decimal(string: "12.34")!, extra: ["x": [1, nil]], small: 255, big: -9_007_199_254_740_992)

    @Test func structRoundTrip() throws {
        let value = try JSONValueEncoder().encode(Self.user)
        let decoded = try JSONValueDecoder().decode(User.self, from: value)
        #expect(decoded == Self.user)
        // And through bytes.
        let reparsed = try JSONValue(jsonBytes: value.jsonBytes())
        #expect(try JSONValueDecoder().decode(User.self, from: reparsed) == Self.user)
    }

    @Test func encodedShape() throws {
        let value = try JSONValueEncoder().encode(Self.user)
        let keys = value.objectValue?.keys ?? []
        #expect(keys.first == "name")
        #expect(!keys.contains("nickname"))  // nil optionals in keyed containers are omitted
        #expect(value["born"] == "2024-05-01T12:00:00.123Z")
        #expect(value["ratio"] == 0.1)
        #expect(value["role"] == "admin")
        #expect(value["level"] == 3)
        #expect(value["address"]?.jsonString() == #"{"street":"Main St 1"}"#)
        #expect(value["attributes"]?.jsonString() == #"{"a":2,"m":3,"z":1}"#)
        #expect(value["optionals"]?.jsonString() == "[1,null,3]")
        #expect(value["avatar"] == "AAEC/w==")
        #expect(value["homepage"] == "https://example.com/a?b=c")
        #expect(value["id"] == "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")
        #expect(value["balance"] == 12.34)
        #expect(value["extra"] == ["x": [1, nil]])
    }

    @Test func keyOrderFollowsEncodeOrder() throws {
        struct Ordered: Encodable {
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: JSONCodingKey.self)
                try container.encode(1, forKey: JSONCodingKey(stringValue: "zeta"))
                try container.encode(2, forKey: JSONCodingKey(stringValue: "alpha"))
                try container.encode(3, forKey: JSONCodingKey(stringValue: "mid"))
                try container.encode(4, forKey: JSONCodingKey(stringValue: "zeta"))
            }
        }
        #expect(try JSONValueEncoder().encode(Ordered()).jsonString() == #"{"zeta":4,"alpha":2,"mid":3}"#)
    }

    @Test func dateStrategies() throws {
        let date = Date(timeIntervalSince1970: 1_714_564_800)
        struct Box: Codable, Equatable { var date: Date }
        for (strategy, expected) in [
            (JSONValueEncoder.DateEncodingStrategy.iso8601, JSONValue.string("2024-05-01T12:00:00.000Z")),
            (.millisecondsSince1970, .number(1_714_564_800_000)), (.secondsSince1970, .number(1_714_564_800)),
        ] {
            let encoded = try JSONValueEncoder(dateEncodingStrategy: strategy).encode(Box(date: date))
            #expect(encoded["date"] == expected)
        }
        let decoder = JSONValueDecoder()
        for text in [
            "2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000Z", "2024-05-01T14:00:00+02:00",
            "2024-05-01T07:30:00.000-04:30", "2024-05-01t12:00:00z",
        ] {
            #expect(try decoder.decode(Box.self, from: ["date": .string(text)]).date == date, "\(text)")
        }
        #expect(
            try JSONValueDecoder(dateDecodingStrategy: .millisecondsSince1970)
                .decode(Box.self, from: ["date": 1_714_564_800_000]).date == date)
        #expect(
            try JSONValueDecoder(dateDecodingStrategy: .secondsSince1970)
                .decode(Box.self, from: ["date": 1_714_564_800]).date == date)
        let error = expectEventbaseError(.decodingFailed) {
            _ = try decoder.decode(Box.self, from: ["date": "yesterday"])
        }
        #expect(error?.message.contains("date") == true)
    }

    @Test func optionalsAndMissingKeys() throws {
        struct Partial: Codable, Equatable {
            var a: Int?
            var b: String?
            var c: [Int?]?
        }
        let decoder = JSONValueDecoder()
        #expect(try decoder.decode(Partial.self, from: [:]) == Partial(a: nil, b: nil, c: nil))
        #expect(try decoder.decode(Partial.self, from: ["a": nil, "b": "x"]) == Partial(a: nil, b: "x", c: nil))
        #expect(try decoder.decode(Partial.self, from: ["c": [1, nil]]) == Partial(a: nil, b: nil, c: [1, nil]))
        #expect(try JSONValueEncoder().encode(Partial(a: 1, b: nil, c: nil)) == ["a": 1])
        #expect(try JSONValueEncoder().encode(Int?.none) == .null)
        #expect(try decoder.decode(Int?.self, from: .null) == nil)
    }

    @Test func topLevelValuesAndCollections() throws {
        let encoder = JSONValueEncoder()
        let decoder = JSONValueDecoder()
        #expect(try encoder.encode(42) == 42)
        #expect(try encoder.encode("s") == "s")
        #expect(try encoder.encode([1.5, 2]) == [1.5, 2])
        #expect(try encoder.encode(["b": [1], "a": [2]]).jsonString() == #"{"a":[2],"b":[1]}"#)
        #expect(try decoder.decode([String: [Int]].self, from: ["a": [1], "b": []]) == ["a": [1], "b": []])
        #expect(try decoder.decode(Set<String>.self, from: ["x", "y"]) == ["x", "y"])
        #expect(try decoder.decode(UInt64.self, from: 9_007_199_254_740_992) == 9_007_199_254_740_992)
        #expect(try decoder.decode(Float.self, from: 0.1) == Float(0.1))
        #expect(try decoder.decode(Int.self, from: -0.0) == 0)
    }

    @Test func jsonValueAndObjectAreCodable() throws {
        let value: JSONValue = ["z": 1, "a": [true, nil, "s", 1.5, ["k": "v"]]]
        #expect(try JSONValueEncoder().encode(value).jsonString() == value.jsonString())
        let decoded = try JSONValueDecoder().decode(JSONValue.self, from: value)
        #expect(decoded.objectValue?.keys == ["z", "a"])
        let object: JSONObject = ["b": 1, "a": 2]
        #expect(try JSONValueDecoder().decode(JSONObject.self, from: .object(object)).keys == ["b", "a"])
        #expect(try JSONValueEncoder().encode(object) == .object(object))
        expectEventbaseError(.decodingFailed) { _ = try JSONValueDecoder().decode(JSONObject.self, from: [1]) }

        // Through Foundation's coders, whose objects have no order: keys come back sorted.
        let data = try JSONEncoder().encode(value)
        let viaFoundation = try JSONDecoder().decode(JSONValue.self, from: data)
        #expect(viaFoundation == value)
        #expect(viaFoundation.objectValue?.keys == ["a", "z"])
        let viaFoundationObject = try JSONDecoder().decode(JSONObject.self, from: JSONEncoder().encode(object))
        #expect(viaFoundationObject == object)
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data("true".utf8)) == true)
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data("1".utf8)) == 1)
    }

    @Test(
        arguments: [
            (JSONValue.number(1.5), "Int", "integer"), (.number(300), "UInt8", "out of range"),
            (.number(-1), "UInt", "out of range"), (.string("1"), "Int", "found string"),
            (.number(1e40), "Float", "out of range"), (.null, "String", "found null"),
            (.number(1e300), "Int64", "out of range"),
        ] as [(JSONValue, String, String)])
    func scalarDecodeErrors(value: JSONValue, type: String, fragment: String) {
        let decoder = JSONValueDecoder()
        let error = expectEventbaseError(.decodingFailed) {
            switch type {
            case "Int": _ = try decoder.decode(Int.self, from: value)
            case "UInt8": _ = try decoder.decode(UInt8.self, from: value)
            case "UInt": _ = try decoder.decode(UInt.self, from: value)
            case "Float": _ = try decoder.decode(Float.self, from: value)
            case "Int64": _ = try decoder.decode(Int64.self, from: value)
            default: _ = try decoder.decode(String.self, from: value)
            }
        }
        #expect(error?.message.contains(fragment) == true, "\(String(describing: error))")
    }

    @Test func decodeErrorsNameThePath() throws {
        var value = try JSONValueEncoder().encode(Self.user)
        value["previous"] = [["street": "x"], ["street": 5]]
        let typeError = expectEventbaseError(.decodingFailed) {
            _ = try JSONValueDecoder().decode(User.self, from: value)
        }
        #expect(
            typeError?.message == "Expected string at previous[1].street but found number",
            "\(String(describing: typeError))")

        var missing = try JSONValueEncoder().encode(Self.user)
        missing["address"] = ["zip": "1"]
        let missingError = expectEventbaseError(.decodingFailed) {
            _ = try JSONValueDecoder().decode(User.self, from: missing)
        }
        #expect(missingError?.message.contains("Missing key 'street' at address") == true)

        var badEnum = try JSONValueEncoder().encode(Self.user)
        badEnum["role"] = "owner"
        let enumError = expectEventbaseError(.decodingFailed) {
            _ = try JSONValueDecoder().decode(User.self, from: badEnum)
        }
        #expect(enumError?.message.contains("at role") == true, "\(String(describing: enumError))")

        var badNumber = try JSONValueEncoder().encode(Self.user)
        badNumber["matrix"] = [[1], [2, 200]]
        let numberError = expectEventbaseError(.decodingFailed) {
            _ = try JSONValueDecoder().decode(User.self, from: badNumber)
        }
        #expect(numberError?.message.contains("matrix[1][1]") == true, "\(String(describing: numberError))")

        let notObject = expectEventbaseError(.decodingFailed) {
            _ = try JSONValueDecoder().decode(User.self, from: [1])
        }
        #expect(notObject?.message == "Expected object at the top level but found array")
    }

    @Test func encodeErrors() throws {
        struct Bad: Encodable {
            var value: Double
            var nested: [Double]
        }
        let error = expectEventbaseError(.encodingFailed) {
            _ = try JSONValueEncoder().encode(Bad(value: 1, nested: [1, .nan]))
        }
        #expect(error?.message.contains("nested[1]") == true, "\(String(describing: error))")
        expectEventbaseError(.encodingFailed) { _ = try JSONValueEncoder().encode(UInt64.max - 1) }
        expectEventbaseError(.encodingFailed) { _ = try JSONValueEncoder().encode(Float.infinity) }
        #expect(try JSONValueEncoder().encode(Int64(1) << 60) == .number(1_152_921_504_606_846_976))
    }

    final class Animal: Codable {
        var name: String
        init(name: String) { self.name = name }
    }

    final class Dog: Codable {
        var animal: Animal
        var breed: String
        var legs: [Int]

        init(name: String, breed: String) {
            animal = Animal(name: name)
            self.breed = breed
            legs = [1, 2, 3, 4]
        }

        enum CodingKeys: String, CodingKey { case breed, info, legs }
        enum InfoKeys: String, CodingKey { case kind }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(breed, forKey: .breed)
            try animal.encode(to: container.superEncoder())
            var info = container.nestedContainer(keyedBy: InfoKeys.self, forKey: .info)
            try info.encode("dog", forKey: .kind)
            var legsContainer = container.nestedUnkeyedContainer(forKey: .legs)
            for leg in legs {
                try legsContainer.encode(leg)
            }
            var nested = legsContainer.nestedUnkeyedContainer()
            try nested.encode(true)
            try animal.encode(to: legsContainer.superEncoder())
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            breed = try container.decode(String.self, forKey: .breed)
            animal = try Animal(from: container.superDecoder())
            let info = try container.nestedContainer(keyedBy: InfoKeys.self, forKey: .info)
            guard try info.decode(String.self, forKey: .kind) == "dog" else {
                throw DecodingError.dataCorruptedError(forKey: .kind, in: info, debugDescription: "not a dog")
            }
            var legsContainer = try container.nestedUnkeyedContainer(forKey: .legs)
            var legs: [Int] = []
            while legs.count < 4 {
                legs.append(try legsContainer.decode(Int.self))
            }
            var nested = try legsContainer.nestedUnkeyedContainer()
            #expect(try nested.decode(Bool.self))
            #expect(nested.isAtEnd)
            _ = try Animal(from: legsContainer.superDecoder())
            #expect(legsContainer.isAtEnd)
            self.legs = legs
        }
    }

    @Test func nestedContainersAndSuperEncoders() throws {
        let value = try JSONValueEncoder().encode(Dog(name: "Rex", breed: "lab"))
        #expect(
            value.jsonString()
                == #"{"breed":"lab","super":{"name":"Rex"},"info":{"kind":"dog"},"legs":[1,2,3,4,[true],{"name":"Rex"}]}"#
        )
        let dog = try JSONValueDecoder().decode(Dog.self, from: value)
        #expect(dog.animal.name == "Rex")
        #expect(dog.legs == [1, 2, 3, 4])

        var wrong = value
        wrong["info"] = ["kind": "cat"]
        let error = expectEventbaseError(.decodingFailed) { _ = try JSONValueDecoder().decode(Dog.self, from: wrong) }
        #expect(error?.message.contains("info.kind") == true, "\(String(describing: error))")
    }

    @Test func userInfoIsPassedThrough() throws {
        let key = CodingUserInfoKey(rawValue: "flag")!
        struct Probe: Codable {
            var seen: Bool
            init(seen: Bool) { self.seen = seen }
            init(from decoder: any Decoder) throws {
                seen = decoder.userInfo[CodingUserInfoKey(rawValue: "flag")!] as? Bool ?? false
            }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.singleValueContainer()
                try container.encode(encoder.userInfo[CodingUserInfoKey(rawValue: "flag")!] as? Bool ?? false)
            }
        }
        #expect(try JSONValueEncoder(userInfo: [key: true]).encode(Probe(seen: false)) == true)
        #expect(try JSONValueDecoder(userInfo: [key: true]).decode(Probe.self, from: nil).seen)
    }
}
