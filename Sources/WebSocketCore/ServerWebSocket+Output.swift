import NIOCore
import NIOWebSocket

extension ServerWebSocket {
    /// Queues an encoded frame (from ``WebSocketFrames``) without flushing. It counts for the
    /// slow-consumer policy: while the channel is unwritable, passing `maxQueuedMessages` or
    /// `maxQueuedBytes` cuts the connection. Dropped once the socket is closing.
    /// On the event loop.
    /// - Parameter frame: The frame's bytes, written as they are.
    public func write(frame: ByteBuffer) {
        self.eventLoop.preconditionInEventLoop()
        guard !self.state.isClosing else { return }
        self.writeFrame(frame)
    }

    /// Flushes what was written. On the event loop.
    public func flush() {
        self.eventLoop.preconditionInEventLoop()
        self.context?.flush()
    }

    /// Encodes, writes and flushes one message. On the event loop.
    /// - Parameters:
    ///   - payload: The message.
    ///   - opcode: `.text` or `.binary`.
    public func send(_ payload: ByteBuffer, opcode: WebSocketOpcode = .text) {
        self.eventLoop.preconditionInEventLoop()
        guard !self.state.isClosing, let context = self.context else { return }
        self.writeFrame(WebSocketFrames.encode(payload, opcode: opcode, allocator: context.channel.allocator))
        self.context?.flush()
    }

    /// Encodes, writes and flushes one text message. On the event loop.
    /// - Parameter text: The message.
    public func send(text: String) {
        self.eventLoop.preconditionInEventLoop()
        guard !self.state.isClosing, let context = self.context else { return }
        self.writeFrame(WebSocketFrames.text(text, allocator: context.channel.allocator))
        self.context?.flush()
    }

    /// Starts the close handshake: a close frame after everything written so far, flushed;
    /// then TCP closes when the peer answers or `closeTimeout` passes. Only the first close
    /// counts; later writes are dropped. On the event loop.
    /// - Parameters:
    ///   - code: The close code.
    ///   - reason: The reason, cut to 123 bytes.
    public func close(code: WebSocketErrorCode, reason: String = "") {
        self.eventLoop.preconditionInEventLoop()
        guard let context = self.context, self.state.closeRequested() else { return }
        self.sendClose(code: code, reason: reason, context: context)
    }

    /// Closes TCP now, without a close frame. On the event loop.
    public func cut() {
        self.eventLoop.preconditionInEventLoop()
        self.state.closed()
        self.disarm()
        self.context?.close(promise: nil)
    }

    /// Writes without flushing and applies the slow-consumer policy. Only what is written
    /// once the channel is unwritable counts: the write that makes it unwritable (the
    /// channel says so during the write) does not, so that one message larger than
    /// `maxQueuedBytes` still goes out to a client that reads.
    func writeFrame(_ frame: ByteBuffer) {
        guard let context = self.context else { return }
        let bytes = frame.readableBytes
        let counted = !self.slowConsumer.isWritable
        context.write(Self.wrapOutboundOut(frame), promise: nil)
        guard counted else { return }
        let action = self.slowConsumer.wrote(
            bytes: bytes,
            maxMessages: self.options.maxQueuedMessages,
            maxBytes: self.options.maxQueuedBytes
        )
        if action == .cut {
            self.cut()
        }
    }
}
