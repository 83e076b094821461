import FleetCore
import FleetHTTP
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import WebSocketCore
import WebUI
import Observability
import ServiceLifecycle

/// The node's HTTP server: the WebSocket upgrades of its client protocols, and plain HTTP
/// for the rest (`/healthz`, `/readyz`, `/metrics`, and `/client.js` for web pages).
///
/// A service listed before its node in the group (see ``NodeService/services(onListening:)``):
/// it starts listening once the node has joined the fleet, and it is stopped after the node
/// has drained, so that `/readyz` answers 503 and upgrades are refused all through the drain.
struct NodeServer: Service {
    let node: NodeService
    private let application: any Service

    init(node service: NodeService, onListening: @escaping @Sendable (Int) async -> Void) {
        self.node = service
        let configuration = service.configuration
        let router = Router()
        OperationsRoutes(telemetry: service.telemetry, readiness: { await service.readiness() }).add(to: router)
        BrowserRoutes.addClient(to: router)

        let logger = service.logger
        // A ping every period; one left unanswered for a whole period closes the connection
        // with 1001. The period is short enough that a silent client is gone within the timeout.
        let pingPeriod = min(configuration.webSocketPingInterval, configuration.webSocketTimeout / 2)
        let options = WebSocketOptions(
            maxMessageSize: configuration.maxMessageSize,
            pingInterval: TimeAmount(pingPeriod),
            closeTimeout: .seconds(5),
            maxQueuedBytes: configuration.outboxMaxBytes,
            maxQueuedMessages: configuration.outboxLimit,
            // RFC 6455 8.1: text that is not UTF-8 fails the connection (1007), and so does a
            // close reason that is not (1002).
            validateUTF8: true
        )
        // HTTP/1 with WebSocket upgrades, each upgrade request checked by the gate first, and
        // every request bounded by the read timeout.
        let gate = service.upgradeGate
        let protocols = service.protocols
        let guarded = HTTPServerBuilder { responder in
            hardenedServer(
                NodeUpgradeChannel(responder: responder, protocols: protocols, node: service, options: options),
                readTimeout: configuration.httpReadTimeout, certificates: configuration.tls
            ) { _ in [UpgradeGuardHandler(gate: gate)] }
        }
        self.application = Application(
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
    }

    func run() async throws {
        // The group starts the node and its server together; the server waits for the node
        // (which may also stop, or the group be cancelled, before it has joined the fleet).
        guard await node.lifecycle.waitUntilRunning() != nil else { return }
        do {
            try await application.run()
        } catch {
            await node.closeRemainingSockets()
            throw error
        }
        await node.closeRemainingSockets()
    }
}

/// Connection ids: 32 random hex digits, unique across the fleet and over restarts.
package enum ConnectionID {
    package static func make() -> String {
        RandomHex.make(words: 2)
    }
}

