import NIOCore
import NIOWebSocket

/// Server frames encoded once, to be written as they are to one channel or to thousands.
public enum WebSocketFrames {
    /// The largest close reason, in bytes: a control payload is at most 125 bytes, 2 of which
    /// are the code.
    public static let maxCloseReasonBytes = 123

    /// Encodes one unmasked server frame with FIN set: header and payload in one buffer, so it
    /// can be written to many channels unchanged.
    /// - Parameters:
    ///   - payload: The payload, its readable bytes.
    ///   - opcode: The frame's opcode.
    ///   - allocator: Where the buffer comes from.
    /// - Returns: The frame's bytes.
    public static func encode(
        _ payload: ByteBuffer,
        opcode: WebSocketOpcode = .text,
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) -> ByteBuffer {
        let length = payload.readableBytes
        var frame = allocator.buffer(capacity: headerSize(payloadLength: length) + length)
        writeHeader(into: &frame, opcode: opcode, payloadLength: length)
        frame.writeImmutableBuffer(payload)
        return frame
    }

    /// Encodes a text frame.
    /// - Parameters:
    ///   - text: The message.
    ///   - allocator: Where the buffer comes from.
    /// - Returns: The frame's bytes.
    public static func text(_ text: String, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        let length = text.utf8.count
        var frame = allocator.buffer(capacity: headerSize(payloadLength: length) + length)
        writeHeader(into: &frame, opcode: .text, payloadLength: length)
        frame.writeString(text)
        return frame
    }

    /// Encodes a close frame.
    /// - Parameters:
    ///   - code: The close code.
    ///   - reason: The reason, cut to ``maxCloseReasonBytes`` on a UTF-8 character boundary.
    ///   - allocator: Where the buffer comes from.
    /// - Returns: The frame's bytes.
    public static func close(
        code: WebSocketErrorCode,
        reason: String,
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) -> ByteBuffer {
        let reasonBytes = truncatedReason(reason)
        var frame = allocator.buffer(capacity: 4 + reasonBytes.count)
        writeHeader(into: &frame, opcode: .connectionClose, payloadLength: 2 + reasonBytes.count)
        frame.write(webSocketErrorCode: code)
        frame.writeBytes(reasonBytes)
        return frame
    }

    /// The bytes of a frame header (no mask) for a payload of `payloadLength` bytes.
    static func headerSize(payloadLength: Int) -> Int {
        switch payloadLength {
        case ...125: 2
        case ...0xFFFF: 4
        default: 10
        }
    }

    static func writeHeader(into buffer: inout ByteBuffer, opcode: WebSocketOpcode, payloadLength: Int) {
        buffer.writeInteger(0x80 | UInt8(webSocketOpcode: opcode))
        switch payloadLength {
        case ...125:
            buffer.writeInteger(UInt8(payloadLength))
        case ...0xFFFF:
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(payloadLength))
        default:
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(payloadLength))
        }
    }

    /// The UTF-8 of `reason`, at most ``maxCloseReasonBytes`` long, never ending inside a character.
    static func truncatedReason(_ reason: String) -> ArraySlice<UInt8> {
        let bytes = Array(reason.utf8)
        guard bytes.count > maxCloseReasonBytes else { return bytes[...] }
        var end = maxCloseReasonBytes
        // Back off while the first byte left out continues a character (10xxxxxx).
        while end > 0, bytes[end] & 0xC0 == 0x80 { end -= 1 }
        return bytes[..<end]
    }
}
