/// Byte-level mutations of valid samples, as coverage-blind fuzzers make them: bit flips,
/// insertions, deletions, truncations, duplicated fragments, and tokens from a dictionary
/// (boundary numbers, unicode, NUL, the grammar's own punctuation).
struct Mutator {
    /// Tokens worth splicing in, on top of ``Mutator/common``.
    var dictionary: [[UInt8]]

    init(dictionary: [String] = []) {
        self.dictionary = (Self.common + dictionary).map { Array($0.utf8) } + Self.invalidUTF8
    }

    /// Numbers at the edges of the integer and floating-point types, and text that breaks escaping.
    static let common = [
        "0", "-0", "-1", "1", "127", "128", "255", "256", "65535", "65536", "2147483647", "2147483648", "-2147483649",
        "4294967296", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
        "18446744073709551615", "18446744073709551616", "99999999999999999999999999999999999999",
        "999999999999999999999999999999999999999999", "1e400", "-1e400", "1e-400", "1e127", "1e128", "1.5", "-0.0",
        "1E+2", "NaN", "Infinity", "null", "true", "false", "\0", "\r\n", "\n", "\t", " ", "\u{7F}", "é", "e\u{301}",
        "\u{FEFF}", "\u{FFFF}", "\u{10FFFF}", "😀", "\\u0000", "\\ud800", "\\udc00", "\\ud83d\\ude00", "\\", "\"",
        "%", "%0", "%zz", "%00", "%C3%A9", "%FF", "+", "&", "=", "[", "]", "{", "}", ",", ":", "[]", "{}",
    ]

    /// Byte sequences that are not UTF-8: a lone continuation byte, overlong NUL, a surrogate,
    /// beyond U+10FFFF, a truncated sequence, bytes never used.
    static let invalidUTF8: [[UInt8]] = [[0x80], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xFE], [0xFF]]

    /// `sample` changed by one to four mutations.
    func mutate(_ sample: [UInt8], using random: inout FuzzRandom) -> [UInt8] {
        var bytes = sample
        for _ in 0..<random.int(1...4) {
            mutateOnce(&bytes, using: &random)
        }
        return bytes
    }

    private func mutateOnce(_ bytes: inout [UInt8], using random: inout FuzzRandom) {
        let position = random.int(0...bytes.count)
        switch random.int(0...9) {
        case 0 where !bytes.isEmpty:  // flip one bit
            let index = random.int(0...bytes.count - 1)
            bytes[index] ^= 1 << UInt8(random.int(0...7))
        case 1 where !bytes.isEmpty:  // overwrite one byte
            bytes[random.int(0...bytes.count - 1)] = UInt8(random.int(0...255))
        case 2:  // insert random bytes
            bytes.insert(contentsOf: random.bytes(random.int(1...8)), at: position)
        case 3 where !bytes.isEmpty:  // delete a range
            let end = min(bytes.count, position + random.int(1...16))
            bytes.removeSubrange(min(position, bytes.count - 1)..<end)
        case 4:  // truncate
            bytes.removeLast(bytes.count - position)
        case 5 where !bytes.isEmpty:  // duplicate a fragment, sometimes many times
            let start = random.int(0...bytes.count - 1)
            let fragment = bytes[start..<min(bytes.count, start + random.int(1...32))]
            let copies = random.chance(10) ? random.int(2...200) : 1
            bytes.insert(contentsOf: Array(repeating: Array(fragment), count: copies).joined(), at: position)
        case 6, 7:  // splice in a dictionary token
            bytes.insert(contentsOf: random.pick(dictionary), at: position)
        case 8:  // replace a run of digits or letters with a dictionary token
            let end = bytes[position...].firstIndex { !Self.isWordByte($0) } ?? bytes.count
            bytes.replaceSubrange(position..<end, with: random.pick(dictionary))
        default:  // swap two bytes
            guard bytes.count > 1 else { return }
            bytes.swapAt(random.int(0...bytes.count - 1), random.int(0...bytes.count - 1))
        }
    }

    private static func isWordByte(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x2D
    }
}
