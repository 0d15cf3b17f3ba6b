import EventbaseTestKit
import Testing

@testable import EventbaseCore

/// Asserts that `body` throws an ``EventbaseError`` with `code`, and returns it.
@discardableResult
func expectEventbaseError(
    _ code: EventbaseError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) -> EventbaseError? {
    do {
        try body()
        Issue.record("Expected EventbaseError.\(code), but nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as EventbaseError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("Expected EventbaseError.\(code), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Random JSON values for property-style tests.
enum RandomJSON {
    static func value(depth: Int = 0, using generator: inout SeededGenerator) -> JSONValue {
        let choice = Int.random(in: 0..<(depth >= 4 ? 4 : 6), using: &generator)
        switch choice {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2: return .number(number(using: &generator))
        case 3: return .string(string(using: &generator))
        case 4:
            let count = Int.random(in: 0...5, using: &generator)
            return .array((0..<count).map { _ in value(depth: depth + 1, using: &generator) })
        default:
            var object = JSONObject()
            for _ in 0..<Int.random(in: 0...6, using: &generator) {
                object[string(using: &generator)] = value(depth: depth + 1, using: &generator)
            }
            return .object(object)
        }
    }

    static func number(using generator: inout SeededGenerator) -> Double {
        switch Int.random(in: 0..<4, using: &generator) {
        case 0: return Double(Int.random(in: -1_000_000...1_000_000, using: &generator))
        case 1: return Double.random(in: -1...1, using: &generator)
        case 2:
            return Double.random(in: -10...10, using: &generator)
                * pow10(Int.random(in: -30...30, using: &generator))
        default:
            // Any finite bit pattern.
            while true {
                let candidate = Double(bitPattern: generator.next())
                if candidate.isFinite { return candidate }
            }
        }
    }

    static func pow10(_ exponent: Int) -> Double {
        var result = 1.0
        for _ in 0..<abs(exponent) { result *= 10 }
        return exponent < 0 ? 1 / result : result
    }

    static let alphabet: [Unicode.Scalar] = [
        "a", "b", "z", "A", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}", "\u{7F}", "é", "€", "中",
        "😀", "\u{2028}", "\u{FFFD}", "\u{10FFFF}",
    ]

    static func string(using generator: inout SeededGenerator) -> String {
        var scalars = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0...8, using: &generator) {
            scalars.append(alphabet[Int.random(in: 0..<alphabet.count, using: &generator)])
        }
        return String(scalars)
    }
}
