import Foundation
import Testing

@testable import EventbaseCore

@Suite struct ISO8601Tests {
    @Test(
        arguments: [
            (0, "1970-01-01T00:00:00.000Z"), (1_714_564_800_000, "2024-05-01T12:00:00.000Z"),
            (1_714_564_800_123, "2024-05-01T12:00:00.123Z"), (-1, "1969-12-31T23:59:59.999Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"), (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
            (253_402_300_800_000, "+010000-01-01T00:00:00.000Z"), (-62_167_219_200_000, "0000-01-01T00:00:00.000Z"),
            (-62_167_219_200_001, "-000001-12-31T23:59:59.999Z"),
            (-8_640_000_000_000_000, "-271821-04-20T00:00:00.000Z"),
            (8_640_000_000_000_000, "+275760-09-13T00:00:00.000Z"), (4_107_542_400_000, "2100-03-01T00:00:00.000Z"),
        ] as [(Int64, String)])
    func formatsAsJavaScript(milliseconds: Int64, expected: String) {
        #expect(ISO8601.format(millisecondsSince1970: milliseconds) == expected)
        #expect(ISO8601.parse(expected) == milliseconds)
    }

    @Test func parsesVariants() {
        #expect(ISO8601.parse("2024-05-01T12:00:00Z") == 1_714_564_800_000)
        #expect(ISO8601.parse("2024-05-01T12:00:00.5Z") == 1_714_564_800_500)
        #expect(ISO8601.parse("2024-05-01T12:00:00.123456789Z") == 1_714_564_800_123)
        #expect(ISO8601.parse("2024-05-01T13:00:00+01:00") == 1_714_564_800_000)
        #expect(ISO8601.parse("2024-05-01T00:00:00-12:00") == 1_714_564_800_000)
    }

    @Test(
        arguments: [
            "", "2024-05-01", "2024-05-01T12:00Z", "2024-05-01T12:00:00", "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z", "2024-04-31T00:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T12:60:00Z",
            "2024-05-01T12:00:60Z", "2024-05-01T12:00:00.Z", "2024-05-01 12:00:00Z", "2024-05-01T12:00:00+0100",
            "2024-05-01T12:00:00Zjunk", "24-05-01T12:00:00Z", "2024-5-01T12:00:00Z", "+2024-05-01T12:00:00Z",
            "2024-05-01T12:00:00+24:00", "２024-05-01T12:00:00Z",
        ])
    func rejectsInvalid(text: String) {
        #expect(ISO8601.parse(text) == nil)
    }

    @Test func roundTripsEveryDayAcrossCenturies() {
        var milliseconds: Int64 = -5_000_000_000_000
        while milliseconds < 5_000_000_000_000 {
            let text = ISO8601.format(millisecondsSince1970: milliseconds)
            #expect(ISO8601.parse(text) == milliseconds, "\(text)")
            milliseconds += 86_400_000 * 7 + 3_600_007
        }
    }
}
