import NIOCore
import NIOWebSocket

/// One server-side WebSocket: a channel handler that reads the connection's bytes itself
/// (``WebSocketFrameParser``: no decoder handler, context or buffer per idle socket), with
/// no frame encoder: it writes frames already encoded (``WebSocketFrames``), so one
/// broadcast buffer goes unchanged to many channels.
///
/// No task, stream or buffer per connection while idle: one scheduled callback (keep-alive
/// or close timeout) and a few stored properties. Methods documented "on the event loop"
/// must be called on ``eventLoop``.
public final class ServerWebSocket: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// The event loop of the socket's channel; readable from any thread.
    public let eventLoop: any EventLoop
    let options: WebSocketOptions
    var delegate: (any WebSocketDelegate)?
    var context: ChannelHandlerContext?
    var state: WebSocketStateMachine
    var parser: WebSocketFrameParser
    var slowConsumer = SlowConsumerPolicy()
    var timer: NIOScheduledCallback?
    /// Tells a stale timer callback from the current one.
    var timerGeneration: UInt32 = 0
    var didOpen = false

    /// Creates the handler of one socket.
    /// - Parameters:
    ///   - options: Limits and timers (`maxMessageSize` bounds each frame too).
    ///   - delegate: Told of the socket's life; held strongly until ``WebSocketDelegate/webSocketDidClose(_:)``.
    ///   - eventLoop: The event loop of the channel the handler will be added to.
    public init(options: WebSocketOptions, delegate: any WebSocketDelegate, eventLoop: any EventLoop) {
        self.options = options
        self.delegate = delegate
        self.eventLoop = eventLoop
        self.state = WebSocketStateMachine(options: options)
        self.parser = WebSocketFrameParser(maxFrameSize: options.maxMessageSize)
    }

    /// The peer's address, nil once the channel is gone. On the event loop.
    public var remoteAddress: SocketAddress? {
        self.eventLoop.preconditionInEventLoop()
        return self.context?.channel.remoteAddress
    }

    /// Whether a close frame was sent or received, or the channel is gone. On the event loop.
    public var isClosing: Bool {
        self.eventLoop.preconditionInEventLoop()
        return self.state.isClosing
    }

    /// Small reads while idle; grows for bursts and shrinks back. A channel keeps its last
    /// read buffer, so a server should set this on its connections before their first read
    /// (the upgrade request), not only here.
    public static let readAllocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65_536)

    // MARK: Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        precondition(context.eventLoop === self.eventLoop, "ServerWebSocket added to a channel of another event loop")
        self.context = context
        if let options = context.channel.syncOptions {
            // Small reads while idle; the allocator grows for bursts and shrinks back.
            try? options.setOption(.recvAllocator, value: Self.readAllocator)
            try? options.setOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 64 * 1024))
        }
        if context.channel.isActive {
            self.open(context: context)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.finish()
        self.context = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.open(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.finish()
        context.fireChannelInactive()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.slowConsumer.writabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    private func open(context: ChannelHandlerContext) {
        guard !self.didOpen, let delegate = self.delegate else { return }
        self.didOpen = true
        self.slowConsumer.writabilityChanged(isWritable: context.channel.isWritable)
        if let interval = self.options.pingInterval {
            self.arm(in: interval)
        }
        delegate.webSocketDidOpen(self)
    }

    /// The channel is gone or the handler removed: tell the delegate once, then forget it.
    private func finish() {
        self.state.closed()
        self.disarm()
        guard let delegate = self.delegate else { return }
        self.delegate = nil
        if self.didOpen {
            delegate.webSocketDidClose(self)
        }
    }
}
