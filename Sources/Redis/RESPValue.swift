import NIOCore

/// One RESP2 reply from a Redis server.
public enum RESPValue: Sendable, Hashable {
    /// `+OK` and other status replies.
    case simpleString(String)
    /// `-ERR ...`: the server's error line, kept as a value so a pipeline can carry it.
    case error(String)
    /// `:42`.
    case integer(Int64)
    /// `$5\r\nhello`: binary-safe bytes.
    case bulkString(ByteBuffer)
    /// `$-1` or `*-1`.
    case null
    /// `*N`.
    case array([RESPValue])
}

extension RESPValue {
    /// The value as text when it is a bulk or simple string.
    public var string: String? {
        switch self {
        case .bulkString(let buffer): String(buffer: buffer)
        case .simpleString(let text): text
        default: nil
        }
    }

    /// The value as an integer (integer replies, or a bulk string holding digits).
    public var int: Int? {
        switch self {
        case .integer(let value): Int(value)
        case .bulkString(let buffer): Int(String(buffer: buffer))
        default: nil
        }
    }

    /// The elements of an array reply.
    public var array: [RESPValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// Whether this is the null reply.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The server's error message when this is an error reply.
    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }
}
