import NIOCore
import NIOPosix

/// A TCP server that answers every read with fixed bytes, for the failures a real Redis
/// does not produce: garbage, a reply cut short by a close, silence.
final class FakeRedisServer: Sendable {
    enum Behaviour: Sendable {
        /// Never answers.
        case silent
        /// Answers each read with `bytes`, then closes when `close` is set.
        case answer(String, close: Bool)
    }

    private let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }
    var url: String { "redis://127.0.0.1:\(port)" }

    private init(channel: any Channel) {
        self.channel = channel
    }

    static func start(_ behaviour: Behaviour) async throws -> FakeRedisServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ScriptedHandler(behaviour: behaviour))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return FakeRedisServer(channel: channel)
    }

    func stop() async {
        try? await channel.close()
    }
}

private final class ScriptedHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let behaviour: FakeRedisServer.Behaviour

    init(behaviour: FakeRedisServer.Behaviour) {
        self.behaviour = behaviour
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .answer(let text, let close) = behaviour else { return }
        let written = context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)))
        if close {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            written.whenComplete { _ in loopBound.value.close(promise: nil) }
        }
    }
}
