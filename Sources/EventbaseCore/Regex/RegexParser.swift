/// A zero-width assertion.
enum RegexAssertion: Sendable, Hashable {
    /// `^` without the `m` flag.
    case startOfInput
    /// `$` without the `m` flag.
    case endOfInput
    /// `^` with the `m` flag.
    case startOfLine
    /// `$` with the `m` flag.
    case endOfLine
    /// `\b`.
    case wordBoundary
    /// `\B`.
    case notWordBoundary
}

/// The syntax tree of a pattern. Groups are transparent (no captures are reported), case folding and
/// flags are already applied, so a node describes exactly the scalars it matches. Composite nodes carry
/// the compiled sizes of their children so that the compiler can lay out jumps without recursion.
indirect enum RegexNode: Sendable {
    /// Matches the empty string.
    case empty
    /// Matches one scalar with this value.
    case scalar(UInt32)
    /// Matches one scalar in the set.
    case set(ScalarSet)
    /// Matches the empty string where the assertion holds.
    case assertion(RegexAssertion)
    /// Matches the nodes one after another.
    case concatenation([RegexNode])
    /// Matches any one of the nodes; `sizes` are their compiled sizes.
    case alternation([RegexNode], sizes: [Int])
    /// Matches the node between `min` and `max` (unbounded when `nil`) times; `bodySize` is its compiled size.
    case repetition(RegexNode, bodySize: Int, min: Int, max: Int?)
}

/// A parser for JavaScript regular-expression syntax.
///
/// Groups are handled with an explicit stack (no recursion), bounded by
/// ``LinearRegex/Limits/maxNestingDepth``. Every node's compiled size is computed as it is built and checked
/// against ``LinearRegex/Limits/maxProgramSize``, so oversized counted repetitions are rejected before
/// anything is compiled.
struct RegexParser {
    /// A parsed node with the number of instructions it compiles to.
    struct Parsed {
        /// The node.
        var node: RegexNode
        /// Its compiled size, see ``RegexCompiler``.
        var size: Int
    }

    private enum Atom {
        case scalar(UInt32)
        case set(ScalarSet)
        case assertion(RegexAssertion)
    }

    /// An open group (or the whole pattern) being parsed.
    private struct Frame {
        /// The offset of the group's `(`, or `nil` for the whole pattern.
        var start: Int?
        /// Completed alternatives.
        var branches: [Parsed] = []
        /// Items of the alternative being parsed.
        var items: [RegexNode] = []
        /// The compiled size of `items`.
        var itemsSize = 0

        /// Ends the current alternative.
        mutating func closeBranch() {
            switch items.count {
            case 0: branches.append(Parsed(node: .empty, size: itemsSize))
            case 1: branches.append(Parsed(node: items[0], size: itemsSize))
            default: branches.append(Parsed(node: .concatenation(items), size: itemsSize))
            }
            items = []
            itemsSize = 0
        }

        /// The compiled size of the alternation of `branches`.
        var alternationSize: Int {
            branches.reduce(2 * (branches.count - 1)) { $0 + $1.size }
        }
    }

    private let scalars: [Unicode.Scalar]
    private let options: LinearRegex.Options
    private let limits: LinearRegex.Limits
    private var index = 0
    private var groupNames: Set<String> = []

    /// Creates a parser over the pattern's scalars.
    init(scalars: [Unicode.Scalar], options: LinearRegex.Options, limits: LinearRegex.Limits) {
        self.scalars = scalars
        self.options = options
        self.limits = limits
    }

    /// Parses the whole pattern; the returned size includes the final match instruction.
    mutating func parse() throws(LinearRegexError) -> Parsed {
        var stack = [Frame(start: nil)]
        while true {
            guard let next = peek() else { break }
            switch next {
            case "|":
                index += 1
                stack[stack.count - 1].closeBranch()
                try checkSize(stack[stack.count - 1].alternationSize, at: index - 1)
            case "(":
                let start = index
                if stack.count > limits.maxNestingDepth {
                    throw .tooLarge(
                        "groups are nested more than \(limits.maxNestingDepth) deep; flatten the pattern",
                        at: start
                    )
                }
                try parseGroupOpening()
                stack.append(Frame(start: start))
            case ")":
                guard stack.count > 1, let start = stack[stack.count - 1].start else {
                    throw .syntax("unmatched ')'; remove it or escape it as \\)", at: index)
                }
                index += 1
                let group = Self.finish(stack.removeLast())
                try append(group, quantifiable: true, start: start, to: &stack[stack.count - 1])
            default:
                let start = index
                let (atom, quantifiable) = try parseTerm()
                try append(atom, quantifiable: quantifiable, start: start, to: &stack[stack.count - 1])
            }
        }
        if let start = stack.last?.start {
            throw .syntax("unterminated group: add a ')' to close the '(' opened here", at: start)
        }
        var result = Self.finish(stack.removeLast())
        result.size += 1
        try checkSize(result.size, at: nil)
        return result
    }

