import EventbaseTestKit
import Testing

@testable import EventbaseCore

@Suite struct JSONDecodingTests {
    @Test func parsesScalarsAndContainers() throws {
        #expect(try JSONValue(jsonString: "null") == .null)
        #expect(try JSONValue(jsonString: " true ") == .bool(true))
        #expect(try JSONValue(jsonString: "false") == .bool(false))
        #expect(try JSONValue(jsonString: "-12.5e1") == .number(-125))
        #expect(try JSONValue(jsonString: #""hi""#) == .string("hi"))
        #expect(try JSONValue(jsonString: "[]") == .array([]))
        #expect(try JSONValue(jsonString: "{}") == .object(JSONObject()))
        let value = try JSONValue(jsonString: #"{"a":[1,{"b":null}],"c":"d"}"#)
        #expect(value == ["a": [1, ["b": nil]], "c": "d"])
        #expect(value.objectValue?.keys == ["a", "c"])
    }

    @Test func allEntryPointsAgree() throws {
        let text = #"{"k":[1,2,"\u00e9"]}"#
        let fromString = try JSONValue(jsonString: text)
        #expect(try JSONValue(jsonBytes: Array(text.utf8)) == fromString)
        #expect(try JSONValue(parsing: text.utf8) == fromString)
        #expect(try JSONValue(parsing: ArraySlice(Array(text.utf8))) == fromString)
        #expect(fromString == ["k": [1, 2, "é"]])
    }

    @Test func negativeZeroIsKept() throws {
        let value = try JSONValue(jsonString: "-0")
        #expect(value.doubleValue?.sign == .minus)
        #expect(value.jsonString() == "0")
    }

    @Test(
        arguments: [
            ("0", 0.0), ("-0.0", -0.0), ("1", 1), ("123456789012345", 123_456_789_012_345),
            ("1234567890123456789", 1_234_567_890_123_456_768), ("0.1", 0.1), ("1.5", 1.5), ("1e21", 1e21),
            ("1E-7", 1e-7), ("123e-20", 123e-20), ("9007199254740993", 9_007_199_254_740_992),
            ("5e-324", .leastNonzeroMagnitude), ("2.4703282292062327e-324", 0),
            ("2.4703282292062328e-324", .leastNonzeroMagnitude),
            ("1.7976931348623157e308", 1.797_693_134_862_315_7e308), ("1e-400", 0), ("0.30000000000000004", 0.1 + 0.2),
            ("4.35", 4.35), ("1.00000000000000011102230246251565404236316680908203125", 1.0),
            ("1.00000000000000011102230246251565404236316680908203126", 1.000_000_000_000_000_2),
            ("123456.789e3", 123_456_789), ("0.000000000000000000000000000001", 1e-30),
        ] as [(String, Double)])
    func numbersRoundCorrectly(text: String, expected: Double) throws {
        let value = try JSONValue(jsonString: text)
        #expect(value.doubleValue?.bitPattern == expected.bitPattern, "\(text) -> \(String(describing: value))")
    }

    @Test func fastPathAgreesWithStandardLibrary() throws {
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<20_000 {
            let digits = Int.random(in: 1...15, using: &generator)
            var mantissa = ""
            for position in 0..<digits {
                let digit = Int.random(in: (position == 0 ? 1 : 0)...9, using: &generator)
                mantissa += String(digit)
            }
            let point = Int.random(in: 0...digits, using: &generator)
            var text = mantissa
            if point > 0 && point < digits {
                text.insert(".", at: text.index(text.startIndex, offsetBy: point))
            }
            if Bool.random(using: &generator) {
                text += "e\(Int.random(in: -25...25, using: &generator))"
            }
            let parsed = try JSONValue(jsonString: text).doubleValue
            #expect(parsed?.bitPattern == Double(text)?.bitPattern, "\(text)")
        }
    }

    @Test func escapes() throws {
        #expect(try JSONValue(jsonString: #""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{8}\u{C}\n\r\t"))
        #expect(try JSONValue(jsonString: #""\u0041\u00e9\u20AC\ud83d\ude00""#) == .string("Aé€😀"))
        #expect(try JSONValue(jsonString: #""a\u0000b""#) == .string("a\u{0}b"))
    }

    @Test(
        arguments: [
            (#""\ud800""#, "\u{FFFD}"), (#""\udc00""#, "\u{FFFD}"), (#""\ud800x""#, "\u{FFFD}x"),
            (#""\ud800\u0041""#, "\u{FFFD}A"), (#""\ud800\ud800\udc00""#, "\u{FFFD}\u{10000}"),
            (#""\udc00\ud800""#, "\u{FFFD}\u{FFFD}"), (#""\ud83d\\ude00""#, "\u{FFFD}\\ude00"),
        ] as [(String, String)])
    func loneSurrogatesBecomeReplacementCharacters(text: String, expected: String) throws {
        #expect(try JSONValue(jsonString: text) == .string(expected))
    }

    @Test func duplicateKeysLastValueFirstPosition() throws {
        let value = try JSONValue(jsonString: #"{"a":1,"b":2,"a":3}"#)
        #expect(value.objectValue?.keys == ["a", "b"])
        #expect(value["a"] == 3)
        #expect(value.jsonString() == #"{"a":3,"b":2}"#)
        // Also past the object's index threshold.
        var text = "{"
        for i in 0..<50 { text += #""k\#(i)":\#(i),"# }
        text += #""k3":"last"}"#
        let big = try JSONValue(jsonString: text)
        #expect(big.objectValue?.count == 50)
        #expect(big.objectValue?.keys[3] == "k3")
        #expect(big["k3"] == "last")
        // Nested containers, closed between the members of the objects around them.
        let nested = try JSONValue(jsonString: #"{"a":{"x":1,"x":2},"b":[1,{"c":2,"c":[3,{"d":4}]}],"a":{"y":1}}"#)
        #expect(nested.jsonString() == #"{"a":{"y":1},"b":[1,{"c":[3,{"d":4}]}]}"#)
        text = "{"
        for i in 0..<20 { text += #""k\#(i)":{"inner\#(i)":[\#(i),{"k\#(i)":\#(i)}]},"# }
        text += #""k5":"again","k19":{"z":[]}}"#
        let table = try #require(JSONValue(jsonString: text).objectValue)
        #expect(table.count == 20)
        #expect(table["k5"] == "again")
        #expect(table["k19"] == ["z": []])
        #expect(table["k7"] == ["inner7": [7, ["k7": 7]]])
        #expect(table.keys == (0..<20).map { "k\($0)" })
    }

    /// The envelope keys (`type`, `id`, `data`, `timestamp`) are read as constants: they must parse
    /// like any other key, spelled with escapes or not, near-misses included.
    @Test func envelopeKeysParseLikeAnyKey() throws {
        let text =
            #"{"type":1,"typ":2,"types":3,"id":4,"i":5,"ids":6,"timestamp":7,"time":8,"data":{"id":9},"#
            + #""d\u0061ta":10,"":11,"t":12}"#
        let value = try #require(JSONValue(jsonString: text).objectValue)
        #expect(value.keys == ["type", "typ", "types", "id", "i", "ids", "timestamp", "time", "data", "", "t"])
        #expect(value["data"] == 10)
        #expect(value["type"] == 1)
        #expect(value["timestamp"] == 7)
        // Keys cut short at the end of the input are errors, not known keys.
        for truncated in [#"{"type"#, #"{"id"#, #"{"timestamp":1,"data"#, #"{"t"#] {
            expectEventbaseError(.invalidJSON) { _ = try JSONValue(jsonString: truncated) }
        }
        // The string limit holds for them too.
        expectEventbaseError(.limitExceeded) {
            _ = try JSONValue(jsonString: #"{"timestamp":1}"#, limits: JSONLimits(maxStringBytes: 8))
        }
        _ = try JSONValue(jsonString: #"{"timestamp":1}"#, limits: JSONLimits(maxStringBytes: 9))
    }

    static let malformed: [String] = [
        "", " ", "[", "]", "{", "}", "[1,]", "[1 2]", "[,1]", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":}", "{a:1}",
        "{'a':1}", "{\"a\":1 \"b\":2}", "{1:2}", "[1]]", "[1] [2]", "1 2", "01", "-01", "00", "1.", ".5", "-",
        "+1", "1e", "1e+", "1.e5", "0x10", "NaN", "Infinity", "-Infinity", "nul", "tru", "falsey", "True", "NULL",
        "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\", "\"tab\there\"", "\"line\nbreak\"", "\"\u{1}\"",
        "// comment\n1", "/* c */ 1", "[1] // c", "\u{FEFF}1", "'single'", "[\"a\" \"b\"]", "{\"a\":1}}",
        "1e400", "-1e400", "[1e999]", "\"\\ud800\\u\"", "[1,\n]", "{\"a\":[}", "[{]", "\u{0}", "[1]\u{0}",
        "[-]", "[--1]", "1.5e", "[.]", "{\"a\"}", "{,}", "[1,,2]", "\"\\\"",
    ]

    @Test(arguments: malformed)
    func malformedInputIsInvalidJSON(text: String) {
        let error = expectEventbaseError(.invalidJSON) { _ = try JSONValue(jsonString: text) }
        #expect(error?.message.contains("at byte") == true, "\(String(describing: error))")
    }

    static let invalidUTF8: [[UInt8]] = [
        [0x22, 0xFF, 0x22], [0x22, 0xC0, 0x80, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xE2, 0x82, 0x22],
        [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],
        [0x22, 0xF8, 0x88, 0x80, 0x80, 0x80, 0x22],
        [0x22, 0xE0, 0x80, 0xAF, 0x22], [0x22, 0x80, 0x22], [0x22, 0x5C, 0x6E, 0xFE, 0x22], [0xC3, 0xA9],
        [0x22, 0xF0, 0x9F, 0x98],
    ]

    @Test(arguments: invalidUTF8)
    func invalidUTF8IsInvalidJSON(bytes: [UInt8]) {
        expectEventbaseError(.invalidJSON) { _ = try JSONValue(jsonBytes: bytes) }
    }

    @Test func errorMessagesNameTheOffset() {
        let error = expectEventbaseError(.invalidJSON) { _ = try JSONValue(jsonString: #"{"a": [1, 2,]}"#) }
        #expect(error?.message.contains("Trailing comma at byte 11") == true, "\(String(describing: error))")
        let garbage = expectEventbaseError(.invalidJSON) { _ = try JSONValue(jsonString: "[1] x") }
        #expect(garbage?.message.contains("at byte 4") == true, "\(String(describing: garbage))")
    }

    @Test func depthLimit() throws {
        let ok = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
        _ = try JSONValue(jsonString: ok)
        let tooDeep = String(repeating: "[", count: 129) + String(repeating: "]", count: 129)
        expectEventbaseError(.limitExceeded) { _ = try JSONValue(jsonString: tooDeep) }
        let objects = String(repeating: #"{"a":"#, count: 4) + "1" + String(repeating: "}", count: 4)
        _ = try JSONValue(jsonString: objects, limits: JSONLimits(maxDepth: 4))
        expectEventbaseError(.limitExceeded) {
            _ = try JSONValue(jsonString: objects, limits: JSONLimits(maxDepth: 3))
        }
        _ = try JSONValue(jsonString: "1", limits: JSONLimits(maxDepth: 0))
        expectEventbaseError(.limitExceeded) { _ = try JSONValue(jsonString: "[]", limits: JSONLimits(maxDepth: 0)) }
    }

    @Test func deepNestingIsAnErrorNotAStackOverflow() {
        let bytes = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        expectEventbaseError(.limitExceeded) { _ = try JSONValue(jsonBytes: bytes) }
        // With the depth limit lifted the parser is iterative, so it still cannot overflow the stack.
        expectEventbaseError(.invalidJSON) {
            _ = try JSONValue(jsonBytes: bytes, limits: JSONLimits(maxDepth: .max))
        }
        let objects = Array(String(repeating: #"{"a":"#, count: 100_000).utf8)
        expectEventbaseError(.limitExceeded) { _ = try JSONValue(jsonBytes: objects) }
    }

    @Test func sizeLimits() throws {
        let text = #"["abcdef",[1,2,3]]"#
        _ = try JSONValue(jsonString: text, limits: JSONLimits(maxBytes: text.utf8.count))
        expectEventbaseError(.limitExceeded) {
            _ = try JSONValue(jsonString: text, limits: JSONLimits(maxBytes: text.utf8.count - 1))
        }
        _ = try JSONValue(jsonString: text, limits: JSONLimits(maxStringBytes: 6))
        expectEventbaseError(.limitExceeded) {
            _ = try JSONValue(jsonString: text, limits: JSONLimits(maxStringBytes: 5))
        }
        expectEventbaseError(.limitExceeded) {
            _ = try JSONValue(jsonString: #"{"abcdef":1}"#, limits: JSONLimits(maxStringBytes: 5))
        }
        expectEventbaseError(.limitExceeded) {
            _ = try JSONValue(jsonString: #""\u00e9\u00e9\u00e9""#, limits: JSONLimits(maxStringBytes: 5))
        }
        _ = try JSONValue(jsonString: text, limits: JSONLimits(maxElements: 3))
        expectEventbaseError(.limitExceeded) {
            _ = try JSONValue(jsonString: text, limits: JSONLimits(maxElements: 2))
        }
        expectEventbaseError(.limitExceeded) {
            _ = try JSONValue(jsonString: #"{"a":1,"b":2,"c":3}"#, limits: JSONLimits(maxElements: 2))
        }
        #expect(JSONLimits.default == JSONLimits(maxDepth: 128, maxBytes: 16 * 1024 * 1024))
    }

    @Test func largeInputsAreLinear() throws {
        // 200,000 elements, a 1 MB string and a 20,000-key object parse quickly (no quadratic paths).
        let array = "[" + Array(repeating: "1.25", count: 200_000).joined(separator: ",") + "]"
        #expect(try JSONValue(jsonString: array).arrayValue?.count == 200_000)
        let long = "\"" + String(repeating: "a\\n", count: 350_000) + "\""
        #expect(try JSONValue(jsonString: long).stringValue?.utf8.count == 700_000)
        let object = "{" + (0..<20_000).map { #""k\#($0)":\#($0)"# }.joined(separator: ",") + "}"
        #expect(try JSONValue(jsonString: object).objectValue?.count == 20_000)
    }
}
