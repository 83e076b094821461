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
    ///
    /// Inlinable, so that a caller in another module gets a copy specialized for its sequence
    /// type instead of a generic one that looks up type metadata on every call.
    @inlinable
    package init(parsing text: some Sequence<UInt8>) throws {
        // Strings, arrays and `Data` lend their bytes as they are; only other sequences are copied.
        if let value = try text.withContiguousStorageIfAvailable({ try Self.parsing($0) }) {
            self = value
        } else {
            self = try Array(text).withUnsafeBufferPointer { try Self.parsing($0) }
        }
    }

    /// Decodes the JSON text in `bytes` (not generic: one compiled copy, whoever calls it).
    @usableFromInline
    static func parsing(_ bytes: UnsafeBufferPointer<UInt8>) throws -> JSONValue {
        var reader = JSONReader(bytes: bytes)
        return try reader.document()
    }

    /// A number's text as `init(from:)` keeps it: an integer that fits 64 bits, or one of the
    /// same value as an integral fraction below 2^53 (`1.0`, `1e2`); other integral values
    /// through `Decimal`; the rest through `Double` (where JSONDecoder cut the fraction off
    /// a number beyond 2^53). Nil when it fits none (`1e400`).
    static func normalizedNumber(_ token: String) -> String? {
        if let integer = Int64(token) { return String(integer) }
        if let integer = UInt64(token) { return String(integer) }
        let number = Double(token)
        if let number, number.magnitude < 0x1p53, let integer = Int64(exactly: number) { return String(integer) }
        if let decimal = Decimal(string: token), decimal.isFinite, decimal.exponent >= 0 { return "\(decimal)" }
        guard let number, number.isFinite else { return nil }
        return number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }

    /// "a boolean", "an object"…, for error messages.
    package var kind: String {
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
    package var text: String {
        var out = ""
        write(to: &out)
        return out
    }

    package func write(to out: inout String) {
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

    /// Appends `value` as a JSON string literal; non-ASCII text is kept as UTF-8. The runs
    /// between characters to escape are appended whole (most values have none).
    package static func appendString(_ value: String, to out: inout String) {
        out += "\""
        // Most values have nothing to escape: one pass over their bytes, then one append.
        let plain = value.utf8.withContiguousStorageIfAvailable { bytes in
            !bytes.contains { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
        }
        if plain == true {
            out += value
            out += "\""
            return
        }
        let utf8 = value.utf8
        var run = utf8.startIndex
        var index = run
        while index != utf8.endIndex {
            let byte = utf8[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else {
                utf8.formIndex(after: &index)
                continue
            }
            if run != index { out.append(contentsOf: Substring(utf8[run..<index])) }
            switch byte {
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            default:
                out += byte < 0x10 ? "\\u000" : "\\u001"
                out += String(byte & 0xF, radix: 16)
            }
            utf8.formIndex(after: &index)
            run = index
        }
        if run == utf8.startIndex {
            out += value
        } else if run != utf8.endIndex {
            out.append(contentsOf: Substring(utf8[run...]))
        }
        out += "\""
    }

    /// Appends `values` as a JSON array of strings.
    static func appendStrings(_ values: [String], to out: inout String) {
        out += "["
        for index in values.indices {
            if index > 0 { out += "," }
            appendString(values[index], to: &out)
        }
        out += "]"
    }

    /// `value` as a JSON string literal.
    package static func quoted(_ value: String) -> String {
        var out = ""
        appendString(value, to: &out)
        return out
    }
}
