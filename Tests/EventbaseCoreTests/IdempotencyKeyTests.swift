import Foundation
import Testing

@testable import EventbaseCore

struct IdempotencyKeyTests {
    private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (String(repeating: "a", count: 1000), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"),
        // Lengths around the padding boundary (55, 56 and 64 bytes).
        (String(repeating: "x", count: 55), "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072"),
        (String(repeating: "x", count: 56), "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e"),
        (String(repeating: "x", count: 64), "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c"),
    ])
    func sha256MatchesTheStandardsVectors(_ input: String, _ expected: String) {
        #expect(hex(SHA256.hash(Array(input.utf8))) == expected)
    }

    @Test func derivedIdentifiersAreStableUUIDsThatDependOnEveryInput() {
        let id = IdempotencyKeys.eventID(operation: "put", key: "k", idempotencyKey: "r1")
        #expect(id == IdempotencyKeys.eventID(operation: "put", key: "k", idempotencyKey: "r1"))
        #expect(UUID(uuidString: id) != nil)
        #expect(id.dropFirst(14).first == "8")
        let others = [
            IdempotencyKeys.eventID(operation: "delete", key: "k", idempotencyKey: "r1"),
            IdempotencyKeys.eventID(operation: "put", key: "k2", idempotencyKey: "r1"),
            IdempotencyKeys.eventID(operation: "put", key: "k", idempotencyKey: "r2"),
            // Lengths are part of the input: moving a character between parts changes the id.
            IdempotencyKeys.eventID(operation: "put", key: "kr", idempotencyKey: "1"),
        ]
        #expect(Set(others + [id]).count == 5)
        let key = IdempotencyKeys.insertKey(idempotencyKey: "r1")
        #expect(key == key.lowercased() && UUID(uuidString: key) != nil)
        #expect(key != IdempotencyKeys.insertKey(idempotencyKey: "r2"))
    }

    @Test func emptyAndOverLongKeysAreRefused() {
        #expect(throws: EventbaseError.self) { try IdempotencyKeys.validate("") }
        #expect(throws: EventbaseError.self) {
            try IdempotencyKeys.validate(String(repeating: "é", count: 257))
        }
        #expect(throws: Never.self) { try IdempotencyKeys.validate(String(repeating: "x", count: 512)) }
    }
}
