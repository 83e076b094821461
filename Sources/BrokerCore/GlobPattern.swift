/// A Redis glob pattern (`KEYS`, `SCAN MATCH`, `PSUBSCRIBE`), with the semantics of
/// Redis's `stringmatchlen`:
///
/// - `*` matches any run of bytes, `?` exactly one byte;
/// - `[abc]` one byte of the set, `[^abc]` one byte not in it, `[a-z]` a range
///   (`[z-a]` is the same range); `\x` inside brackets is a literal `x`;
/// - `\x` outside brackets is a literal `x`; a trailing lone `\` is a literal `\`;
/// - an unterminated `[...` takes the rest of the pattern as its set;
/// - the empty string matches only the empty pattern (even `*` does not match it,
///   which is why Redis short-circuits `SCAN MATCH *` before matching).
///
/// Matching is over the UTF-8 bytes of both strings, as Redis does: `?` matches one
/// byte, so `"??"` (not `"?"`) matches `"é"`. Patterns and strings made of ASCII behave
/// as one expects character by character.
///
/// The pattern is compiled once into tokens; ``matches(_:)`` backtracks only to the
/// most recent `*`, so it takes at most O(pattern × string) steps: a hostile pattern
/// such as `a*a*a*…b` cannot make it exponential (Redis CVE-2022-36021). Unlike Redis,
/// it has no nesting cutoff at 1,000 stars, so very star-heavy patterns still match
/// where they should.
package struct GlobPattern: Sendable, Hashable, CustomStringConvertible {
    /// The pattern as written.
    package let pattern: String
    private let tokens: [Token]

    /// Compiles `pattern`. Every string is a valid pattern.
    /// - Parameter pattern: the glob, e.g. `wsc:node:*`.
    package init(_ pattern: String) {
        self.pattern = pattern
        self.tokens = Token.parse(Array(pattern.utf8))
    }

    /// Whether `string` matches the whole pattern.
    /// - Parameter string: the key or channel name to test.
    /// - Returns: `true` when the pattern matches all of `string`.
    package func matches(_ string: String) -> Bool {
        var string = string
        return string.withUTF8 { match($0) }
    }

    /// The pattern as written.
    package var description: String { pattern }

    /// Patterns are equal when their bytes are (not merely Unicode-equivalent text).
    package static func == (lhs: GlobPattern, rhs: GlobPattern) -> Bool {
        lhs.pattern.utf8.elementsEqual(rhs.pattern.utf8)
    }

    /// Hashes the pattern's bytes.
    package func hash(into hasher: inout Hasher) {
        var pattern = pattern
        pattern.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    private func match(_ string: UnsafeBufferPointer<UInt8>) -> Bool {
        // Redis never enters its loop for an empty string: only "" matches "".
        if string.isEmpty { return tokens.isEmpty }

        var tokenIndex = 0
        var byteIndex = 0
        // Where the most recent `*` is, and where in the string its match ends now.
        var starToken: Int?
        var starByte = 0

        while byteIndex < string.count {
            if tokenIndex < tokens.count {
                let token = tokens[tokenIndex]
                if case .star = token {
                    starToken = tokenIndex
                    starByte = byteIndex
                    tokenIndex += 1
                    continue
                }
                if token.matches(string[byteIndex]) {
                    tokenIndex += 1
                    byteIndex += 1
                    continue
                }
            }
            // Mismatch: let the last `*` swallow one more byte and retry after it.
            // Backtracking further (to earlier stars) can never help, because every
            // other token consumes exactly one byte.
            guard let star = starToken else { return false }
            starByte += 1
            byteIndex = starByte
            tokenIndex = star + 1
        }
        while tokenIndex < tokens.count, case .star = tokens[tokenIndex] {
            tokenIndex += 1
        }
        return tokenIndex == tokens.count
    }
}
