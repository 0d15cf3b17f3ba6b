import EventbaseCore
import EventbaseTestKit
import Foundation
import Testing

/// Matching behaviour checked against JavaScript `RegExp.prototype.test`.
@Suite struct LinearRegexMatchTests {
    /// Every row of the node-verified table gives JavaScript's answer.
    @Test(arguments: matchCases)
    func matchesLikeJavaScript(_ testCase: MatchCase) throws {
        let regex = try LinearRegex(pattern: testCase.pattern, flags: testCase.flags)
        #expect(regex.matches(testCase.input) == testCase.expected, "\(testCase)")
    }

    /// Options and flag letters configure the same matcher.
    @Test func optionsEqualFlags() throws {
        let fromFlags = try LinearRegex(pattern: "^a.b$", flags: "ims")
        let fromOptions = try LinearRegex("^a.b$", options: [.caseInsensitive, .multiline, .dotAll])
        #expect(fromFlags == fromOptions)
        #expect(fromFlags.hashValue == fromOptions.hashValue)
        #expect(fromFlags.matches("x\nA\nB"))
        #expect(try LinearRegex("a") != LinearRegex("a", options: .caseInsensitive))
    }

    /// A literal ASCII pattern compiles to one instruction per scalar plus `match`.
    @Test func programSize() throws {
        #expect(try LinearRegex("abc").programSize == 4)
        #expect(try LinearRegex("a{3}").programSize == 4)
        #expect(try LinearRegex("a{2,4}").programSize == 7)
        #expect(try LinearRegex("a|b").programSize == 5)
    }

    /// Long inputs are handled without recursion.
    @Test func longInputs() throws {
        let long = String(repeating: "ab", count: 50_000)
        #expect(try LinearRegex("^(ab)+$").matches(long))
        #expect(try !LinearRegex("^(ab)+$").matches(long + "a"))
        #expect(try LinearRegex("b$").matches(long))
        #expect(try !LinearRegex("^(?:ab)*c").matches(long))
    }

    /// The maximum counted repetition and a large but allowed program work.
    @Test func largeAllowedPrograms() throws {
        let regex = try LinearRegex("^a{1000}$")
        #expect(regex.programSize == 1003)
        #expect(regex.matches(String(repeating: "a", count: 1000)))
        #expect(!regex.matches(String(repeating: "a", count: 999)))
        let nested = try LinearRegex("^(?:(?:a{10}){10}){10}$")
        #expect(nested.matches(String(repeating: "a", count: 1000)))
        let deep = String(repeating: "(", count: 256) + "a" + String(repeating: ")", count: 256)
        #expect(try LinearRegex(deep).matches("a"))
        let deepQuantified = String(repeating: "(?:", count: 256) + "a" + String(repeating: ")*", count: 256)
        #expect(try LinearRegex(deepQuantified).matches("aaa"))
    }
}

/// Invalid and unsupported patterns are rejected with a typed, positioned error and never crash.
@Suite struct LinearRegexErrorTests {
    /// An invalid pattern and the kind and position of the expected error.
    struct InvalidCase: Sendable, CustomStringConvertible {
        let pattern: String
        let flags: String
        let kind: LinearRegexError.Kind
        let position: Int?

        init(_ pattern: String, _ kind: LinearRegexError.Kind, at position: Int?, flags: String = "") {
            self.pattern = pattern
            self.flags = flags
            self.kind = kind
            self.position = position
        }

        var description: String { "/\(pattern)/\(flags)" }
    }

