extension GlobPattern {
    /// One compiled element of a pattern. Every token but `star` consumes exactly one byte.
    enum Token: Sendable, Hashable {
        /// `*`: any run of bytes.
        case star
        /// `?`: any one byte.
        case any
        /// A literal byte (escaped or not).
        case byte(UInt8)
        /// `[...]`: one byte in (or, when negated, not in) the set.
        case set(ByteSet, negated: Bool)

        func matches(_ byte: UInt8) -> Bool {
            switch self {
            case .star, .any: true
            case .byte(let expected): byte == expected
            case .set(let set, let negated): set.contains(byte) != negated
            }
        }
    }

    /// The members of a bracket expression: single bytes and inclusive ranges.
    struct ByteSet: Sendable, Hashable {
        var bytes: [UInt8] = []
        var ranges: [ClosedRange<UInt8>] = []

        func contains(_ byte: UInt8) -> Bool {
            bytes.contains(byte) || ranges.contains { $0.contains(byte) }
        }
    }
}

/// The bytes that mean something in a pattern.
private enum Syntax {
    static let star = UInt8(ascii: "*")
    static let question = UInt8(ascii: "?")
    static let open = UInt8(ascii: "[")
    static let close = UInt8(ascii: "]")
    static let caret = UInt8(ascii: "^")
    static let dash = UInt8(ascii: "-")
    static let backslash = UInt8(ascii: "\\")
}

extension GlobPattern.Token {
    /// Splits `pattern` into tokens exactly as Redis's `stringmatchlen` walks it.
    /// How the pattern is read never depends on the string being matched, so it is done once.
    static func parse(_ pattern: [UInt8]) -> [Self] {
        var tokens: [Self] = []
        var index = 0
        while index < pattern.count {
            let byte = pattern[index]
            switch byte {
            case Syntax.star:
                // Runs of stars behave as one.
                if tokens.last != .star { tokens.append(.star) }
                index += 1
            case Syntax.question:
                tokens.append(.any)
                index += 1
            case Syntax.open:
                tokens.append(parseSet(pattern, index: &index))
            case Syntax.backslash where index + 1 < pattern.count:
                tokens.append(.byte(pattern[index + 1]))
                index += 2
            default:
                // Includes a trailing lone backslash, which Redis compares literally.
                tokens.append(.byte(byte))
                index += 1
            }
        }
        return tokens
    }

    /// Reads a bracket expression starting at the `[` at `index`; leaves `index` after it.
    private static func parseSet(_ pattern: [UInt8], index: inout Int) -> Self {
        index += 1
        let negated = index < pattern.count && pattern[index] == Syntax.caret
        if negated { index += 1 }

        var set = GlobPattern.ByteSet()
        while index < pattern.count {
            let remaining = pattern.count - index
            let byte = pattern[index]
            if byte == Syntax.backslash && remaining >= 2 {
                set.bytes.append(pattern[index + 1])
                index += 2
            } else if byte == Syntax.close {
                index += 1
                break
            } else if remaining >= 3 && pattern[index + 1] == Syntax.dash {
                // Redis swaps reversed ranges: [z-a] is [a-z]. `]` may be an end point.
                let start = byte
                let end = pattern[index + 2]
                set.ranges.append(min(start, end)...max(start, end))
                index += 3
            } else {
                set.bytes.append(byte)
                index += 1
            }
        }
        // Running off the end (an unterminated `[`) simply ends the set, as in Redis.
        return .set(set, negated: negated)
    }
}
