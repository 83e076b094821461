import NIOCore
import NIOWebSocket

/// Rate-limits a client's WebSocket control frames (ping, and unsolicited pong), which the
/// WebSocket layer answers by itself and no protocol sees: without a limit, a flood of pings
/// makes the node write a pong for each. A ping over the limit is dropped (no pong); a client
/// that keeps on past the limit is closed with 1008. It sits after the frame decoder.
final class ControlFrameLimiter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// Control frames per second a client may send (bursts up to as many).
    static let defaultRate: Double = 10

    private var limiter: RateLimiter
    private let start = ContinuousClock.now
    private var closing = false

    init(rate: Double = ControlFrameLimiter.defaultRate) {
        limiter = RateLimiter(rate: rate, now: 0)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard frame.opcode == .ping || frame.opcode == .pong else {
            context.fireChannelRead(data)
            return
        }
        guard !closing else { return }
        let elapsed = ContinuousClock.now - start
        let now = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        switch limiter.admit(at: now) {
        case .allowed:
            context.fireChannelRead(data)
        case .limited:
            break  // dropped: no pong for it
        case .abusive:
            closing = true
            var reason = context.channel.allocator.buffer(capacity: 64)
            reason.write(webSocketErrorCode: .policyViolation)
            reason.writeString("too many ping frames")
            let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: reason)
            context.writeAndFlush(wrapOutboundOut(close)).whenComplete { _ in context.close(promise: nil) }
        }
    }
}

@available(*, unavailable)
extension ControlFrameLimiter: Sendable {}

extension ControlFrameLimiter {
    /// Puts a limiter right after the WebSocket frame decoder of an upgraded `channel`.
    static func install(on channel: any Channel) async throws {
        try await channel.eventLoop.submit {
            let operations = channel.pipeline.syncOperations
            let decoder = try operations.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
            try operations.addHandler(ControlFrameLimiter(), position: .after(decoder))
        }.get()
    }
}
