import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A real HTTP server in the test process that records the requests it gets (webhooks) and
/// answers each as told: with a status, or never (to stand for a receiver that hangs).
final class WebhookReceiver: Sendable {
    struct Received: Sendable {
        let path: String
        /// Header names lowercased.
        let headers: [String: String]
        let body: String
    }

    enum Answer: Sendable {
        case status(Int)
        case never
        /// A 200 head announcing a large body, then a byte every 100 ms, never finished.
        case drip
    }

    private final class State: Sendable {
        let value = Mutex<(received: [Received], answers: [Answer], otherwise: Answer)>(([], [], .status(200)))
    }

    private let state = State()
    private let channel: any Channel
    let port: Int

    /// - Parameters:
    ///   - answers: how to answer the first requests, in order;
    ///   - otherwise: how to answer the rest.
    init(answers: [Answer] = [], otherwise: Answer = .status(200)) async throws {
        let state = self.state
        state.value.withLock { $0.answers = answers; $0.otherwise = otherwise }
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress?.port ?? 0
    }

    var url: String { "http://127.0.0.1:\(port)/hooks" }

    var received: [Received] { state.value.withLock { $0.received } }

    /// From now on, answer every request so.
    func answerFromNowOn(_ answer: Answer) {
        state.value.withLock { $0.answers = []; $0.otherwise = answer }
    }

    func close() async {
        try? await channel.close()
    }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let state: State
        var head: HTTPRequestHead?
        var body = ""

        init(state: State) {
            self.state = state
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body = ""
            case .body(let buffer):
                body += String(buffer: buffer)
            case .end:
                guard let head else { return }
                let headers = Dictionary(head.headers.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
                let answer = state.value.withLock { state -> Answer in
                    state.received.append(Received(path: head.uri, headers: headers, body: body))
                    return state.answers.isEmpty ? state.otherwise : state.answers.removeFirst()
                }
                if case .drip = answer {
                    var dripHeaders = HTTPHeaders()
                    dripHeaders.add(name: "Content-Length", value: "1000000")
                    context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: dripHeaders))), promise: nil)
                    let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                    context.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { task in
                        let (handler, context) = bound.value
                        guard context.channel.isActive else { return task.cancel() }
                        context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "x")))), promise: nil)
                    }
                    return
                }
                guard case .status(let code) = answer else { return }
                var responseHeaders = HTTPHeaders()
                responseHeaders.add(name: "Content-Length", value: "2")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .init(statusCode: code), headers: responseHeaders))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "ok")))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
