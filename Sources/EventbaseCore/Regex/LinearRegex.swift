/// A regular expression with JavaScript syntax whose matching time is linear in the input length.
///
/// The pattern is parsed to a syntax tree, compiled to a Thompson NFA program and executed by simulating
/// all NFA threads in lock step (a Pike VM without captures), so matching never backtracks: the cost of
/// ``matches(_:)`` is at most `O((input scalars + 1) × programSize)`. Matching is over Unicode scalars.
///
/// Supported: literals and escapes, `.`, bracket classes, `\d \D \w \W \s \S`, `^ $ \b \B`, groups
/// (capturing, non-capturing and named, all treated as plain groups), alternation and greedy or lazy
/// quantifiers. Back-references, lookaround and unicode property escapes are rejected with a
/// ``LinearRegexError`` of kind ``LinearRegexError/Kind/unsupported(_:)``.
package struct LinearRegex: Sendable, Hashable {
    /// Matching options, equivalent to the JavaScript flags `i`, `m` and `s`.
    package struct Options: OptionSet, Sendable, Hashable {
        /// The raw bit mask.
        package let rawValue: Int

        /// Creates options from a raw bit mask.
        package init(rawValue: Int) {
            self.rawValue = rawValue
        }

        /// `i`: letters match regardless of case (JavaScript simple case folding), in literals and classes.
        package static let caseInsensitive = Options(rawValue: 1 << 0)
        /// `m`: `^` and `$` also match just after and just before a line terminator.
        package static let multiline = Options(rawValue: 1 << 1)
        /// `s`: `.` also matches line terminators.
        package static let dotAll = Options(rawValue: 1 << 2)
    }

    /// Bounds on the work a pattern may ask for; exceeding one throws a ``LinearRegexError/Kind/tooLarge`` error.
    package struct Limits: Sendable, Hashable {
        /// The longest accepted pattern, in Unicode scalars.
        package var maxPatternLength: Int
        /// The largest accepted compiled program, in instructions, after expanding counted repetitions.
        package var maxProgramSize: Int
        /// The largest accepted bound in a counted repetition `{m,n}`.
        package var maxRepeat: Int
        /// The deepest accepted nesting of groups.
        package var maxNestingDepth: Int

        /// Creates limits.
        package init(
            maxPatternLength: Int = 4096,
            maxProgramSize: Int = 20_000,
            maxRepeat: Int = 1000,
            maxNestingDepth: Int = 256
        ) {
            self.maxPatternLength = maxPatternLength
            self.maxProgramSize = maxProgramSize
            self.maxRepeat = maxRepeat
            self.maxNestingDepth = maxNestingDepth
        }

        /// 4096 scalars, 20,000 instructions, repeat bound 1000, nesting depth 256.
        package static let `default` = Limits()
    }

    /// The pattern source, as given.
    package let pattern: String
    /// The matching options.
    package let options: Options
    let program: RegexProgram

    /// Compiles a JavaScript-syntax pattern.
    ///
    /// - Throws: ``LinearRegexError`` when the pattern is malformed, uses an unsupported feature, or
    ///   exceeds `limits`. Limits are checked while parsing, before any large program is built.
    package init(_ pattern: String, options: Options = [], limits: Limits = .default) throws(LinearRegexError) {
        let scalars = Array(pattern.unicodeScalars.prefix(limits.maxPatternLength + 1))
        if scalars.count > limits.maxPatternLength {
            throw .tooLarge(
                "the pattern is longer than \(limits.maxPatternLength) characters; use a shorter pattern",
                at: limits.maxPatternLength
            )
        }
        var parser = RegexParser(scalars: scalars, options: options, limits: limits)
        let parsed = try parser.parse()
        self.pattern = pattern
        self.options = options
        self.program = RegexCompiler.compile(parsed.node)
        assert(program.instructions.count == parsed.size, "compiled size differs from the parser's size")
    }

    /// Compiles a pattern with JavaScript flag letters: `i`, `m`, `s`; `g`, `u` and `y` are accepted and
    /// ignored (matching is always over Unicode scalars). Any other or repeated letter is a syntax error.
    package init(pattern: String, flags: String, limits: Limits = .default) throws(LinearRegexError) {
        var options: Options = []
        var seen: Set<Unicode.Scalar> = []
        for (offset, flag) in flags.unicodeScalars.enumerated() {
            guard seen.insert(flag).inserted else {
                throw .syntax("the flag '\(flag)' is repeated; give each flag at most once", at: offset)
            }
            switch flag {
            case "i": options.insert(.caseInsensitive)
            case "m": options.insert(.multiline)
            case "s": options.insert(.dotAll)
            case "g", "u", "y": break
            default:
                throw .syntax(
                    "unknown flag '\(flag)'; supported flags are i, m and s (g, u and y are accepted and ignored)",
                    at: offset
                )
            }
        }
        try self.init(pattern, options: options, limits: limits)
    }

    /// The number of instructions in the compiled NFA program.
    package var programSize: Int { program.instructions.count }

    /// Whether the pattern matches anywhere in `input` (JavaScript `RegExp.prototype.test`).
    package func matches(_ input: String) -> Bool {
        var steps = 0
        return program.run(input, stepCount: &steps)
    }

    /// Like ``matches(_:)``, and adds the number of VM steps (thread insertions and scalar tests)
    /// performed to `stepCount`, which is at most `2 × (input scalars + 1) × programSize`.
    package func matches(_ input: String, stepCount: inout Int) -> Bool {
        program.run(input, stepCount: &stepCount)
    }

    /// Two regexes are equal when their patterns and options are equal.
    package static func == (lhs: LinearRegex, rhs: LinearRegex) -> Bool {
        lhs.pattern == rhs.pattern && lhs.options == rhs.options
    }

    /// Hashes the pattern and options.
    package func hash(into hasher: inout Hasher) {
        hasher.combine(pattern)
        hasher.combine(options)
    }
}