    /// Closes a frame into a node.
    private static func finish(_ frame: Frame) -> Parsed {
        var frame = frame
        frame.closeBranch()
        if frame.branches.count == 1 { return frame.branches[0] }
        return Parsed(
            node: .alternation(frame.branches.map(\.node), sizes: frame.branches.map(\.size)),
            size: frame.alternationSize
        )
    }

    /// Applies any quantifier that follows `atom` and appends the result to the frame's current alternative.
    private mutating func append(
        _ atom: Parsed,
        quantifiable: Bool,
        start: Int,
        to frame: inout Frame
    ) throws(LinearRegexError) {
        var item = atom
        if let quantifier = try parseQuantifier() {
            guard quantifiable else {
                throw .syntax(
                    "nothing to repeat: a quantifier cannot follow an assertion; remove it or escape it",
                    at: quantifier.position
                )
            }
            item = try repeated(atom, quantifier)
            if let extra = try parseQuantifier() {
                throw .syntax(
                    "nothing to repeat: a quantifier cannot follow another quantifier; "
                        + "wrap the repeated part in (?: ) to repeat it again",
                    at: extra.position
                )
            }
        }
        frame.itemsSize += item.size
        try checkSize(frame.itemsSize, at: start)
        switch item.node {
        case .concatenation(let inner): frame.items.append(contentsOf: inner)
        case .empty: break
        default: frame.items.append(item.node)
        }
    }

    /// Parses one non-group atom; returns it and whether it may take a quantifier.
    private mutating func parseTerm() throws(LinearRegexError) -> (Parsed, Bool) {
        let start = index
        let scalar = scalars[index]
        switch scalar {
        case "^":
            index += 1
            let assertion: RegexAssertion = options.contains(.multiline) ? .startOfLine : .startOfInput
            return (Parsed(node: .assertion(assertion), size: 1), false)
        case "$":
            index += 1
            let assertion: RegexAssertion = options.contains(.multiline) ? .endOfLine : .endOfInput
            return (Parsed(node: .assertion(assertion), size: 1), false)
        case "[":
            return (Parsed(node: try parseClass(), size: 1), true)
        case ".":
            index += 1
            return (Parsed(node: .set(options.contains(.dotAll) ? .all : .dot), size: 1), true)
        case "*", "+", "?":
            throw .syntax(
                "nothing to repeat: '\(scalar)' must follow something to repeat; escape it as \\\(scalar)",
                at: start
            )
        case "{":
            if braceQuantifier(at: index) != nil {
                throw .syntax(
                    "nothing to repeat: a {} quantifier must follow something to repeat; escape it as \\{",
                    at: start
                )
            }
            index += 1
            return (literal(scalar.value), true)
        case "\\":
            switch try parseEscape(inClass: false) {
            case .scalar(let value): return (literal(value), true)
            case .set(let set): return (Parsed(node: .set(foldedIfNeeded(set)), size: 1), true)
            case .assertion(let assertion): return (Parsed(node: .assertion(assertion), size: 1), false)
            }
        default:
            index += 1
            return (literal(scalar.value), true)
        }
    }

