/// Reads JSON text byte by byte, each value once. (JSONDecoder, used before, can only be asked
/// for one kind of value after another; every wrong guess built an error holding the whole
/// coding path, so 1 KB of nested arrays took seconds.)
///
/// It reads bytes it borrows (the `withUTF8` or `withContiguousStorageIfAvailable` closure of
/// whoever owns them) and must not outlive that closure: nothing is copied but the values it
/// returns. It is not generic, so each caller, in whichever module, runs the one compiled copy
/// instead of instantiating generic metadata per call.
struct JSONReader {
    /// The deepest nesting of arrays and objects read, as JSONDecoder allowed.
    static let maximumDepth = 512

    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// The one value the text holds, with nothing but whitespace around it (and a UTF-8
    /// byte order mark before it, as JSONDecoder allowed).
    mutating func document() throws -> JSONValue {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
        let result = try value()
        skipWhitespace()
        guard index == bytes.count else { throw failure("unexpected text after the JSON value") }
        return result
    }

    mutating func value() throws -> JSONValue {
        skipWhitespace()
        guard index < bytes.count else { throw failure("unexpected end of the text") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return .object(try object())
        case UInt8(ascii: "["): return .array(try array())
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw failure("unexpected character")
        }
    }

    private mutating func array() throws -> [JSONValue] {
        try enterContainer()
        defer { depth -= 1 }
        var items: [JSONValue] = []
        if consume(UInt8(ascii: "]")) { return items }
        repeat {
            items.append(try value())
        } while try separator(closing: UInt8(ascii: "]"))
        return items
    }

