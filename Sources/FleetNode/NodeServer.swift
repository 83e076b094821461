import FleetCore
import FleetHTTP
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Observability

/// The node's HTTP server: the WebSocket upgrades of its client protocols, and plain HTTP
/// for the rest (`/healthz`, `/readyz`, `/metrics`).
struct NodeServer: Sendable {
    let service: NodeService
    let protocols: [any ClientProtocol]

    func run(onListening: @escaping @Sendable (Int) async -> Void) async throws {
        let configuration = service.configuration
        let router = Router()
        OperationsRoutes(telemetry: service.telemetry, readiness: { await service.readiness() }).add(to: router)

        let webSocketRouter = Router(context: NodeRequestContext.self)
        for clientProtocol in protocols {
            // The router's own decision checks the request it routed, whatever the guard saw.
            webSocketRouter.ws(clientProtocol.path) { request, _ in
                clientProtocol.refusal(of: UpgradeRequest(request)) == nil ? .upgrade([:]) : .dontUpgrade
            } onUpgrade: { inbound, outbound, context in
                try await ControlFrameLimiter.install(on: context.requestContext.channel)
                let socket = ClientSocket(
                    inbound: inbound, outbound: outbound,
                    channel: context.requestContext.channel, request: context.request,
                    meter: service.meter(for: clientProtocol)
                )
                try await clientProtocol.serve(socket, on: service)
            }
        }

        let logger = service.logger
        // A ping every period; one left unanswered for a whole period closes the connection
        // with 1001. The period is short enough that a silent client is gone within the timeout.
        let pingPeriod = min(configuration.webSocketPingInterval, configuration.webSocketTimeout / 2)
        let webSocketResponder = webSocketRouter.buildResponder()
        let upgradeConfiguration = HTTP1WebSocketUpgradeChannel.Configuration(ws: .init(
            maxFrameSize: configuration.maxMessageSize,
            autoPing: .enabled(timePeriod: pingPeriod),
            closeTimeout: .seconds(5),
            // RFC 6455 8.1: text that is not UTF-8 fails the connection (1007), and so does a
            // close reason that is not (1002). Without this the library hands the protocols
            // text with U+FFFD in place of the bad bytes, and answers such a close with 1000.
            validateUTF8: true
        ))
        // HTTP/1 with WebSocket upgrades, each upgrade request checked by the gate first, and
        // every request bounded by the read timeout.
        let gate = service.upgradeGate
        let guarded = HTTPServerBuilder { responder in
            hardenedServer(
                HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSocketResponder, configuration: upgradeConfiguration),
                readTimeout: configuration.httpReadTimeout, certificates: configuration.tls
            ) { _ in [UpgradeGuardHandler(gate: gate)] }
        }
        let application = Application(
            router: router,
            server: guarded,
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

/// Connection ids: 32 random hex digits, unique across the fleet and over restarts.
public enum ConnectionID {
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}
