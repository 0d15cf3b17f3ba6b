import Eventbase
import Foundation
import Testing

/// A query whose equality index names thousands of candidates matches and decodes them in parts on
/// several threads; it must return what a scan of every record returns.
@Suite struct IndexedQueryTests {
    @Test func manyIndexedCandidatesGiveWhatAScanGives() async throws {
        let eventbase = try await Eventbase.builder(streamName: "indexed").inMemory().build()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for index in stride(from: writer, to: 10_000, by: 8) {
                        // Every other record is in Oslo; a third of those are inactive.
                        let city: JSONValue = index % 2 == 0 ? "Oslo" : "Rome"
                        _ = try await eventbase.put(
                            "k\(index)", ["city": city, "n": .number(Double(index)), "active": .bool(index % 3 != 0)])
                    }
                }
            }
            try await group.waitForAll()
        }
        func ids(_ documents: [JSONValue]) -> [String] { documents.compactMap { $0["id"]?.stringValue }.sorted() }
        for (indexed, scanned) in [
            (["city": "Oslo"], ["$or": [["city": "Oslo"]]]),
            (["city": "Oslo", "active": true], ["$or": [["city": "Oslo", "active": true]]]),
        ] as [(JSONValue, JSONValue)] {
            let fromIndex = try await eventbase.query(indexed)
            let fromScan = try await eventbase.query(scanned)
            #expect(fromIndex.count == fromScan.count)
            #expect(ids(fromIndex) == ids(fromScan))
            #expect(Set(fromIndex) == Set(fromScan))
        }
        #expect(try await eventbase.query(["city": "Oslo"]).count == 5_000)
        #expect(eventbase.indexedFields == ["city"])
        await eventbase.close()
    }
}
