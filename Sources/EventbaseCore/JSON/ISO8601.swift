/// ISO 8601 date-times in the form JavaScript's `Date.prototype.toISOString` writes:
/// `2024-05-01T12:00:00.000Z`, UTC, with milliseconds.
///
/// Computed arithmetically (proleptic Gregorian calendar), without `DateFormatter` or `Calendar`.
package enum ISO8601 {
    private static let millisecondsPerDay: Int64 = 86_400_000

    /// Formats milliseconds since 1970-01-01T00:00:00Z as `YYYY-MM-DDTHH:MM:SS.sssZ`.
    ///
    /// Years outside 0...9999 use the extended form JavaScript uses: `+010000-01-01T00:00:00.000Z`,
    /// `-000001-12-31T23:59:59.999Z`.
    /// - Parameter milliseconds: Milliseconds since the Unix epoch; negative for earlier dates.
    /// - Returns: The ISO 8601 text.
    package static func format(millisecondsSince1970 milliseconds: Int64) -> String {
        let (days, remainder) = floorDivide(milliseconds, millisecondsPerDay)
        let (year, month, day) = civil(fromDays: days)
        let millisecond = remainder % 1000
        let totalSeconds = remainder / 1000
        let second = totalSeconds % 60
        let minute = (totalSeconds / 60) % 60
        let hour = totalSeconds / 3600

        var bytes: [UInt8] = []
        bytes.reserveCapacity(30)
        if year >= 0 && year <= 9999 {
            appendPadded(year, width: 4, to: &bytes)
        } else {
            bytes.append(year < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            appendPadded(year.magnitude, width: 6, to: &bytes)
        }
        bytes.append(UInt8(ascii: "-"))
        appendPadded(month, width: 2, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        appendPadded(day, width: 2, to: &bytes)
        bytes.append(UInt8(ascii: "T"))
        appendPadded(hour, width: 2, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        appendPadded(minute, width: 2, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        appendPadded(second, width: 2, to: &bytes)
        bytes.append(UInt8(ascii: "."))
        appendPadded(millisecond, width: 3, to: &bytes)
        bytes.append(UInt8(ascii: "Z"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS(.fraction)?(Z|±HH:MM)` into milliseconds since 1970.
    ///
    /// Accepts any number of fraction digits (beyond milliseconds they are truncated), lowercase `t`
    /// and `z`, and the extended years `±YYYYYY` that ``format(millisecondsSince1970:)`` writes.
    /// Rejects everything else, including out-of-range fields (`2024-02-30`, `24:00`, leap second `60`).
    /// - Parameter text: The ISO 8601 text.
    /// - Returns: Milliseconds since the Unix epoch, or `nil` if `text` is not such a date-time.
    package static func parse(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { parse($0) }
    }

    private static func parse(_ text: UnsafeBufferPointer<UInt8>) -> Int64? {
        var index = 0
        func number(_ width: Int) -> Int64? {
            guard text.count - index >= width else { return nil }
            var result: Int64 = 0
            for _ in 0..<width {
                let byte = text[index]
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                result = result * 10 + Int64(byte - 0x30)
                index += 1
            }
            return result
        }
        func expect(_ byte: UInt8, or other: UInt8? = nil) -> Bool {
            guard index < text.count, text[index] == byte || text[index] == other else { return false }
            index += 1
            return true
        }

        let year: Int64
        if index < text.count && (text[index] == UInt8(ascii: "+") || text[index] == UInt8(ascii: "-")) {
            let negative = text[index] == UInt8(ascii: "-")
            index += 1
            guard let magnitude = number(6) else { return nil }
            year = negative ? -magnitude : magnitude
        } else {
            guard let value = number(4) else { return nil }
            year = value
        }
        guard expect(UInt8(ascii: "-")), let month = number(2), (1...12).contains(month),
            expect(UInt8(ascii: "-")), let day = number(2), day >= 1, day <= daysInMonth(year: year, month: month),
            expect(UInt8(ascii: "T"), or: UInt8(ascii: "t")),
            let hour = number(2), hour <= 23, expect(UInt8(ascii: ":")),
            let minute = number(2), minute <= 59, expect(UInt8(ascii: ":")),
            let second = number(2), second <= 59
        else { return nil }

        var millisecond: Int64 = 0
        if expect(UInt8(ascii: ".")) {
            var digits = 0
            while index < text.count, text[index] >= 0x30 && text[index] <= 0x39 {
                if digits < 3 {
                    millisecond = millisecond * 10 + Int64(text[index] - 0x30)
                }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 3) { millisecond *= 10 }
        }

        var offsetMinutes: Int64 = 0
        guard index < text.count else { return nil }
        let zone = text[index]
        index += 1
        if zone == UInt8(ascii: "Z") || zone == UInt8(ascii: "z") {
            offsetMinutes = 0
        } else if zone == UInt8(ascii: "+") || zone == UInt8(ascii: "-") {
            guard let offsetHour = number(2), offsetHour <= 23, expect(UInt8(ascii: ":")),
                let offsetMinute = number(2), offsetMinute <= 59
            else { return nil }
            offsetMinutes = offsetHour * 60 + offsetMinute
            if zone == UInt8(ascii: "-") { offsetMinutes = -offsetMinutes }
        } else {
            return nil
        }
        guard index == text.count else { return nil }

        let days = daysFromCivil(year: year, month: month, day: day)
        let secondsOfDay = hour * 3600 + minute * 60 + second - offsetMinutes * 60
        return days * millisecondsPerDay + secondsOfDay * 1000 + millisecond
    }

    // MARK: Calendar arithmetic (Howard Hinnant's civil-from-days algorithms)

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        var quotient = value / divisor
        var remainder = value % divisor
        if remainder < 0 {
            quotient -= 1
            remainder += divisor
        }
        return (quotient, remainder)
    }

    private static func isLeapYear(_ year: Int64) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    private static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 to a year, month (1...12) and day (1...31).
    private static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = floorDivide(z, 146_097).quotient
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    /// A year, month (1...12) and day (1...31) to days since 1970-01-01.
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = floorDivide(shiftedYear, 400).quotient
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func appendPadded<I: BinaryInteger>(_ value: I, width: Int, to bytes: inout [UInt8]) {
        let digits = Array(String(value).utf8)
        if digits.count < width {
            bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - digits.count))
        }
        bytes.append(contentsOf: digits)
    }
}
