import FleetHTTP
import ServiceLifecycle

/// The gateway's HTTP server, a service listed after its gateway in the group (see
/// ``GatewayService/services(onListening:)``): it starts listening once the gateway can run
/// calls, and on a graceful shutdown it stops first — `/readyz` answers 503, the listener
/// closes, the requests in flight finish — while the gateway still receives their replies.
struct GatewayServer: Service {
    let gateway: GatewayService
    let onListening: @Sendable (Int) async -> Void

    func run() async throws {
        // The group starts the gateway and its server together; the server waits for the
        // gateway's call runner (and gives up if it is shut down or cancelled first).
        guard let runner = await gateway.lifecycle.waitUntilRunning() else { return }
        let application = gateway.application(runner, onListening: onListening)
        let gateway = self.gateway
        try await withGracefulShutdownHandler {
            try await application.run()
        } onGracefulShutdown: {
            // Registered before the server's own handler, which closes the listener: readiness
            // turns 503 first.
            gateway.drain()
        }
    }
}