    /// Parses `(`, `(?:` or `(?<name>`, rejecting lookaround and other `(?` forms.
    private mutating func parseGroupOpening() throws(LinearRegexError) {
        let start = index
        index += 1
        guard peek() == "?" else { return }
        switch peek(1) {
        case ":":
            index += 2
        case "=", "!":
            throw .unsupported(
                .lookahead,
                "lookahead (?= and (?! is not supported: the matcher runs in linear time; "
                    + "rewrite the pattern without it",
                at: start
            )
        case "<" where peek(2) == "=" || peek(2) == "!":
            throw .unsupported(
                .lookbehind,
                "lookbehind (?<= and (?<! is not supported: the matcher runs in linear time; "
                    + "rewrite the pattern without it",
                at: start
            )
        case "<":
            index += 2
            try parseGroupName(groupStart: start)
        case let next? where "ims-".unicodeScalars.contains(next):
            throw .unsupported(
                .inlineModifiers,
                "inline modifiers such as (?i) are not supported; pass flags/options instead",
                at: start
            )
        default:
            throw .syntax(
                "invalid group: '(?' must be followed by ':' or '<name>'; escape '?' as \\? to match it",
                at: start
            )
        }
    }

    private mutating func parseGroupName(groupStart: Int) throws(LinearRegexError) {
        var name = ""
        let nameStart = index
        while let next = peek(), next != ">" {
            let valid =
                name.isEmpty
                ? (next.properties.isIDStart || next == "$" || next == "_")
                : (next.properties.isIDContinue || next == "$" || next == "\u{200C}" || next == "\u{200D}")
            guard valid else {
                throw .syntax("invalid character '\(next)' in group name; use letters, digits, _ or $", at: index)
            }
            name.unicodeScalars.append(next)
            index += 1
        }
        guard peek() == ">" else {
            throw .syntax("unterminated group name: add '>' after (?<name", at: groupStart)
        }
        guard !name.isEmpty else {
            throw .syntax("empty group name: write (?<name>...) or (?:...)", at: nameStart)
        }
        guard groupNames.insert(name).inserted else {
            throw .syntax("duplicate group name '\(name)'; give each named group a distinct name", at: nameStart)
        }
        index += 1
    }

    // MARK: - Quantifiers

    private struct Quantifier {
        var min: Int
        var max: Int?
        var position: Int
    }

    /// Parses a quantifier (and a lazy `?` suffix) at the current position, if there is one.
    private mutating func parseQuantifier() throws(LinearRegexError) -> Quantifier? {
        guard let next = peek() else { return nil }
        let position = index
        var quantifier: Quantifier
        switch next {
        case "*": quantifier = Quantifier(min: 0, max: nil, position: position)
        case "+": quantifier = Quantifier(min: 1, max: nil, position: position)
        case "?": quantifier = Quantifier(min: 0, max: 1, position: position)
        case "{":
            guard let (min, max, end) = braceQuantifier(at: index) else { return nil }
            if let max, max < min {
                throw .syntax("numbers out of order in {\(min),\(max)}: write the smaller bound first", at: position)
            }
            if min > limits.maxRepeat || (max ?? 0) > limits.maxRepeat {
                throw .tooLarge(
                    "repetition bound exceeds \(limits.maxRepeat); use a smaller count or * / +",
                    at: position
                )
            }
            quantifier = Quantifier(min: min, max: max, position: position)
            index = end - 1
        default: return nil
        }
        index += 1
        if peek() == "?" { index += 1 }  // Lazy: same boolean result.
        return quantifier
    }

    /// Recognizes `{m}`, `{m,}` or `{m,n}` at `start`; returns the bounds (saturated) and the index after `}`.
    private func braceQuantifier(at start: Int) -> (Int, Int?, Int)? {
        var position = start + 1
        func number() -> Int? {
            var value: Int?
            while position < scalars.count, ("0"..."9").contains(scalars[position]) {
                value = Swift.min((value ?? 0) * 10 + Int(scalars[position].value - 0x30), 1_000_000_000)
                position += 1
            }
            return value
        }
        guard let min = number() else { return nil }
        var max: Int? = min
        if position < scalars.count, scalars[position] == "," {
            position += 1
            max = number()
        }
        guard position < scalars.count, scalars[position] == "}" else { return nil }
        return (min, max, position + 1)
    }

    private func repeated(_ atom: Parsed, _ quantifier: Quantifier) throws(LinearRegexError) -> Parsed {
        let size: Int
        if let max = quantifier.max {
            // min copies, then (max - min) optional copies each guarded by a split.
            size =
                try product(quantifier.min, atom.size, at: quantifier.position)
                + (try product(max - quantifier.min, atom.size + 1, at: quantifier.position))
        } else if quantifier.min == 0 {
            size = atom.size + 2  // split, body, jump
        } else {
            size = try product(quantifier.min, atom.size, at: quantifier.position) + 1  // copies, split back
        }
        try checkSize(size, at: quantifier.position)
        if quantifier.max == 0 { return Parsed(node: .empty, size: 0) }
        if quantifier.min == 1 && quantifier.max == 1 { return atom }
        let node = RegexNode.repetition(atom.node, bodySize: atom.size, min: quantifier.min, max: quantifier.max)
        return Parsed(node: node, size: size)
    }

