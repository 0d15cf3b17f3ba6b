import Foundation
import Testing

@testable import EventbaseCore

@Suite struct EventIDTests {
    @Test func eventIDsAreVersion4UUIDsInUUIDStringForm() throws {
        for _ in 0..<1_000 {
            let id = EventIDs.next()
            let uuid = try #require(UUID(uuidString: id), "\(id) is not a UUID")
            #expect(uuid.uuidString == id, "uppercase, as UUID().uuidString")
            let bytes = withUnsafeBytes(of: uuid.uuid) { Array($0) }
            #expect(bytes[6] >> 4 == 4, "version 4: \(id)")
            #expect(bytes[8] >> 6 == 0b10, "variant 1: \(id)")
        }
    }

    @Test func formattingPlacesEveryBitAndOnlySetsVersionAndVariant() {
        #expect(EventIDs.format(high: 0, low: 0) == "00000000-0000-4000-8000-000000000000")
        #expect(EventIDs.format(high: .max, low: .max) == "FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF")
        #expect(
            EventIDs.format(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210)
                == "01234567-89AB-4DEF-BEDC-BA9876543210")
    }

    @Test func eventIDsFromManyTasksAreUnique() async {
        let ids = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<8 { group.addTask { (0..<5_000).map { _ in EventIDs.next() } } }
            var all: [String] = []
            for await part in group { all += part }
            return all
        }
        #expect(Set(ids).count == 40_000)
    }
}