    static let invalidCases: [InvalidCase] = [
        // Malformed
        InvalidCase("(ab", .syntax, at: 0),
        InvalidCase("a(b(c)", .syntax, at: 1),
        InvalidCase("ab)", .syntax, at: 2),
        InvalidCase(")", .syntax, at: 0),
        InvalidCase("[abc", .syntax, at: 0),
        InvalidCase("[z-a]", .syntax, at: 1),
        InvalidCase("x[\\x5a-\\x41]", .syntax, at: 2),
        InvalidCase("*a", .syntax, at: 0),
        InvalidCase("+", .syntax, at: 0),
        InvalidCase("a|?", .syntax, at: 2),
        InvalidCase("(*)", .syntax, at: 1),
        InvalidCase("{3}", .syntax, at: 0),
        InvalidCase("a**", .syntax, at: 2),
        InvalidCase("a{2}{3}", .syntax, at: 4),
        InvalidCase("a+?+", .syntax, at: 3),
        InvalidCase("^*", .syntax, at: 1),
        InvalidCase("a$+", .syntax, at: 2),
        InvalidCase("\\b*", .syntax, at: 2),
        InvalidCase("a{3,1}", .syntax, at: 1),
        InvalidCase("abc\\", .syntax, at: 3),
        InvalidCase("\\", .syntax, at: 0),
        InvalidCase("\\q", .syntax, at: 0),
        InvalidCase("[\\B]", .syntax, at: 1),
        InvalidCase("\\x4", .syntax, at: 0),
        InvalidCase("\\xZZ", .syntax, at: 0),
        InvalidCase("\\u12", .syntax, at: 0),
        InvalidCase("\\u{}", .syntax, at: 0),
        InvalidCase("\\u{110000}", .syntax, at: 0),
        InvalidCase("\\u{D800}", .syntax, at: 0),
        InvalidCase("\\uD800", .syntax, at: 0),
        InvalidCase("\\c1", .syntax, at: 0),
        InvalidCase("(?x)", .syntax, at: 0),
        InvalidCase("(?<>a)", .syntax, at: 3),
        InvalidCase("(?<1a>a)", .syntax, at: 3),
        InvalidCase("(?<a", .syntax, at: 0),
        InvalidCase("(?<n>a)(?<n>b)", .syntax, at: 10),
        InvalidCase("a", .syntax, at: 1, flags: "ix"),
        InvalidCase("a", .syntax, at: 1, flags: "ii"),
        // Unsupported
        InvalidCase("(a)\\1", .unsupported(.backReference), at: 3),
        InvalidCase("\\9", .unsupported(.backReference), at: 0),
        InvalidCase("(?<n>a)\\k<n>", .unsupported(.backReference), at: 7),
        InvalidCase("a(?=b)", .unsupported(.lookahead), at: 1),
        InvalidCase("a(?!b)", .unsupported(.lookahead), at: 1),
        InvalidCase("(?<=a)b", .unsupported(.lookbehind), at: 0),
        InvalidCase("(?<!a)b", .unsupported(.lookbehind), at: 0),
        InvalidCase("\\p{L}", .unsupported(.unicodePropertyEscape), at: 0),
        InvalidCase("[\\P{Lu}]", .unsupported(.unicodePropertyEscape), at: 1),
        InvalidCase("(?i)a", .unsupported(.inlineModifiers), at: 0),
        InvalidCase("(?i:a)", .unsupported(.inlineModifiers), at: 0),
        InvalidCase("\\01", .unsupported(.octalEscape), at: 0),
        InvalidCase("[\\1]", .unsupported(.octalEscape), at: 1),
        // Too large
        InvalidCase("a{1001}", .tooLarge, at: 1),
        InvalidCase("a{1,99999999999999999999}", .tooLarge, at: 1),
        InvalidCase("(?:a{1000}){1000}", .tooLarge, at: 11),
        InvalidCase("(?:(?:(?:(?:a{100}){100}){100}){100}){100}", .tooLarge, at: 25),
        InvalidCase("(?:[a-z]{30}){1000}", .tooLarge, at: 13),
        InvalidCase("(?:ab|cd|ef){1000}(?:ab|cd|ef){1000}x", .tooLarge, at: 36),
        InvalidCase("(?:ab|cd|ef){1000}(?:ab|cd|ef){1000}", .tooLarge, at: nil),
        InvalidCase(String(repeating: "(", count: 2000) + String(repeating: ")", count: 2000), .tooLarge, at: 256),
        InvalidCase(
            String(repeating: "(?:", count: 300) + "a" + String(repeating: ")", count: 300), .tooLarge, at: 768),
        InvalidCase(String(repeating: "a", count: 4097), .tooLarge, at: 4096),
    ]

    /// Each invalid pattern throws the expected kind at the expected position, with a useful message.
    @Test(arguments: invalidCases)
    func rejects(_ testCase: InvalidCase) {
        do {
            _ = try LinearRegex(pattern: testCase.pattern, flags: testCase.flags)
            Issue.record("\(testCase) compiled but should have failed")
        } catch {
            #expect(error.kind == testCase.kind, "\(testCase): \(error)")
            #expect(error.position == testCase.position, "\(testCase): \(error)")
            #expect(!error.message.isEmpty)
            #expect(error.description.contains(error.message))
        }
    }