    private func product(_ lhs: Int, _ rhs: Int, at position: Int) throws(LinearRegexError) -> Int {
        let (result, overflow) = lhs.multipliedReportingOverflow(by: rhs)
        if overflow { throw tooLargeProgram(at: position) }
        try checkSize(result, at: position)
        return result
    }

    private func checkSize(_ size: Int, at position: Int?) throws(LinearRegexError) {
        if size > limits.maxProgramSize { throw tooLargeProgram(at: position) }
    }

    private func tooLargeProgram(at position: Int?) -> LinearRegexError {
        .tooLarge(
            "the compiled pattern would exceed \(limits.maxProgramSize) instructions "
                + "(counted repetitions are expanded); use smaller counts or fewer alternatives",
            at: position
        )
    }

    // MARK: - Classes and escapes

    private mutating func parseClass() throws(LinearRegexError) -> RegexNode {
        let start = index
        index += 1
        var negated = false
        if peek() == "^" {
            negated = true
            index += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        func add(_ atom: Atom) {
            switch atom {
            case .scalar(let value): ranges.append(value...value)
            case .set(let set): ranges.append(contentsOf: set.ranges)
            case .assertion: break
            }
        }
        while true {
            guard let next = peek() else {
                throw .syntax("unterminated character class: add a ']' to close the '[' opened here", at: start)
            }
            if next == "]" {
                index += 1
                break
            }
            let atomStart = index
            let first = try parseClassAtom()
            guard peek() == "-", let afterDash = peek(1), afterDash != "]" else {
                add(first)
                continue
            }
            index += 1
            let second = try parseClassAtom()
            if case .scalar(let low) = first, case .scalar(let high) = second {
                guard low <= high else {
                    throw .syntax(
                        "character class range out of order: write the smaller end first, as in [a-z]",
                        at: atomStart
                    )
                }
                ranges.append(low...high)
            } else {
                // JavaScript (Annex B): a class escape next to '-' makes the '-' literal.
                add(first)
                add(.scalar(0x2D))
                add(second)
            }
        }
        var set = foldedIfNeeded(ScalarSet(ranges))
        if negated { set = set.inverted() }
        return .set(set)
    }

    private mutating func parseClassAtom() throws(LinearRegexError) -> Atom {
        let scalar = scalars[index]
        if scalar == "\\" { return try parseEscape(inClass: true) }
        index += 1
        return .scalar(scalar.value)
    }

    /// Parses an escape starting at the backslash under the cursor.
    private mutating func parseEscape(inClass: Bool) throws(LinearRegexError) -> Atom {
        let start = index
        index += 1
        guard let escaped = peek() else {
            throw .syntax("the pattern ends with a lone backslash; write \\\\ to match a backslash", at: start)
        }
        index += 1
        switch escaped {
        case "d": return .set(.digits)
        case "D": return .set(ScalarSet.digits.inverted())
        case "w": return .set(.word)
        case "W": return .set(ScalarSet.word.inverted())
        case "s": return .set(.space)
        case "S": return .set(ScalarSet.space.inverted())
        case "b": return inClass ? .scalar(0x08) : .assertion(.wordBoundary)
        case "B" where !inClass: return .assertion(.notWordBoundary)
        case "n": return .scalar(0x0A)
        case "r": return .scalar(0x0D)
        case "t": return .scalar(0x09)
        case "f": return .scalar(0x0C)
        case "v": return .scalar(0x0B)
        case "0":
            if let next = peek(), ("0"..."9").contains(next) {
                throw .unsupported(.octalEscape, "octal escapes are not supported; use \\xHH or \\uHHHH", at: start)
            }
            return .scalar(0)
        case "1"..."9":
            if inClass {
                throw .unsupported(.octalEscape, "octal escapes are not supported; use \\xHH or \\uHHHH", at: start)
            }
            throw .unsupported(
                .backReference,
                "back-references (\\\(escaped)) are not supported: the matcher runs in linear time; "
                    + "rewrite the pattern without them",
                at: start
            )
        case "k" where peek() == "<":
            throw .unsupported(
                .backReference,
                "back-references (\\k<name>) are not supported: the matcher runs in linear time; "
                    + "rewrite the pattern without them",
                at: start
            )
        case "p", "P":
            throw .unsupported(
                .unicodePropertyEscape,
                "unicode property escapes (\\\(escaped){...}) are not supported; use an explicit class such as [a-zA-Z]",
                at: start
            )
        case "x":
            guard let value = hexDigits(count: 2) else {
                throw .syntax("invalid \\x escape: write exactly two hex digits, as in \\x41", at: start)
            }
            return .scalar(value)
        case "u":
            return .scalar(try parseUnicodeEscape(start: start))
        case "c":
            if let letter = peek(), letter.isASCII, letter.properties.isAlphabetic {
                index += 1
                return .scalar(letter.value % 32)
            }
            throw .syntax("invalid \\c escape: write a control letter, as in \\cJ", at: start)
        default:
            if escaped.isASCII && (escaped.properties.isAlphabetic || ("0"..."9").contains(escaped)) {
                throw .syntax(
                    "unknown escape \\\(escaped); write '\(escaped)' without the backslash to match it literally",
                    at: start
                )
            }
            return .scalar(escaped.value)
        }
    }

    private mutating func parseUnicodeEscape(start: Int) throws(LinearRegexError) -> UInt32 {
        if peek() == "{" {
            index += 1
            var value: UInt32 = 0
            var digits = 0
            while let next = peek(), let digit = hexValue(next) {
                value = min(value * 16 + digit, 0x11_0000)
                digits += 1
                index += 1
            }
            guard digits > 0, peek() == "}", value <= ScalarSet.maxScalar else {
                throw .syntax(
                    "invalid \\u{...} escape: write 1 to 6 hex digits up to 10FFFF, as in \\u{1F600}", at: start)
            }
            index += 1
            guard !(0xD800...0xDFFF).contains(value) else {
                throw .syntax("\\u{\(String(value, radix: 16))} is a lone surrogate and can never match", at: start)
            }
            return value
        }
        guard let value = hexDigits(count: 4) else {
            throw .syntax("invalid \\u escape: write exactly four hex digits, as in \\u00E9, or \\u{...}", at: start)
        }
        if (0xD800...0xDBFF).contains(value), peek() == "\\", peek(1) == "u" {
            let saved = index
            index += 2
            if let low = hexDigits(count: 4), (0xDC00...0xDFFF).contains(low) {
                return 0x1_0000 + ((value - 0xD800) << 10) + (low - 0xDC00)
            }
            index = saved
        }
        guard !(0xD800...0xDFFF).contains(value) else {
            throw .syntax(
                "\\u\(String(value, radix: 16)) is a lone surrogate and can never match; write the code point as \\u{...}",
                at: start
            )
        }
        return value
    }

    private mutating func hexDigits(count: Int) -> UInt32? {
        var value: UInt32 = 0
        for offset in 0..<count {
            guard let next = peek(offset), let digit = hexValue(next) else { return nil }
            value = value * 16 + digit
        }
        index += count
        return value
    }

    private func hexValue(_ scalar: Unicode.Scalar) -> UInt32? {
        switch scalar {
        case "0"..."9": return scalar.value - 0x30
        case "a"..."f": return scalar.value - 0x61 + 10
        case "A"..."F": return scalar.value - 0x41 + 10
        default: return nil
        }
    }

    // MARK: - Helpers

    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        index + offset < scalars.count ? scalars[index + offset] : nil
    }

    private func literal(_ value: UInt32) -> Parsed {
        guard options.contains(.caseInsensitive) else { return Parsed(node: .scalar(value), size: 1) }
        let equivalents = CaseFolding.equivalents(of: value)
        if equivalents.count == 1 { return Parsed(node: .scalar(value), size: 1) }
        return Parsed(node: .set(ScalarSet(scalars: equivalents)), size: 1)
    }

    private func foldedIfNeeded(_ set: ScalarSet) -> ScalarSet {
        options.contains(.caseInsensitive) ? set.caseClosed() : set
    }
}
