import Eventbase
import EventbaseTestKit
import Foundation
import PropertyBased
import Testing

/// Random keys round-trip byte-exactly through the in-memory backend and never alias.
@Suite struct MemoryKeyPropertyTests {
    static let keySets = Gen<UInt32>.value().array(of: 1...16).map { RandomKeys.key(from: $0) }.array(of: 1...12)

    /// Every key, and its NFC and NFD forms, reads back its own record, on the writer and on a replica.
    @Test func randomKeysRoundTripAndNeverAlias() async {
        await propertyCheck(count: 60, input: Self.keySets) { keys in
            let candidates = keys.flatMap {
                [$0, $0.precomposedStringWithCanonicalMapping, $0.decomposedStringWithCanonicalMapping]
            }
            var distinct: [[UInt8]: String] = [:]
            for key in candidates { distinct[Array(key.utf8)] = key }
            let server = InMemoryLogServer()
            let writer = try await Eventbase.builder(streamName: "keys").inMemory(server: server).build()
            for (index, key) in distinct.values.enumerated() {
                _ = try await writer.put(key, ["n": .number(Double(index))])
            }
            let replica = try await Eventbase.builder(streamName: "keys").inMemory(server: server).build()
            for instance in [writer, replica] {
                for (index, key) in distinct.values.enumerated() {
                    let found = try await instance.get(key)
                    #expect(found?.data["n"] == .number(Double(index)))
                    #expect(found.map { Array($0.key.utf8) } == Array(key.utf8))
                }
                let listed = try await instance.keys().map { Array($0.utf8) }
                #expect(listed.count == distinct.count)
                #expect(Set(listed) == Set(distinct.keys))
            }
            await writer.close()
            await replica.close()
        }
    }
}
