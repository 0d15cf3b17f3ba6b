import Testing

@testable import EventbaseCore

@Suite struct JSONEncodingTests {
    @Test func numbersMatchJavaScript() {
        var failures: [String] = []
        for (bits, expected) in numberFixtures {
            let value = Double(bitPattern: bits)
            let actual = JSONValue.number(value).jsonString()
            if actual != expected {
                failures.append("\(value) (0x\(String(bits, radix: 16))): got \(actual), want \(expected)")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) mismatches:\n\(failures.joined(separator: "\n"))")
        #expect(numberFixtures.count > 500)
    }

    @Test(
        arguments: [
            (0.0, "0"), (-0.0, "0"), (1, "1"), (-1, "-1"), (0.1, "0.1"), (1.5, "1.5"), (100, "100"),
            (1e21, "1e+21"), (1e-7, "1e-7"), (123e-20, "1.23e-18"), (9_007_199_254_740_992, "9007199254740992"),
            (9_007_199_254_740_994, "9007199254740994"), (.leastNonzeroMagnitude, "5e-324"),
            (1.797_693_134_862_315_7e308, "1.7976931348623157e+308"), (0.000001, "0.000001"), (1234.5678, "1234.5678"),
            (1e15, "1000000000000000"), (1e16, "10000000000000000"), (1e20, "100000000000000000000"),
            (123_456_789_012_345_683_968, "123456789012345680000"), (1.5e21, "1.5e+21"), (-2.5e-8, "-2.5e-8"),
            (Double.nan, "null"), (Double.infinity, "null"), (-Double.infinity, "null"),
        ] as [(Double, String)])
    func namedNumbers(value: Double, expected: String) {
        #expect(JSONValue.number(value).jsonString() == expected)
    }

    @Test func stringsMatchJavaScript() {
        for (value, expected) in stringFixtures {
            #expect(JSONValue.string(value).jsonString() == expected, "\(value.debugDescription)")
        }
    }

    @Test func documentsMatchJavaScript() throws {
        for (input, expected) in documentFixtures {
            let value = try JSONValue(jsonString: input)
            #expect(value.jsonString() == expected, "\(input)")
            #expect(value.jsonBytes() == Array(expected.utf8))
        }
    }

    @Test func keysKeepInsertionOrder() {
        var object = JSONObject()
        object["b"] = 1
        object["a"] = 2
        object["c"] = [3, "x"]
        object["b"] = 4
        #expect(JSONValue.object(object).jsonString() == #"{"b":4,"a":2,"c":[3,"x"]}"#)
    }

    @Test func sortedKeys() {
        let value: JSONValue = ["b": 1, "a": ["z": true, "y": nil], "C": [["k2": 1, "k1": 2]]]
        #expect(value.jsonString(sortedKeys: true) == #"{"C":[{"k1":2,"k2":1}],"a":{"y":null,"z":true},"b":1}"#)
        #expect(value.jsonString() == #"{"b":1,"a":{"z":true,"y":null},"C":[{"k2":1,"k1":2}]}"#)
    }

    @Test func largeObjectsAndNonASCIIKeys() throws {
        var object = JSONObject()
        for i in 0..<100 {
            object["key\(i)"] = .number(Double(i))
        }
        object["clé"] = "\u{1F600}"
        let text = JSONValue.object(object).jsonString()
        #expect(text.hasPrefix(#"{"key0":0,"key1":1,"#))
        #expect(text.hasSuffix(#""key99":99,"clé":"😀"}"#))
        #expect(try JSONValue(jsonString: text) == .object(object))
    }

    @Test func writeAppends() {
        var output = Array("prefix:".utf8)
        JSONValue.array([1, "two", nil]).write(into: &output, sortedKeys: false)
        #expect(String(decoding: output, as: UTF8.self) == #"prefix:[1,"two",null]"#)
    }
}
