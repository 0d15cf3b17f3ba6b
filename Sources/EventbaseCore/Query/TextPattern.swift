/// The seam behind `$regex` and `keys(pattern)`: a compiled regular expression with JavaScript
/// `RegExp.test` semantics (true when it matches anywhere in the input).
///
/// It runs on ``LinearRegex``, an automaton whose matching time is linear in the input, so a
/// hostile pattern such as `(a+)+b` cannot stall replication or a query. Construction validates the
/// pattern, so an invalid or unsupported regex is a typed error when a query is parsed, never a
/// silent non-match.
package struct TextPattern: Sendable, Hashable, CustomStringConvertible {
    package let source: String
    package let flags: String
    private let regex: LinearRegex

    /// Compiles `source` with JavaScript-style `flags` (`i`, `m`, `s`; `g`, `u`, `y` are accepted and ignored).
    /// - Throws: `.invalidQuery` naming the problem (syntax, or an unsupported feature such as
    ///   back-references); `.limitExceeded` when the pattern or its compiled program is too large.
    package init(_ source: String, flags: String = "", limits: QueryLimits = .default) throws(EventbaseError) {
        let regexLimits = LinearRegex.Limits(
            maxPatternLength: limits.maxPatternLength, maxProgramSize: limits.maxRegexProgramSize)
        do {
            regex = try LinearRegex(pattern: source, flags: flags, limits: regexLimits)
        } catch {
            switch error.kind {
            case .tooLarge:
                throw EventbaseError(
                    .limitExceeded, "The regular expression /\(source)/ is too large: \(error.message)", cause: error)
            case .syntax, .unsupported:
                throw EventbaseError(
                    .invalidQuery, "Invalid regular expression /\(source)/\(flags): \(error.message)", cause: error)
            }
        }
        self.source = source
        self.flags = flags
    }

    /// Whether the pattern matches anywhere in `text`.
    package func matches(_ text: String) -> Bool {
        regex.matches(text)
    }

    package var description: String { "/\(source)/\(flags)" }
}
