import BrokerCore
import FleetCore
import Observability

/// Answers an event the gateway runs itself (routing ``FleetEvent/Routing/gateway``): its
/// results keyed by what they concern (a webhook source, a Pusher app, this gateway).
/// Throwing an ``APIError`` refuses the whole request with it; any other error is the
/// broker's (503).
package typealias GatewayEventAnswer = @Sendable (EventArguments) async throws -> [String: OperationResult]

extension GatewayRoutes {
    /// No events of its own by default.
    package func gatewayEvents(gateway: GatewayService) -> [FleetEvent: GatewayEventAnswer] { [:] }
}

extension GatewayService {
    /// The events this gateway answers itself: its own (`getBroker`), the webhook dead
    /// letters when configured, and those of its other APIs' routes.
    func gatewayEvents() -> [FleetEvent: GatewayEventAnswer] {
        var answers: [FleetEvent: GatewayEventAnswer] = [.getBroker: { _ in await self.brokerStatus() }]
        if let deadLetters = configuration.webhookDeadLetters {
            answers[.getWebhookDeadLetters] = { _ in try await deadLetters() }
        }
        for route in routes {
            answers.merge(route.gatewayEvents(gateway: self)) { own, _ in own }
        }
        return answers
    }

    /// `getBroker`: what kind of broker, whether its links are up, and how long a command
    /// takes now (the readiness probe's, bounded by 1 s), keyed by this gateway's id.
    func brokerStatus() async -> [String: OperationResult] {
        let key = keys.nodes
        let start = ContinuousClock.now
        let probe = await ReadinessCheck.broker { try await self.broker.execute(.ttl(key: key)) }
        let took = ContinuousClock.now - start
        var fields: [String: JSONValue] = ["kind": .string(configuration.brokerKind)]
        if let address = configuration.brokerAddress { fields["address"] = .string(address) }
        switch probe {
        case .success:
            let milliseconds = Double(took.components.seconds) * 1000 + Double(took.components.attoseconds) / 1e15
            fields["connected"] = .bool(brokerLinkIsUp)
            fields["latency_ms"] = .number(String((milliseconds * 100).rounded() / 100))
            if let down = brokerLinkDownReason { fields["error"] = .string(down) }
        case .failure(let failure):
            fields["connected"] = .bool(false)
            fields["latency_ms"] = .null
            fields["error"] = .string(failure.description)
        }
        return [configuration.gatewayID: .object(.object(fields))]
    }
}
