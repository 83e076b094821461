/// `application/x-www-form-urlencoded` (and URL query) decoding: `a=b&c=d`, `+` as space,
/// `%XX` escapes. A malformed escape or invalid UTF-8 is an error, not a guess.
package enum FormDecoding {
    package struct Malformed: Error, CustomStringConvertible {
        package let description: String
    }

    package static func pairs(_ text: Substring) throws -> [(name: String, value: String)] {
        var result: [(name: String, value: String)] = []
        // By UTF-8 code unit: `&` and `=` are ASCII, so every cut falls between characters.
        let utf8 = text.utf8
        var start = utf8.startIndex
        while start < utf8.endIndex {
            let end = utf8[start...].firstIndex(of: UInt8(ascii: "&")) ?? utf8.endIndex
            if start < end {
                let part = text[start..<end]
                if let equals = part.utf8.firstIndex(of: UInt8(ascii: "=")) {
                    result.append((try decode(part[..<equals]), try decode(part[part.utf8.index(after: equals)...])))
                } else {
                    result.append((try decode(part), ""))
                }
            }
            start = end == utf8.endIndex ? end : utf8.index(after: end)
        }
        return result
    }

    package static func decode(_ text: Substring) throws -> String {
        // Most names and values hold nothing to decode: taken as they are.
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "%") }) else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    throw Malformed(description: "malformed percent-escape in \"\(text.prefix(64))\"")
                }
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
        }
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw Malformed(description: "invalid UTF-8 in \"\(text.prefix(64))\"")
        }
        return string
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
