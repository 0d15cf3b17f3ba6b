import Eventbase
import Foundation
import Testing

/// A query whose equality index names thousands of candidates matches and decodes them in parts on
/// several threads; it must return what a scan of every record returns, also after the records the
/// index holds were changed (the index holds records, not keys: a stale one would show here).
@Suite struct IndexedQueryTests {
    /// The stores: one that keeps records packed (the index shares them) and one that does not.
    static let stores: [Bool] = [true, false]

    @Test(arguments: stores) func manyIndexedCandidatesGiveWhatAScanGives(packed: Bool) async throws {
        let builder = Eventbase.builder(streamName: "indexed")
        let eventbase = try await (packed ? builder.inMemory() : builder.inMemory().stateStore(MetaCountingStore()))
            .build()
        func write(round: Int) async throws {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<8 {
                    group.addTask {
                        for index in stride(from: writer, to: 10_000, by: 8) {
                            // A put on the in-memory backend may complete without suspending: give the
                            // other tests running in this process a turn now and then.
                            if index % 512 < 8 { await Task.yield() }
                            // Every other record is in Oslo; a third of those are inactive. Later rounds
                            // move some records to Lima, delete some, and change the rest in place.
                            if round > 0, index % 10 == 1 {
                                _ = try await eventbase.delete("k\(index)")
                                continue
                            }
                            let city: JSONValue =
                                round > 0 && index % 10 == 2 ? "Lima" : index % 2 == 0 ? "Oslo" : "Rome"
                            _ = try await eventbase.put(
                                "k\(index)",
                                [
                                    "city": city, "n": .number(Double(index)), "round": .number(Double(round)),
                                    "active": .bool((index + round) % 3 != 0),
                                ])
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        func ids(_ documents: [JSONValue]) -> [String] { documents.compactMap { $0["id"]?.stringValue }.sorted() }
        func compare() async throws {
            for (indexed, scanned) in [
                (["city": "Oslo"], ["$or": [["city": "Oslo"]]]),
                (["city": "Oslo", "active": true], ["$or": [["city": "Oslo", "active": true]]]),
                (["city": ["$in": ["Oslo", "Lima"]]], ["$or": [["city": "Oslo"], ["city": "Lima"]]]),
            ] as [(JSONValue, JSONValue)] {
                let fromIndex = try await eventbase.query(indexed)
                let fromScan = try await eventbase.query(scanned)
                #expect(fromIndex.count == fromScan.count)
                #expect(ids(fromIndex) == ids(fromScan))
                let sameDocuments = Set(fromIndex) == Set(fromScan)
                #expect(sameDocuments)
            }
        }
        try await write(round: 0)
        try await compare()
        #expect(try await eventbase.query(["city": "Oslo"]).count == 5_000)
        #expect(eventbase.indexedFields == ["city"])
        // Changed under the index: every record again, with new fields, some moved, some deleted.
        try await write(round: 1)
        try await compare()
        let oslo = try await eventbase.query(["city": "Oslo"])
        #expect(oslo.count == 4_000)
        #expect(oslo.allSatisfy { $0["round"] == 1 })
        #expect(try await eventbase.query(["city": "Lima"]).count == 1_000)
        await eventbase.close()
    }
}
