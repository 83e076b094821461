import NIOCore
import Redis

/// Random RESP2 replies, written out, and the hostile byte strings a Redis client must survive.
enum RESPGenerator {
    /// A random reply at most `depth` arrays deep.
    static func value(depth: Int, using random: inout FuzzRandom) -> RESPValue {
        switch random.int(depth > 0 ? 0...6 : 0...5) {
        case 0: return .simpleString(line(using: &random))
        case 1: return .error(line(using: &random))
        case 2: return .integer(random.chance(50) ? Int64(random.int(-100...100)) : Int64.random(in: .min ... .max, using: &random))
        case 3, 4: return .bulkString(ByteBuffer(bytes: random.chance(50) ? random.bytes(random.length()) : Array(random.text(random.int(0...20)).utf8)))
        case 5: return .null
        default: return .array((0..<random.int(0...5)).map { _ in value(depth: depth - 1, using: &random) })
        }
    }

    /// Text for a status or error line: no CR or LF.
    static func line(using random: inout FuzzRandom) -> String {
        random.text(random.int(0...16)).filter { $0 != "\r" && $0 != "\n" && $0 != "\r\n" }
    }

    /// `value` in RESP2; a null is written either way Redis writes one.
    static func encode(_ value: RESPValue, into out: inout [UInt8], using random: inout FuzzRandom) {
        switch value {
        case .simpleString(let text): out += Array("+\(text)\r\n".utf8)
        case .error(let text): out += Array("-\(text)\r\n".utf8)
        case .integer(let number): out += Array(":\(number)\r\n".utf8)
        case .bulkString(let buffer):
            out += Array("$\(buffer.readableBytes)\r\n".utf8) + Array(buffer.readableBytesView) + Array("\r\n".utf8)
        case .null: out += Array((random.chance(50) ? "$-1\r\n" : "*-1\r\n").utf8)
        case .array(let elements):
            out += Array("*\(elements.count)\r\n".utf8)
            for element in elements { encode(element, into: &out, using: &random) }
        }
    }

    /// Replies that are wrong in the ways a broken or hostile server is: lengths that lie,
    /// huge or negative counts, deep nesting, unknown type bytes, bad line endings.
    static func hostile(using random: inout FuzzRandom) -> [UInt8] {
        let payload = random.bytes(random.int(0...12))
        let text: [UInt8] =
            switch random.int(0...9) {
            case 0:  // a bulk string whose length is off
                Array("$\(max(0, payload.count + random.int(-3...3)))\r\n".utf8) + payload + Array("\r\n".utf8)
            case 1:
                Array("$\(random.pick(hugeNumbers))\r\n".utf8) + payload
            case 2:
                Array("*\(random.pick(hugeNumbers))\r\n".utf8) + Array(":1\r\n".utf8)
            case 3:  // arrays nested around the depth limit
                Array(String(repeating: "*1\r\n", count: random.int(5...12)).utf8) + Array("+x\r\n".utf8)
            case 4:
                [random.pick(Array("!?#%&()/0123456789;<=>@^_`{|}~,.\u{7F}".utf8) + [0, 0x80, 0xFF])] + payload + Array("\r\n".utf8)
            case 5:  // integers that are not integers
                Array(":\(random.pick(["", "-", "abc", "1.5", "99999999999999999999999", "--1", "+1", " 1"]))\r\n".utf8)
            case 6:  // LF or CR alone
                Array(random.pick(["+OK\n", "+OK\r", "$3\nabc\n", "*1\n:1\n", ":1\r\r\n", "$3\r\nabc\n\r"]).utf8)
            case 7:
                Array("$\(random.pick(["", "-", "abc", "1.5", " 3", "3 ", "+3", "0x3"]))\r\nabc\r\n".utf8)
            case 8:
                Array("*\(random.pick(["", "-", "abc", "1.5", " 1", "+1"]))\r\n:1\r\n".utf8)
            default:  // a valid reply cut anywhere
                Array(encoded(value(depth: 2, using: &random), using: &random).dropLast(random.int(1...4)))
            }
        return text
    }

    /// Declared lengths at and beyond every limit.
    static let hugeNumbers = [
        "-2", "-3", "2147483647", "2147483648", "4294967295", "4294967296", "536870912", "1000000000",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "99999999999999999999",
    ]

    static func encoded(_ value: RESPValue, using random: inout FuzzRandom) -> [UInt8] {
        var out: [UInt8] = []
        encode(value, into: &out, using: &random)
        return out
    }
}