    /// Groups nested 10,000 deep give an error, not a stack overflow, even when the pattern length allows them.
    @Test func deepNestingIsAnError() {
        let deep = String(repeating: "(", count: 10_000) + "a" + String(repeating: ")", count: 10_000)
        do {
            _ = try LinearRegex(deep, limits: LinearRegex.Limits(maxPatternLength: 30_000))
            Issue.record("10,000 nested groups compiled")
        } catch {
            #expect(error.kind == .tooLarge)
            #expect(error.position == 256)
        }
    }

    /// The deepest allowed nesting compiles on a thread with a 512 KiB stack (the macOS secondary-thread default).
    @Test func deepNestingFitsSmallStack() async {
        let pattern =
            String(repeating: "(?:x|", count: 256) + "a" + String(repeating: ")+", count: 256)
        let matched = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let thread = Thread {
                let regex = try? LinearRegex(pattern)
                continuation.resume(returning: regex?.matches("xa") ?? false)
            }
            thread.stackSize = 512 * 1024
            thread.start()
        }
        #expect(matched)
    }

    /// The back-reference message tells the user why and what to do.
    @Test func backReferenceMessage() {
        #expect(throws: LinearRegexError.self) { try LinearRegex("(a)\\1") }
        do {
            _ = try LinearRegex("(a)\\1")
        } catch {
            #expect(
                error.message
                    == "back-references (\\1) are not supported: the matcher runs in linear time; "
                    + "rewrite the pattern without them"
            )
            #expect(error.description.hasSuffix("(at position 3)"))
        }
    }

    /// Custom limits are honoured.
    @Test func customLimits() throws {
        let tight = LinearRegex.Limits(maxPatternLength: 5, maxProgramSize: 10, maxRepeat: 3, maxNestingDepth: 2)
        #expect(try LinearRegex("abcde", limits: tight).programSize == 6)
        #expect(throws: LinearRegexError.self) { try LinearRegex("abcdef", limits: tight) }
        #expect(throws: LinearRegexError.self) { try LinearRegex("a{4}", limits: tight) }
        #expect(throws: LinearRegexError.self) { try LinearRegex("(((a)))", limits: tight) }
        #expect(throws: LinearRegexError.self) { try LinearRegex("a{3}b{3}cdef", limits: tight) }
        #expect(try LinearRegex("((a))", limits: tight).matches("a"))
    }

    /// Random garbage never crashes the parser.
    @Test func fuzzDoesNotCrash() {
        let alphabet = Array("ab()[]{}|*+?^$\\.-,0123dDwWsSbBuxk<>=!:pPc")
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<5000 {
            let length = Int(generator.next() % 12)
            let pattern = String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
            if let regex = try? LinearRegex(pattern) {
                _ = regex.matches("aab(b)[c]{1}")
                _ = regex.matches("")
            }
        }
    }
}

/// Hostile (catastrophic-backtracking) patterns run in time linear in the input.
@Suite struct LinearRegexLinearityTests {
    static let hostilePatterns = [
        "(a+)+b", "(a|a)*$", "(a*)*b", "(x+x+)+y", "(a|aa)+$", "^(a?){25}a{25}$", "(\\w+\\s?)+$",
    ]

    /// The VM step count is bounded by 2 × (input length + 1) × programSize.
    @Test(arguments: hostilePatterns)
    func stepCountIsLinear(_ pattern: String) throws {
        let regex = try LinearRegex(pattern)
        for length in [1000, 10_000] {
            let input = String(repeating: "a", count: length)
            var steps = 0
            _ = regex.matches(input, stepCount: &steps)
            #expect(steps > 0)
            #expect(steps <= 2 * (length + 1) * regex.programSize, "\(pattern): \(steps) steps for \(length)")
        }
    }

    /// Doubling the input at most roughly doubles the work.
    @Test(arguments: hostilePatterns)
    func stepCountScalesLinearly(_ pattern: String) throws {
        let regex = try LinearRegex(pattern)
        var small = 0
        var large = 0
        _ = regex.matches(String(repeating: "a", count: 5000), stepCount: &small)
        _ = regex.matches(String(repeating: "a", count: 10_000), stepCount: &large)
        #expect(large <= 2 * small + 2 * regex.programSize, "\(pattern): \(small) then \(large)")
    }
}
