import BrokerCore
import ServiceLifecycle

extension Broker {
    /// Waits until the broker is connected (at once when it is): a role's service starts in
    /// the same `ServiceGroup` as the broker, at the same moment.
    /// - Returns: false when the calling task is cancelled or shut down gracefully first.
    package func waitUntilConnected() async -> Bool {
        let events = events()
        return await cancelWhenGracefulShutdown {
            for await event in events where event == .connected || event == .reconnected { return true }
            return false
        }
    }
}
