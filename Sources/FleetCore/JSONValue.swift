import Foundation

/// Any JSON value, decoded without loss of kind: `true` stays a boolean, `1` a number. Numbers
/// keep their text: integers of up to 38 digits exactly as written (`123` is "123", a 20-digit
/// id keeps its digits); longer integers are rounded to 38 significant digits, and fractions
/// go through `Double`. A value is written back out unchanged in meaning.
public enum JSONValue: Decodable, Sendable, Hashable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else if let integer = try? container.decode(Int64.self) {
            self = .number(String(integer))
        } else if let integer = try? container.decode(UInt64.self) {
            self = .number(String(integer))
        } else if let decimal = try? container.decode(Decimal.self), decimal.isFinite, decimal.exponent >= 0 {
            // An integer beyond 64 bits: keep its digits rather than round it through Double.
            self = .number("\(decimal)")
        } else if let number = try? container.decode(Double.self) {
            self = .number(number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number))
        } else if let flag = try? container.decode(Bool.self) {
            self = .bool(flag)
        } else if let items = try? container.decode([JSONValue].self) {
            self = .array(items)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Decodes a JSON text (RFC 8259) in one pass, numbers kept as `init(from:)` keeps them.
    /// Nesting deeper than ``JSONReader/maximumDepth`` is refused.
    /// - Throws: `DecodingError.dataCorrupted`, naming the problem and its offset, when it is not JSON.
    public init(parsing text: some Sequence<UInt8>) throws {
        var reader = JSONReader(bytes: Array(text))
        self = try reader.document()
    }

    /// A number's text as `init(from:)` keeps it: an integer that fits 64 bits, or one of the
    /// same value as an integral fraction below 2^53 (`1.0`, `1e2`); other integral values
    /// through `Decimal`; the rest through `Double` (where JSONDecoder cut the fraction off
    /// a number beyond 2^53). Nil when it fits none (`1e400`).
    fileprivate static func normalizedNumber(_ token: String) -> String? {
        if let integer = Int64(token) { return String(integer) }
        if let integer = UInt64(token) { return String(integer) }
        let number = Double(token)
        if let number, number.magnitude < 0x1p53, let integer = Int64(exactly: number) { return String(integer) }
        if let decimal = Decimal(string: token), decimal.isFinite, decimal.exponent >= 0 { return "\(decimal)" }
        guard let number, number.isFinite else { return nil }
        return number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }

    /// "a boolean", "an object"…, for error messages.
    public var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// The value as compact JSON text (object keys sorted).
    public var text: String {
        var out = ""
        write(to: &out)
        return out
    }

    public func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .number(let text): out += text
        case .string(let text): JSONValue.appendString(text, to: &out)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                JSONValue.appendString(key, to: &out)
                out += ":"
                members[key]!.write(to: &out)
            }
            out += "}"
        }
    }

    /// Appends `value` as a JSON string literal; non-ASCII text is kept as UTF-8.
    public static func appendString(_ value: String, to out: inout String) {
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let control where control.value < 0x20:
                let hex = String(control.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    /// `value` as a JSON string literal.
    public static func quoted(_ value: String) -> String {
        var out = ""
        appendString(value, to: &out)
        return out
    }
}

/// Reads JSON text byte by byte, each value once. (JSONDecoder, used before, can only be asked
/// for one kind of value after another; every wrong guess built an error holding the whole
/// coding path, so 1 KB of nested arrays took seconds.)
struct JSONReader {
    /// The deepest nesting of arrays and objects read, as JSONDecoder allowed.
    static let maximumDepth = 512

    private let bytes: [UInt8]
    private var index = 0
    var depth = 0

    init(bytes: [UInt8]) {
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

    mutating func string() throws -> String {
        index += 1
        var utf8: [UInt8] = []
        var start = index
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""):
                let text: String?
                if utf8.isEmpty {
                    // No escape: straight from the text, without a copy in between.
                    text = String(validating: bytes[start..<index], as: UTF8.self)
                } else {
                    utf8 += bytes[start..<index]
                    text = String(validating: utf8, as: UTF8.self)
                }
                index += 1
                guard let text else { throw failure("invalid UTF-8 in a string") }
                return text
            case UInt8(ascii: "\\"):
                utf8 += bytes[start..<index]
                index += 1
                try escape(into: &utf8)
                start = index
            case 0..<0x20:
                throw failure("control character in a string")
            default:
                index += 1
            }
        }
        throw failure("unterminated string")
    }

    /// The character after a backslash, and the hex digits of `\u`.
    private mutating func escape(into utf8: inout [UInt8]) throws {
        guard index < bytes.count else { throw failure("unterminated string") }
        let letter = bytes[index]
        index += 1
        switch letter {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(letter)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            var code = try hex4()
            if (0xD800..<0xDC00).contains(code) {
                guard consume(UInt8(ascii: "\\"), skippingWhitespace: false), consume(UInt8(ascii: "u"), skippingWhitespace: false) else {
                    throw failure("a high surrogate escape without its low surrogate")
                }
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw failure("a high surrogate escape without its low surrogate") }
                code = 0x10000 + (code - 0xD800) << 10 + (low - 0xDC00)
            }
            guard let scalar = Unicode.Scalar(code) else { throw failure("a low surrogate escape without its high surrogate") }
            utf8 += Array(String(scalar).utf8)
        default:
            throw failure("unknown escape '\\\(Character(Unicode.Scalar(letter)))'")
        }
    }

    private mutating func hex4() throws -> UInt32 {
        var code: UInt32 = 0
        for _ in 0..<4 {
            guard index < bytes.count, let digit = Character(Unicode.Scalar(bytes[index])).hexDigitValue else {
                throw failure("expected four hex digits after \\u")
            }
            code = code << 4 | UInt32(digit)
            index += 1
        }
        return code
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, normalized.
    private mutating func number() throws -> String {
        let start = index
        _ = consume(UInt8(ascii: "-"), skippingWhitespace: false)
        if !consume(UInt8(ascii: "0"), skippingWhitespace: false) {
            guard digits() > 0 else { throw failure("expected a digit") }
        }
        if consume(UInt8(ascii: "."), skippingWhitespace: false) {
            guard digits() > 0 else { throw failure("expected a digit after the decimal point") }
        }
        if consume(UInt8(ascii: "e"), skippingWhitespace: false) || consume(UInt8(ascii: "E"), skippingWhitespace: false) {
            if !consume(UInt8(ascii: "+"), skippingWhitespace: false) { _ = consume(UInt8(ascii: "-"), skippingWhitespace: false) }
            guard digits() > 0 else { throw failure("expected a digit in the exponent") }
        }
        let token = String(decoding: bytes[start..<index], as: UTF8.self)
        guard let number = JSONValue.normalizedNumber(token) else {
            throw failure("the number \(token.prefix(40)) does not fit in a Double", at: start)
        }
        return number
    }

    /// Steps over decimal digits; how many.
    private mutating func digits() -> Int {
        let start = index
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        return index - start
    }

    private mutating func literal(_ word: String, _ result: JSONValue) throws -> JSONValue {
        guard bytes[index...].starts(with: word.utf8) else { throw failure("unexpected character") }
        index += word.utf8.count
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
