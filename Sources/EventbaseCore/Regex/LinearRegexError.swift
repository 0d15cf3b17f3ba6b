/// An error thrown when a pattern cannot be turned into a ``LinearRegex``.
///
/// The ``message`` says what is wrong and what to do about it; ``position`` is the offset, in Unicode
/// scalars, of the offending part of the pattern (or of the flags string for flag errors), when one applies.
package struct LinearRegexError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of problem the pattern has.
    package enum Kind: Sendable, Hashable {
        /// The pattern is malformed (unbalanced parentheses, `[z-a]`, nothing to repeat, a bad flag, ...).
        case syntax
        /// The pattern uses a valid JavaScript feature that a linear-time matcher cannot support.
        case unsupported(UnsupportedFeature)
        /// The pattern, its nesting or its compiled program exceeds the configured ``LinearRegex/Limits``.
        case tooLarge
    }

    /// A JavaScript regular-expression feature that ``LinearRegex`` rejects.
    package enum UnsupportedFeature: String, Sendable, Hashable {
        /// `\1` ... `\9` and `\k<name>`.
        case backReference = "back-reference"
        /// `(?=...)` and `(?!...)`.
        case lookahead = "lookahead"
        /// `(?<=...)` and `(?<!...)`.
        case lookbehind = "lookbehind"
        /// `\p{...}` and `\P{...}`.
        case unicodePropertyEscape = "unicode property escape"
        /// `(?i)`, `(?i:...)` and similar inline flag groups.
        case inlineModifiers = "inline modifiers"
        /// Legacy octal escapes such as `\01` or `[\1]`.
        case octalEscape = "octal escape"
    }

    /// What kind of problem the pattern has.
    package var kind: Kind
    /// A human-readable explanation of the problem and how to fix it.
    package var message: String
    /// The scalar offset of the problem in the pattern (or flags), or `nil` when it concerns the whole pattern.
    package var position: Int?

    /// Creates an error.
    package init(kind: Kind, message: String, position: Int?) {
        self.kind = kind
        self.message = message
        self.position = position
    }

    /// The message followed by the position, if any.
    package var description: String {
        guard let position else { return "invalid regular expression: \(message)" }
        return "invalid regular expression: \(message) (at position \(position))"
    }

    static func syntax(_ message: String, at position: Int?) -> LinearRegexError {
        LinearRegexError(kind: .syntax, message: message, position: position)
    }

    static func unsupported(_ feature: UnsupportedFeature, _ message: String, at position: Int) -> LinearRegexError {
        LinearRegexError(kind: .unsupported(feature), message: message, position: position)
    }

    static func tooLarge(_ message: String, at position: Int?) -> LinearRegexError {
        LinearRegexError(kind: .tooLarge, message: message, position: position)
    }
}
