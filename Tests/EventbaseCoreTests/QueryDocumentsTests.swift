import Foundation
import Testing

@testable import EventbaseCore

/// Unordered query results are decoded on several threads when there are many; they must be what
/// decoding them one by one gives, in the same order.
@Suite struct QueryDocumentsTests {
    @Test(arguments: [0, 1, 4_095, 4_096, 10_001] as [Int], [nil, ["name", "address.city"]] as [[String]?])
    func documentsAreDecodedInOrderWhateverTheirNumber(count: Int, paths: [String]?) async {
        let meta = Meta(
            dateCreated: Date(timeIntervalSince1970: 1), dateModified: Date(timeIntervalSince1970: 2), changes: 1,
            revision: 1)
        let records: [StoredRecord] = (0..<count).map { index in
            let data: JSONValue = [
                "id": .string("k\(index)"), "name": .string("n\(index)"), "n": .number(Double(index)),
                "address": ["city": .string("c\(index % 7)"), "zip": "0150"],
            ]
            // Both kinds a store may hand over.
            return index % 3 == 0
                ? .decoded(Record(key: "k\(index)", data: data, meta: meta))
                : .packed(PackedRecord(data: data, meta: meta))
        }
        let documents = await QueryRunner.documents(of: records, projecting: paths)
        let expected = records.map { QueryRunner.project($0.data, paths: paths) }
        #expect(documents == expected)
        if count > 0, paths != nil {
            #expect(
                documents[count - 1] == [
                    "name": .string("n\(count - 1)"), "address": ["city": .string("c\((count - 1) % 7)")],
                ])
        }
    }
}
