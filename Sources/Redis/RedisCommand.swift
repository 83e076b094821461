import NIOCore

/// One argument of a Redis command.
public enum RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case string(String)
    case bytes(ByteBuffer)
    case int(Int)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
}

/// A command encoded once, as a RESP array of bulk strings, ready to be written.
public struct RedisCommand: Sendable {
    /// The command's name (first word), for errors and logs.
    public let name: String
    /// How many replies the server sends for it: 1, except for
    /// `SUBSCRIBE`-family commands, which confirm once per channel.
    public let replyCount: Int
    /// The RESP bytes.
    public let encoded: ByteBuffer

    /// - Parameters:
    ///   - name: the command word(s) before the arguments, e.g. `"GET"` or `"SCRIPT LOAD"`
    ///     is written as `["SCRIPT", "LOAD"]` by passing `"SCRIPT"` and `"LOAD"` as the first argument.
    ///   - arguments: the rest, binary-safe.
    public init(_ name: String, _ arguments: [RedisArgument] = [], replyCount: Int = 1) {
        self.name = name
        self.replyCount = replyCount
        var buffer = ByteBufferAllocator().buffer(capacity: Self.estimatedSize(name, arguments))
        buffer.writeStaticString("*")
        buffer.writeDecimal(arguments.count + 1)
        buffer.writeStaticString("\r\n")
        buffer.writeBulk(string: name)
        for argument in arguments {
            switch argument {
            case .string(let text):
                buffer.writeBulk(string: text)
            case .bytes(var bytes):
                buffer.writeStaticString("$")
                buffer.writeDecimal(bytes.readableBytes)
                buffer.writeStaticString("\r\n")
                buffer.writeBuffer(&bytes)
                buffer.writeStaticString("\r\n")
            case .int(let value):
                buffer.writeBulk(string: String(value))
            }
        }
        self.encoded = buffer
    }

    private static func estimatedSize(_ name: String, _ arguments: [RedisArgument]) -> Int {
        var size = 16 + name.utf8.count
        for argument in arguments {
            switch argument {
            case .string(let text): size += text.utf8.count + 16
            case .bytes(let bytes): size += bytes.readableBytes + 16
            case .int: size += 36
            }
        }
        return size
    }
}

extension ByteBuffer {
    fileprivate mutating func writeDecimal(_ value: Int) {
        writeString(String(value))
    }

    fileprivate mutating func writeBulk(string: String) {
        writeStaticString("$")
        writeDecimal(string.utf8.count)
        writeStaticString("\r\n")
        writeString(string)
        writeStaticString("\r\n")
    }
}
