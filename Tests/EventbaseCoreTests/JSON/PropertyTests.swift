import EventbaseTestKit
import Foundation
import Testing

@testable import EventbaseCore

@Suite struct PropertyTests {
    @Test(arguments: [1, 2, 3, 42, 2024] as [UInt64])
    func encodeThenParseIsIdentity(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<300 {
            let value = RandomJSON.value(using: &generator)
            let bytes = value.jsonBytes()
            let parsed = try JSONValue(jsonBytes: bytes)
            #expect(parsed == value, "\(String(decoding: bytes, as: UTF8.self))")
            // Key order survives, so re-encoding is byte-identical.
            #expect(parsed.jsonBytes() == bytes)
            #expect(try JSONValue(jsonBytes: value.jsonBytes(sortedKeys: true)) == value)
        }
    }

    @Test(arguments: [5, 6, 7] as [UInt64])
    func numbersRoundTripExactly(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<5_000 {
            let number = RandomJSON.number(using: &generator)
            let text = JSONValue.number(number).jsonString()
            let parsed = try JSONValue(jsonString: text).doubleValue
            let expected = number == 0 ? 0.0 : number  // -0 prints as 0
            #expect(parsed?.bitPattern == expected.bitPattern, "\(number) -> \(text)")
        }
    }

    @Test(arguments: [8, 9] as [UInt64])
    func valueCodersRoundTripRandomValues(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<200 {
            let value = RandomJSON.value(using: &generator)
            let encoded = try JSONValueEncoder().encode(value)
            #expect(encoded == value)
            #expect(try JSONValueDecoder().decode(JSONValue.self, from: value) == value)
        }
    }

    @Test func parserNeverCrashesOnMutatedInput() {
        var generator = SeededGenerator(seed: 99)
        let seeds = [
            #"{"a":[1,2.5e-3,{"b":"c\u00e9\n"}],"d":true,"e":null}"#, #"[-0.0,1e21,"\ud83d\ude00",[],{}]"#,
        ].map { Array($0.utf8) }
        let interesting: [UInt8] = Array(#"{}[],:"\-+.eE0u9 tfn"#.utf8) + [0x00, 0x80, 0xC3, 0xED, 0xF4, 0xFF]
        for _ in 0..<20_000 {
            var bytes = seeds[Int.random(in: 0..<seeds.count, using: &generator)]
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let position = Int.random(in: 0..<bytes.count, using: &generator)
                let byte = interesting[Int.random(in: 0..<interesting.count, using: &generator)]
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[position] = byte
                case 1: bytes.insert(byte, at: position)
                default: bytes.remove(at: position)
                }
                if bytes.isEmpty { bytes = [0x30] }
            }
            do {
                let value = try JSONValue(jsonBytes: bytes)
                // Whatever parses must re-encode to something that parses to the same value.
                #expect(try JSONValue(jsonBytes: value.jsonBytes()) == value)
            } catch let error as EventbaseError {
                #expect(error.code == .invalidJSON, "\(error)")
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
    }
}
