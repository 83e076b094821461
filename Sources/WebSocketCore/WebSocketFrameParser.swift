import NIOCore
import NIOWebSocket

/// Reads client frames from the bytes of a connection (RFC 6455 5.2), inside the socket's
/// handler rather than as a handler of its own: an idle socket keeps no decoder, context or
/// buffer. A frame's payload is a slice of what was read (no copy); bytes of an incomplete
/// frame are kept until the rest arrives, and nothing is kept between frames.
struct WebSocketFrameParser {
    /// The largest payload a frame may declare; a larger one fails before its bytes are read.
    let maxFrameSize: Int
    /// Bytes read and not yet parsed (an incomplete frame), nil when there are none.
    private var pending: ByteBuffer?
    /// A frame failed: what follows it is not parsed (the connection is closing).
    private var failed = false

    init(maxFrameSize: Int) {
        self.maxFrameSize = maxFrameSize
    }

    /// Bytes read from the peer.
    mutating func append(_ bytes: ByteBuffer) {
        guard !self.failed else { return }
        guard var buffer = self.pending.take() else {
            self.pending = bytes
            return
        }
        // What was parsed before is dropped once it is most of the buffer, so that a stream
        // of frames that always ends in a partial one does not grow the buffer forever.
        if buffer.readerIndex > 0, buffer.readerIndex >= buffer.readableBytes {
            buffer.discardReadBytes()
        }
        buffer.writeImmutableBuffer(bytes)
        self.pending = buffer
    }

    /// The next complete frame, nil until more bytes arrive.
    /// - Throws: `NIOWebSocketError.invalidFrameLength` for a frame larger than
    ///   ``maxFrameSize`` (nothing more is parsed after it).
    mutating func next() throws(NIOWebSocketError) -> WebSocketFrame? {
        guard !self.failed, var buffer = self.pending.take() else { return nil }
        let start = buffer.readerIndex
        let frame: WebSocketFrame?
        do {
            frame = try Self.parse(&buffer, maxFrameSize: self.maxFrameSize)
        } catch {
            self.failed = true
            throw error
        }
        if frame == nil { buffer.moveReaderIndex(to: start) }
        self.pending = buffer.readableBytes > 0 ? buffer : nil
        return frame
    }

    /// Parses one frame from the front of `buffer`, moving its reader index past it; nil (the
    /// reader index anywhere) when the frame is not complete yet.
    private static func parse(_ buffer: inout ByteBuffer, maxFrameSize: Int) throws(NIOWebSocketError) -> WebSocketFrame? {
        guard let first = buffer.readInteger(as: UInt8.self), let second = buffer.readInteger(as: UInt8.self) else { return nil }
        let length: UInt64
        switch second & 0x7F {
        case 126:
            guard let extended = buffer.readInteger(as: UInt16.self) else { return nil }
            length = UInt64(extended)
        case 127:
            guard let extended = buffer.readInteger(as: UInt64.self) else { return nil }
            length = extended
        case let short:
            length = UInt64(short)
        }
        guard length <= UInt64(maxFrameSize) else { throw .invalidFrameLength }
        var maskKey: WebSocketMaskingKey?
        if second & 0x80 != 0 {
            guard let key = buffer.readBytes(length: 4) else { return nil }
            maskKey = WebSocketMaskingKey(key)
        }
        guard let data = buffer.readSlice(length: Int(length)) else { return nil }
        // The low four bits are any opcode, defined or not: the state machine refuses the
        // undefined ones (1002).
        let opcode = WebSocketOpcode(encodedWebSocketOpcode: first & 0x0F)!
        return WebSocketFrame(
            fin: first & 0x80 != 0, rsv1: first & 0x40 != 0, rsv2: first & 0x20 != 0, rsv3: first & 0x10 != 0,
            opcode: opcode, maskKey: maskKey, data: data
        )
    }
}

extension Optional {
    /// The value, leaving nil in its place.
    fileprivate mutating func take() -> Wrapped? {
        defer { self = nil }
        return self
    }
}
