import FleetCore
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

        let webSocketRouter = Router(context: BasicWebSocketRequestContext.self)
        webSocketRouter.ws("/") { _, _ in
            .upgrade([:])
        } onUpgrade: { inbound, outbound, _ in
            try await NativeConnection(service: service).run(inbound: inbound, outbound: outbound)
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
                logger.info("node listening", metadata: ["host": "\(configuration.host)", "port": "\(port)"])
                await onListening(port)
            },
            logger: quiet(logger)
        )
        try await application.run()
    }
}

/// Hummingbird logs every request at info; keep its own logger one level down.
func quiet(_ logger: Logger) -> Logger {
    var logger = logger
    if logger.logLevel < .notice { logger.logLevel = .notice }
    return logger
}

/// One native-protocol WebSocket connection: `{"cmd":"open","_id":...}` first, `ping` →
/// `{"cmd":"pong","_id":...}`, and whatever the API sends, in order.
struct NativeConnection: Sendable {
    let service: NodeService

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let connectionID = ConnectionID.make()
        let outbox = Outbox(limit: service.configuration.outboxLimit)
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
                if outbox.overflowed {
                    service.logger.notice("closing a connection that does not read its messages", metadata: ["_id": "\(connectionID)"])
                    try await outbound.close(.policyViolation, reason: "too slow: outbound queue full")
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
