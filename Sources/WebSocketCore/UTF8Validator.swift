/// Checks UTF-8 piece by piece, so that a message split into fragments fails at its first
/// invalid byte rather than at its end (RFC 3629: no overlongs, no surrogates, nothing above
/// U+10FFFF).
struct UTF8Validator: Sendable, Equatable {
    /// Continuation bytes still expected for the current character.
    private var pending: UInt8 = 0
    /// The range the next continuation byte must be in (narrower than 80...BF only right
    /// after E0, ED, F0 and F4).
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    /// Whether the bytes so far end on a character boundary.
    var isComplete: Bool { self.pending == 0 }

    /// Feeds more bytes.
    /// - Returns: false as soon as the bytes cannot be UTF-8, whatever follows.
    mutating func feed<Bytes: Sequence>(_ bytes: Bytes) -> Bool where Bytes.Element == UInt8 {
        for byte in bytes {
            guard self.feed(byte) else { return false }
        }
        return true
    }

    /// Feeds the readable bytes of a buffer-like raw pointer; fast over ASCII.
    mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let count = bytes.count
        while index < count {
            // Eight ASCII bytes at a time while no character is open.
            if self.pending == 0, index + 8 <= count,
                bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0
            {
                index += 8
                continue
            }
            guard self.feed(bytes[index]) else { return false }
            index += 1
        }
        return true
    }

    private mutating func feed(_ byte: UInt8) -> Bool {
        if self.pending > 0 {
            guard byte >= self.lower, byte <= self.upper else { return false }
            self.pending -= 1
            self.lower = 0x80
            self.upper = 0xBF
            return true
        }
        switch byte {
        case 0x00...0x7F:
            return true
        case 0xC2...0xDF:
            self.pending = 1
        case 0xE0:
            self.pending = 2
            self.lower = 0xA0  // no overlong 3-byte forms
        case 0xED:
            self.pending = 2
            self.upper = 0x9F  // no surrogates
        case 0xE1...0xEC, 0xEE...0xEF:
            self.pending = 2
        case 0xF0:
            self.pending = 3
            self.lower = 0x90  // no overlong 4-byte forms
        case 0xF1...0xF3:
            self.pending = 3
        case 0xF4:
            self.pending = 3
            self.upper = 0x8F  // nothing above U+10FFFF
        default:
            return false  // 80...C1 as a first byte, F5...FF
        }
        return true
    }
}
