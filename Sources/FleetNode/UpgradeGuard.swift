import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// Wraps the node's HTTP/WebSocket child channel with a check of every WebSocket upgrade
/// request before the upgrader sees it: a refused upgrade is answered with its status (401
/// for credentials, 503 while draining) and a reason, and no socket ever opens. (The
/// upgrader alone can only answer 400.)
struct UpgradeGuardChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    /// Why to refuse an upgrade request, or nil to let it through.
    let refusal: @Sendable (HTTPRequestHead) -> UpgradeRefusal?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            let decoder = try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try operations.addHandler(UpgradeGuardHandler(refusal: refusal), position: .after(decoder))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Sits right after the HTTP request decoder for a connection's first request: lets it
/// through, unless it is a WebSocket upgrade request that `refusal` turns down, which it
/// answers with the refusal's status and closes.
final class UpgradeGuardHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let refusal: @Sendable (HTTPRequestHead) -> UpgradeRefusal?
    private var refusing = false

    init(refusal: @escaping @Sendable (HTTPRequestHead) -> UpgradeRefusal?) {
        self.refusal = refusal
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .head(let head) = part, UpgradeRequest.asksForWebSocket(head), let refused = refusal(head)
        {
            let reason = refused.reason
            refusing = true
            var body = context.channel.allocator.buffer(capacity: reason.utf8.count + 1)
            body.writeString(reason + "\n")
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
            headers.add(name: "Content-Length", value: String(body.readableBytes))
            headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: refused.status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
            return
        }
        guard !refusing else { return }  // the rest of a refused request
        context.fireChannelRead(data)
        if case .head = part {
            // Only a connection's first request can be an upgrade (the upgrader looks at no
            // other), and after an upgrade the bytes are WebSocket frames: step aside.
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }
}

/// An upgrade request turned down: its status and the reason in the body.
struct UpgradeRefusal: Sendable {
    var status: HTTPResponseStatus
    var reason: String
}
