import FleetCore
import FleetHTTP
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket

/// The node's HTTP server: WebSocket upgrades on `/` (the native protocol) and plain HTTP
/// for the rest (`/healthz`).
struct NodeServer: Sendable {
    let service: NodeService

    func run(onListening: @escaping @Sendable (Int) async -> Void) async throws {
        let configuration = service.configuration
        let router = Router()
        router.get("/healthz") { _, _ in "ok\n" }

        let webSocketRouter = Router(context: NodeRequestContext.self)
        webSocketRouter.ws("/") { _, _ in
            .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            try await NativeConnection(service: service, channel: context.requestContext.channel)
                .run(inbound: inbound, outbound: outbound)
        }

        let logger = service.logger
        let application = Application(
            router: router,
            server: .http1WebSocketUpgrade(
                webSocketRouter: webSocketRouter,
                configuration: .init(ws: .init(maxFrameSize: configuration.maxMessageSize, autoPing: .disabled))
            ),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "wscenter-node"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                service.listening(on: port)
                logger.info("node listening", metadata: ["host": "\(configuration.host)", "port": "\(port)"])
                await onListening(port)
            },
            logger: frameworkLogger(logger)
        )
        try await runUntilCancelled(application, logger: logger)
    }
}


/// The request context of the node's WebSocket routes: it keeps the connection's channel,
/// so that a client which stops reading can be cut off at once.
struct NodeRequestContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<Self>
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        channel = source.channel
    }
}

/// One native-protocol WebSocket connection: `{"cmd":"open","_id":...}` first, `ping` →
/// `{"cmd":"pong","_id":...}`, and whatever the API sends, in order.
struct NativeConnection: Sendable {
    let service: NodeService
    let channel: any Channel

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let connectionID = ConnectionID.make()
        let logger = service.logger
        let channel = channel
        // A client that lets `outboxLimit` messages pile up is not reading: neither more
        // messages nor a close frame would reach it, so its TCP connection is closed.
        let outbox = Outbox(limit: service.configuration.outboxLimit) {
            logger.notice("closing a connection that does not read its messages", metadata: ["_id": "\(connectionID)"])
            channel.close(promise: nil)
        }
        let hub = service.hub
        let greeting = ByteBuffer(string: #"{"cmd":"open","_id":"\#(connectionID)"}"#)
        let pong = ByteBuffer(string: #"{"cmd":"pong","_id":"\#(connectionID)"}"#)
        hub.open(connectionID, outbox: outbox, greeting: greeting)
        defer { hub.close(connectionID) }

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await message in outbox.messages {
                    try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: .text, data: message)))
                }
            }
            defer { group.cancelAll() }
            for try await message in inbound.messages(maxSize: service.configuration.maxMessageSize) {
                guard case .text(let text) = message else { continue }
                if text == "ping" {
                    hub.send(pong, to: connectionID)
                }
            }
        }
    }
}

/// Connection ids: 32 random hex digits, unique across the fleet and over restarts.
enum ConnectionID {
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}
