// What a typed decoder reads with: objects whose keys are matched where they stand in the
// text, arrays read element by element, and the values of known types. Only the values the
// decoder keeps become Strings; keys, operation names and tags are compared as bytes.

/// An object key, or a string value used as a name (an operation, a tag): its bytes in the
/// text, compared without making a String. One with an escape or a non-ASCII byte (which no
/// name of ours has) is decoded, so that it still compares by meaning, as JSONDecoder did.
struct JSONName {
    fileprivate let raw: UnsafeBufferPointer<UInt8>
    fileprivate let decoded: String?

    /// Whether it is `name` (ASCII).
    func `is`(_ name: StaticString) -> Bool {
        `is`(UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }

    /// Whether its UTF-8 is `expected`.
    func `is`(_ expected: UnsafeBufferPointer<UInt8>) -> Bool {
        if let decoded { return decoded.utf8.elementsEqual(expected) }
        return raw.count == expected.count && raw.elementsEqual(expected)
    }

    /// The name as text, for error messages.
    var text: String { decoded ?? String(decoding: raw, as: UTF8.self) }
}

extension JSONReader {
    /// A string read as a name: see ``JSONName``.
    mutating func name() throws -> JSONName {
        guard peek() == UInt8(ascii: "\"") else { throw failure("expected a string") }
        let quote = index
        index += 1
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return JSONName(raw: UnsafeBufferPointer(rebasing: bytes[start..<index - 1]), decoded: nil)
            }
            guard byte >= 0x20, byte < 0x80, byte != UInt8(ascii: "\\") else { break }
            index += 1
        }
        // An escape, a non-ASCII byte, a control character or the end of the text: read it as
        // any string is read (and refused as any string is).
        index = quote
        let decoded = try string()
        return JSONName(raw: UnsafeBufferPointer(rebasing: bytes[quote + 1..<index - 1]), decoded: decoded)
    }

    /// Reads an object, calling `member` with each key; `member` must read the key's value.
    mutating func object(_ member: (inout JSONReader, JSONName) throws -> Void) throws {
        guard peek() == UInt8(ascii: "{") else { throw failure("expected an object") }
        try enterContainer()
        defer { depth -= 1 }
        if consume(UInt8(ascii: "}")) { return }
        repeat {
            guard peek() == UInt8(ascii: "\"") else { throw failure("expected a string key") }
            let key = try name()
            guard consume(UInt8(ascii: ":")) else { throw failure("expected ':' after a key") }
            try member(&self, key)
        } while try separator(closing: UInt8(ascii: "}"))
    }

    /// Reads an array, calling `element` for each element; `element` must read it.
    mutating func array(_ element: (inout JSONReader) throws -> Void) throws {
        guard peek() == UInt8(ascii: "[") else { throw failure("expected an array") }
        try enterContainer()
        defer { depth -= 1 }
        if consume(UInt8(ascii: "]")) { return }
        repeat {
            try element(&self)
        } while try separator(closing: UInt8(ascii: "]"))
    }

    /// Steps over a value of any kind (still checked: what is not JSON is refused).
    mutating func skipValue() throws {
        _ = try value()
    }

    /// Whether the next value is `null`; steps over it if so.
    mutating func null() throws -> Bool {
        guard peek() == UInt8(ascii: "n") else { return false }
        guard case .null = try value() else { throw failure("expected null") }
        return true
    }

    /// A string value.
    mutating func requiredString() throws -> String {
        guard peek() == UInt8(ascii: "\"") else { throw failure("expected a string") }
        return try string()
    }

    /// A string value, or nil for `null`.
    mutating func optionalString() throws -> String? {
        try null() ? nil : requiredString()
    }

    /// An array of strings.
    mutating func strings() throws -> [String] {
        var items: [String] = []
        try array { reader in items.append(try reader.requiredString()) }
        return items
    }

    /// An array of strings, or nil for `null`.
    mutating func optionalStrings() throws -> [String]? {
        try null() ? nil : strings()
    }

    /// An array of integers.
    mutating func integers() throws -> [Int] {
        var items: [Int] = []
        try array { reader in items.append(try reader.integer()) }
        return items
    }

    /// `true` or `false`.
    mutating func bool() throws -> Bool {
        switch peek() {
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            guard case .bool(let flag) = try value() else { throw failure("expected a boolean") }
            return flag
        default:
            throw failure("expected a boolean")
        }
    }

    /// An integer that fits `Int`: digits read as they stand; a number with a fraction or an
    /// exponent counts when its value is integral (`1.0`, `1e2`), as JSONDecoder allowed.
    mutating func integer() throws -> Int {
        guard let first = peek(), first == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            throw failure("expected an integer")
        }
        let (start, integral) = try numberBounds()
        let negative = bytes[start] == UInt8(ascii: "-")
        let digitsStart = negative ? start + 1 : start
        if integral, index - digitsStart <= 18 {
            // At most 18 digits: no overflow possible.
            var value = 0
            for position in digitsStart..<index { value = value * 10 + Int(bytes[position] &- UInt8(ascii: "0")) }
            return negative ? -value : value
        }
        let token = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let normalized = JSONValue.normalizedNumber(token), let value = Int(normalized) else {
            throw failure("expected an integer", at: start)
        }
        return value
    }
}
