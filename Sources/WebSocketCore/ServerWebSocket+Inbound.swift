import NIOCore
import NIOWebSocket

extension ServerWebSocket {
    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.parser.append(Self.unwrapInboundIn(data))
        do {
            while let frame = try self.parser.next() {
                self.received(frame, context: context)
                // A handler removed or a channel closed by what the frame did reads no more.
                guard self.context != nil else { return }
            }
        } catch {
            self.frameFailed(error, context: context)
        }
    }

    private func received(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        switch self.state.frameReceived(frame, options: self.options, now: context.eventLoop.now) {
        case .none:
            break
        case .deliver(let message, let isText):
            self.delegate?.webSocket(self, didReceive: message, isText: isText)
        case .pong(let payload):
            self.writeFrame(WebSocketFrames.encode(payload, opcode: .pong, allocator: context.channel.allocator))
            context.flush()
        case .fail(let code, let reason):
            self.sendClose(code: code, reason: reason, context: context)
        case .answerClose(let code):
            self.disarm()
            var frame = context.channel.allocator.buffer(capacity: 4)
            if let code {
                WebSocketFrames.writeHeader(into: &frame, opcode: .connectionClose, payloadLength: 2)
                frame.writeInteger(code)
            } else {
                WebSocketFrames.writeHeader(into: &frame, opcode: .connectionClose, payloadLength: 0)
            }
            context.writeAndFlush(Self.wrapOutboundOut(frame)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        case .closeConnection:
            self.disarm()
            context.close(promise: nil)
        }
    }

    /// A frame that cannot be read closes the socket (1009 for an oversized frame): the
    /// close frame, then the end of our output at once (RFC 6455 7.1.7; nothing after the
    /// bad frame can be read, so neither can the peer's answer), then TCP after the close
    /// timeout unless the peer closes first.
    private func frameFailed(_ error: NIOWebSocketError, context: ChannelHandlerContext) {
        guard let code = self.state.decoderFailed(error) else { return }
        let frame = WebSocketFrames.close(code: code, reason: "", allocator: context.channel.allocator)
        context.writeAndFlush(Self.wrapOutboundOut(frame)).assumeIsolated().whenComplete { _ in
            // Half-close: the peer reads our close and the end; what it still sends is read
            // and dropped, so the kernel has no unread bytes to answer with a reset.
            let shutdown = context.eventLoop.makePromise(of: Void.self)
            shutdown.futureResult.assumeIsolated().whenFailure { _ in context.close(promise: nil) }
            context.close(mode: .output, promise: shutdown)
        }
        self.arm(in: self.options.closeTimeout)
    }

    /// Errors of the channel (I/O) close it.
    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.state.closed()
        context.close(promise: nil)
    }

    /// Writes our close frame after everything written so far, flushes, and starts the close timeout.
    func sendClose(code: WebSocketErrorCode, reason: String, context: ChannelHandlerContext) {
        self.writeFrame(WebSocketFrames.close(code: code, reason: reason, allocator: context.channel.allocator))
        context.flush()
        self.arm(in: self.options.closeTimeout)
    }
}