    private mutating func object() throws -> [String: JSONValue] {
        try enterContainer()
        defer { depth -= 1 }
        var members: [String: JSONValue] = [:]
        if consume(UInt8(ascii: "}")) { return members }
        repeat {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw failure("expected a string key") }
            let key = try string()
            guard consume(UInt8(ascii: ":")) else { throw failure("expected ':' after a key") }
            let member = try value()
            if members[key] == nil { members[key] = member }  // the first of repeated keys wins, as with JSONDecoder
        } while try separator(closing: UInt8(ascii: "}"))
        return members
    }

    /// Steps over the opening bracket, one level deeper.
    mutating func enterContainer() throws {
        depth += 1
        guard depth <= Self.maximumDepth else { throw failure("nesting deeper than \(Self.maximumDepth) levels") }
        index += 1
    }

    /// After an element: true for a comma, false for the closing bracket (after one trailing
    /// comma too, as JSONDecoder allowed).
    mutating func separator(closing: UInt8) throws -> Bool {
        if consume(UInt8(ascii: ",")) { return !consume(closing) }
        if consume(closing) { return false }
        throw failure("expected ',' or '\(Character(Unicode.Scalar(closing)))'")
    }

    /// The string whose opening quote is at `index`, read in one pass: the bytes between
    /// escapes are copied once, into the result (or straight from the text when it has none).
    mutating func string() throws -> String {
        index += 1
        var utf8: [UInt8] = []
        var start = index
        var escaped = false
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""):
                let text: String?
                if !escaped {
                    text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                } else {
                    utf8.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                    text = String(validating: utf8, as: UTF8.self)
                }
                index += 1
                guard let text else { throw failure("invalid UTF-8 in a string") }
                return text
            case UInt8(ascii: "\\"):
                escaped = true
                utf8.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                index = try unescape(at: index + 1, into: &utf8)
                start = index
            case 0..<0x20:
                throw failure("control character in a string")
            default:
                index += 1
            }
        }
        throw failure("unterminated string")
    }

    /// The escape whose letter is at `position` (after a backslash), and the hex digits of
    /// `\u`, appended to `utf8`. - Returns: the position after it.
    private func unescape(at position: Int, into utf8: inout [UInt8]) throws -> Int {
        var position = position
        guard position < bytes.count else { throw failure("unterminated string", at: position) }
        let letter = bytes[position]
        position += 1
        switch letter {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(letter)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            var code = try hex4(at: &position)
            if (0xD800..<0xDC00).contains(code) {
                guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                    throw failure("a high surrogate escape without its low surrogate", at: position)
                }
                position += 2
                let low = try hex4(at: &position)
                guard (0xDC00..<0xE000).contains(low) else { throw failure("a high surrogate escape without its low surrogate", at: position) }
                code = 0x10000 + (code - 0xD800) << 10 + (low - 0xDC00)
            }
            guard let scalar = Unicode.Scalar(code) else { throw failure("a low surrogate escape without its high surrogate", at: position) }
            utf8.append(contentsOf: UTF8.encode(scalar)!)
        default:
            throw failure("unknown escape '\\\(Character(Unicode.Scalar(letter)))'", at: position - 1)
        }
        return position
    }

    private func hex4(at position: inout Int) throws -> UInt32 {
        var code: UInt32 = 0
        for _ in 0..<4 {
            guard position < bytes.count, let digit = Self.hexValue(bytes[position]) else {
                throw failure("expected four hex digits after \\u", at: position)
            }
            code = code << 4 | digit
            position += 1
        }
        return code
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, normalized.
    private mutating func number() throws -> String {
        let (start, _) = try numberBounds()
        let token = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let number = JSONValue.normalizedNumber(token) else {
            throw failure("the number \(token.prefix(40)) does not fit in a Double", at: start)
        }
        return number
    }

    /// Steps over a number. - Returns: where it starts, and whether it is only an optional
    /// minus and digits (no fraction, no exponent).
    mutating func numberBounds() throws -> (start: Int, integral: Bool) {
        let start = index
        _ = consume(UInt8(ascii: "-"), skippingWhitespace: false)
        if !consume(UInt8(ascii: "0"), skippingWhitespace: false) {
            guard digits() > 0 else { throw failure("expected a digit") }
        }
        var integral = true
        if consume(UInt8(ascii: "."), skippingWhitespace: false) {
            integral = false
            guard digits() > 0 else { throw failure("expected a digit after the decimal point") }
        }
        if consume(UInt8(ascii: "e"), skippingWhitespace: false) || consume(UInt8(ascii: "E"), skippingWhitespace: false) {
            integral = false
            if !consume(UInt8(ascii: "+"), skippingWhitespace: false) { _ = consume(UInt8(ascii: "-"), skippingWhitespace: false) }
            guard digits() > 0 else { throw failure("expected a digit in the exponent") }
        }
        return (start, integral)
    }

    /// Steps over decimal digits; how many.
    private mutating func digits() -> Int {
        let start = index
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        return index - start
    }

    private mutating func literal(_ word: StaticString, _ result: JSONValue) throws -> JSONValue {
        let length = word.utf8CodeUnitCount
        guard bytes.count - index >= length,
            UnsafeBufferPointer(rebasing: bytes[index..<index + length]).elementsEqual(UnsafeBufferPointer(start: word.utf8Start, count: length))
        else { throw failure("unexpected character") }
        index += length
        return result
    }

    /// Steps over `byte` (after whitespace, unless told not to) if it comes next.
    mutating func consume(_ byte: UInt8, skippingWhitespace: Bool = true) -> Bool {
        if skippingWhitespace { skipWhitespace() }
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// The next byte after whitespace, not consumed; nil at the end of the text.
    mutating func peek() -> UInt8? {
        skipWhitespace()
        return index < bytes.count ? bytes[index] : nil
    }

    /// Whether only whitespace is left.
    mutating func isAtEnd() -> Bool {
        peek() == nil
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    func failure(_ problem: String, at offset: Int? = nil) -> DecodingError {
        let offset = offset ?? index
        let found = offset < bytes.count ? " (found byte 0x\(String(bytes[offset], radix: 16)))" : ""
        return DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "\(problem) at offset \(offset)\(found)"))
    }
}
